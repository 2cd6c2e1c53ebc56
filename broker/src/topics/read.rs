//! Readers' view of the topic log: the node's own applied state, never uncommitted data.
//! Range reads touch disk on a cache miss, so callers on the async runtime go through
//! [`TopicStore::blocking`].

use std::sync::Arc;

use tokio::sync::watch;

use super::apply::decode;
use super::deleter::Deleter;
use super::keys;
use super::model::{Message, MessageRecord, TopicMeta};
use super::notify::Notifier;
use crate::Result;

#[derive(Clone)]
pub struct TopicStore {
    tree: sled::Tree,
    notifier: Arc<Notifier>,
    deleter: Deleter,
}

impl TopicStore {
    pub fn open(db: &sled::Db) -> Result<TopicStore> {
        let tree = db.open_tree("sm")?;
        let deleter = Deleter::start(tree.clone());
        deleter.queue_leftovers(&tree)?;
        Ok(TopicStore {
            tree,
            notifier: Arc::new(Notifier::default()),
            deleter,
        })
    }

    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    pub fn deleter(&self) -> &Deleter {
        &self.deleter
    }

    /// Run a read on the blocking pool.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&TopicStore) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(&this))
            .await
            .map_err(|e| crate::Error::Raft(format!("read task failed: {e}")))?
    }

    pub fn get<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        self.tree.get(key)?.map(|v| decode(&v)).transpose()
    }

    pub fn topic(&self, name: &str) -> Result<Option<TopicMeta>> {
        self.get(&keys::topic(name))
    }

    /// Every topic, by name.
    pub fn topics(&self) -> Result<Vec<(String, TopicMeta)>> {
        let mut out = Vec::new();
        for kv in self.tree.scan_prefix(keys::TOPIC_PREFIX) {
            let (k, v) = kv?;
            if let Some(name) = keys::topic_name(&k) {
                out.push((name.to_string(), decode(&v)?));
            }
        }
        Ok(out)
    }

    pub fn record(&self, meta: &TopicMeta, offset: u64) -> Result<Option<MessageRecord>> {
        self.get(&keys::message(meta.id, offset))
    }

    /// Messages from `from` (clamped to the log start) up to `limit` of them and about `max_bytes`
    /// of values; the first message is returned even when it alone exceeds `max_bytes`.
    pub fn read(
        &self,
        meta: &TopicMeta,
        from: u64,
        limit: usize,
        max_bytes: u64,
    ) -> Result<Vec<Message>> {
        let from = from.max(meta.start);
        if from >= meta.next || limit == 0 {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut bytes = 0u64;
        for kv in self
            .tree
            .range(keys::message(meta.id, from)..keys::message(meta.id, meta.next))
        {
            let (k, v) = kv?;
            let Some((_, offset)) = keys::parse_message(&k) else {
                continue;
            };
            let record: MessageRecord = decode(&v)?;
            bytes += record.size();
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(Message { offset, record });
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    pub fn consumer_offset(&self, topic: &str, consumer: &str) -> Result<Option<u64>> {
        self.get(&keys::consumer(topic, consumer))
    }

    pub fn cluster_id(&self) -> Result<Option<String>> {
        self.get(keys::CLUSTER_ID)
    }

    pub fn subscribe(&self, topic: &str) -> watch::Receiver<u64> {
        self.notifier.subscribe(topic)
    }

    /// Bytes sled uses on disk (all trees).
    pub fn size_on_disk(&self, db: &sled::Db) -> u64 {
        db.size_on_disk().unwrap_or(0)
    }
}

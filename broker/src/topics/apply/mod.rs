//! Applying committed ops: one method per command (in the files beside this one), dispatched by
//! [`Applier::apply`]. Metadata reads see this call's own writes (a local overlay over the
//! store); messages are encoded into per-topic buffers and appended to the segment files once per
//! topic per call (or before an op that reads them back). [`Applier::finish`] returns the changes
//! for [`TopicStore::publish`] to make visible after the data is written.

mod cluster;
mod consumer;
mod publish;
#[cfg(test)]
mod tests;
mod topic;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::codec::{decode, encode};
use super::keys;
use super::model::TopicMeta;
use super::store::{Applied, TopicStore};
use crate::command::{Op, OpResult};

pub use publish::MAX_PRODUCERS;

type Res<T> = crate::Result<T>;

/// Frames of one topic not yet written: encoded bytes and (offset, position) of each frame.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    frames: Vec<(u64, usize)>,
}

/// Where an op sits in the log: the entry's index and the leader's clock when it proposed it.
#[derive(Debug, Clone, Copy)]
pub struct At {
    pub index: u64,
    pub ts_ms: u64,
}

pub struct Applier<'a> {
    store: &'a TopicStore,
    overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Topic metas this call changed (written to the overlay by `finish`).
    metas: HashMap<String, Option<TopicMeta>>,
    pending: HashMap<String, Pending>,
    touched: HashSet<String>,
    trims: Vec<(u64, u64)>,
    deleted_topics: Vec<u64>,
}

impl<'a> Applier<'a> {
    pub fn new(store: &'a TopicStore) -> Self {
        Applier {
            store,
            overlay: BTreeMap::new(),
            metas: HashMap::new(),
            pending: HashMap::new(),
            touched: HashSet::new(),
            trims: Vec::new(),
            deleted_topics: Vec::new(),
        }
    }

    /// Apply one op; a refusal ([`crate::command::OpError`]) is a result, an `Err` a storage failure.
    pub fn apply(&mut self, op: Op, at: At) -> Res<OpResult> {
        Ok(match op {
            Op::Publish(c) => self.publish(c, at)?.into(),
            Op::CommitOffset(c) => self.commit_offset(c)?.into(),
            Op::ConsumeNext(c) => self.consume_next(c)?.into(),
            Op::AdvanceConsumer(c) => self.advance_consumer(c)?.into(),
            Op::DeleteConsumer(c) => self.delete_consumer(c)?.into(),
            Op::PutTopic(c) => self.put_topic(c, at)?.into(),
            Op::DeleteTopic(c) => self.delete_topic(c)?.into(),
            Op::Trim(c) => self.trim(c)?.into(),
            Op::SetClusterId(c) => self.set_cluster_id(c)?.into(),
            Op::AssignNodeId(c) => self.assign_node_id(c)?.into(),
        })
    }

    fn get_raw(&self, key: &[u8]) -> Res<Option<Vec<u8>>> {
        match self.overlay.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.store.get_raw(key),
        }
    }

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Res<Option<T>> {
        self.get_raw(key)?.map(|b| decode(&b)).transpose()
    }

    fn put<T: Serialize>(&mut self, key: &[u8], v: &T) {
        self.overlay.insert(key.to_vec(), Some(encode(v)));
    }

    fn remove(&mut self, key: &[u8]) {
        self.overlay.insert(key.to_vec(), None);
    }

    /// Keys under `prefix`, as the store and this call together see them.
    fn keys_with_prefix(&self, prefix: &[u8]) -> Res<Vec<Vec<u8>>> {
        let mut keys: BTreeMap<Vec<u8>, bool> = self
            .store
            .scan_prefix(prefix)?
            .into_iter()
            .map(|(k, _)| (k, true))
            .collect();
        for (k, v) in self
            .overlay
            .range(prefix.to_vec()..keys::prefix_end(prefix))
        {
            keys.insert(k.clone(), v.is_some());
        }
        Ok(keys
            .into_iter()
            .filter(|(_, live)| *live)
            .map(|(k, _)| k)
            .collect())
    }

    /// A topic's metadata as this call sees it.
    pub fn topic(&mut self, name: &str) -> Res<Option<TopicMeta>> {
        if let Some(m) = self.metas.get(name) {
            return Ok(m.clone());
        }
        let m: Option<TopicMeta> = self.get(&keys::topic(name))?;
        self.metas.insert(name.to_string(), m.clone());
        Ok(m)
    }

    fn set_topic(&mut self, name: &str, meta: Option<TopicMeta>) {
        self.metas.insert(name.to_string(), meta);
    }

    /// Write a topic's buffered frames to its segment files.
    fn flush_topic(&mut self, name: &str) -> Res<()> {
        let Some(p) = self.pending.remove(name) else {
            return Ok(());
        };
        let Some(Some(mut meta)) = self.metas.get(name).cloned() else {
            return Ok(());
        };
        self.store
            .logs()
            .append(&mut meta, &p.bytes, &p.frames)
            .map_err(|e| crate::Error::io("append to a segment", e))?;
        self.set_topic(name, Some(meta));
        Ok(())
    }

    /// Write all buffered frames and hand over the metadata changes.
    pub fn finish(mut self) -> Res<Applied> {
        let names: Vec<String> = self.pending.keys().cloned().collect();
        for n in names {
            self.flush_topic(&n)?;
        }
        for (name, meta) in std::mem::take(&mut self.metas) {
            let key = keys::topic(&name);
            match meta {
                Some(m) => self.put(&key, &m),
                None => {
                    if self.store.get_raw(&key)?.is_some() || self.overlay.contains_key(&key) {
                        self.remove(&key)
                    }
                }
            }
        }
        Ok(Applied {
            changes: self.overlay,
            touched: self.touched,
            trims: self.trims,
            deleted_topics: self.deleted_topics,
        })
    }
}

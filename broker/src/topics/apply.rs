//! Applying committed ops to the state-machine tree. Everything one `apply` call writes goes into
//! an overlay first (later ops read earlier ops' writes) and then into sled as one atomic batch
//! together with the new last-applied log id, so a crash never leaves half an entry applied.

use std::collections::{BTreeMap, HashSet};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::keys;
use super::model::{MessageRecord, ProducerState, TopicMeta};
use crate::raft::command::{Op, OpError, OpResult, Publish};

/// Most (topic, producer) pairs remembered for exactly-once; the least recently used are forgotten.
pub const MAX_PRODUCERS: u64 = 50_000;

/// Reads see this apply call's own writes; [`Applier::finish`] turns them into one batch.
pub struct Applier<'a> {
    tree: &'a sled::Tree,
    overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Topics whose high watermark moved (readers waiting on them get woken).
    pub touched: HashSet<String>,
    /// Ranges of `d/` keys no longer reachable, deleted physically in the background.
    pub garbage: Vec<(Vec<u8>, Vec<u8>)>,
}

type Res<T> = crate::Result<T>;

/// What one apply call produced.
pub struct Applied {
    /// Everything written, to apply atomically.
    pub batch: sled::Batch,
    pub touched: HashSet<String>,
    pub garbage: Vec<(Vec<u8>, Vec<u8>)>,
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    bincode::serialize(v).expect("bincode encoding of plain data cannot fail")
}

pub(crate) fn decode<T: DeserializeOwned>(b: &[u8]) -> Res<T> {
    bincode::deserialize(b).map_err(|e| crate::Error::decode("state-machine record", e))
}

impl<'a> Applier<'a> {
    pub fn new(tree: &'a sled::Tree) -> Self {
        Applier {
            tree,
            overlay: BTreeMap::new(),
            touched: HashSet::new(),
            garbage: Vec::new(),
        }
    }

    fn get_raw(&self, key: &[u8]) -> Res<Option<Vec<u8>>> {
        match self.overlay.get(key) {
            Some(v) => Ok(v.clone()),
            None => Ok(self.tree.get(key)?.map(|v| v.to_vec())),
        }
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Res<Option<T>> {
        self.get_raw(key)?.map(|b| decode(&b)).transpose()
    }

    pub fn put<T: Serialize>(&mut self, key: &[u8], v: &T) {
        self.overlay.insert(key.to_vec(), Some(encode(v)));
    }

    pub fn remove(&mut self, key: &[u8]) {
        self.overlay.insert(key.to_vec(), None);
    }

    /// Keys under `prefix`, as the overlay and the tree together see them.
    fn keys_with_prefix(&self, prefix: &[u8]) -> Res<Vec<Vec<u8>>> {
        let mut keys: BTreeMap<Vec<u8>, bool> = BTreeMap::new();
        for kv in self.tree.scan_prefix(prefix) {
            keys.insert(kv?.0.to_vec(), true);
        }
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

    /// The atomic batch of everything applied.
    pub fn finish(self) -> Applied {
        let mut batch = sled::Batch::default();
        for (k, v) in self.overlay {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        Applied {
            batch,
            touched: self.touched,
            garbage: self.garbage,
        }
    }

    /// Apply one op of the entry at `index`, proposed at `ts_ms`.
    pub fn apply(&mut self, op: Op, index: u64, ts_ms: u64) -> Res<OpResult> {
        Ok(match op {
            Op::Publish(p) => self.publish(p, index, ts_ms)?,
            Op::CommitOffset {
                consumer,
                topic,
                offset,
            } => match self.topic(&topic)? {
                None => OpResult::Error(OpError::TopicNotFound { topic }),
                Some(m) if offset > m.next => OpResult::Error(OpError::OffsetOutOfRange {
                    offset,
                    log_start_offset: m.start,
                    high_watermark: m.next,
                }),
                Some(_) => {
                    self.put(&keys::consumer(&topic, &consumer), &offset);
                    OpResult::Committed { offset }
                }
            },
            Op::ConsumeNext {
                consumer,
                topic,
                limit,
                max_bytes,
            } => self.consume_next(consumer, topic, limit, max_bytes)?,
            Op::PutTopic {
                topic,
                retention,
                create_only,
            } => match self.topic(&topic)? {
                Some(_) if create_only => OpResult::Error(OpError::TopicExists { topic }),
                Some(mut m) => {
                    if let Some(r) = retention {
                        m.retention = r;
                        self.put(&keys::topic(&topic), &m);
                    }
                    OpResult::Topic { created: false }
                }
                None => {
                    self.create_topic(&topic, retention.unwrap_or_default(), ts_ms)?;
                    OpResult::Topic { created: true }
                }
            },
            Op::DeleteTopic { topic } => match self.topic(&topic)? {
                None => OpResult::Deleted { existed: false },
                Some(m) => {
                    self.remove(&keys::topic(&topic));
                    for k in self.keys_with_prefix(&keys::consumer_topic_prefix(&topic))? {
                        self.remove(&k);
                    }
                    self.garbage.push((
                        keys::message(m.id, 0).to_vec(),
                        keys::message(m.id, u64::MAX).to_vec(),
                    ));
                    self.touched.insert(topic);
                    OpResult::Deleted { existed: true }
                }
            },
            Op::Trim {
                topic,
                topic_id,
                new_start,
            } => match self.topic(&topic)? {
                Some(mut m) if m.id == topic_id => {
                    let new_start = new_start.min(m.next);
                    if new_start > m.start {
                        m.start_bytes = if new_start == m.next {
                            m.appended_bytes
                        } else {
                            self.get::<MessageRecord>(&keys::message(m.id, new_start))?
                                .map_or(m.appended_bytes, |r| r.cum_bytes)
                        };
                        self.garbage.push((
                            keys::message(m.id, m.start).to_vec(),
                            keys::message(m.id, new_start).to_vec(),
                        ));
                        m.start = new_start;
                        self.put(&keys::topic(&topic), &m);
                        self.touched.insert(topic);
                    }
                    OpResult::Trimmed {
                        log_start_offset: m.start,
                    }
                }
                // Deleted (or deleted and recreated) since the leader decided: nothing to trim.
                _ => OpResult::Trimmed {
                    log_start_offset: 0,
                },
            },
            Op::SetClusterId { cluster_id } => match self.get::<String>(keys::CLUSTER_ID)? {
                Some(existing) => OpResult::ClusterId {
                    cluster_id: existing,
                },
                None => {
                    self.put(keys::CLUSTER_ID, &cluster_id);
                    OpResult::ClusterId { cluster_id }
                }
            },
            Op::AssignNodeId { raft_addr } => {
                let key = keys::node(&raft_addr);
                match self.get::<u64>(&key)? {
                    Some(id) => OpResult::NodeId { node_id: id },
                    None => {
                        let mut max = 0;
                        for k in self.keys_with_prefix(keys::NODE_PREFIX)? {
                            max = max.max(self.get::<u64>(&k)?.unwrap_or(0));
                        }
                        self.put(&key, &(max + 1));
                        OpResult::NodeId { node_id: max + 1 }
                    }
                }
            }
        })
    }

    /// Record the id a node already has (the bootstrap node, or one the operator numbered).
    pub fn note_node_id(&mut self, raft_addr: &str, id: u64) -> Res<()> {
        let key = keys::node(raft_addr);
        if self.get::<u64>(&key)?.is_none() {
            self.put(&key, &id);
        }
        Ok(())
    }

    pub fn topic(&self, name: &str) -> Res<Option<TopicMeta>> {
        self.get(&keys::topic(name))
    }

    fn create_topic(
        &mut self,
        name: &str,
        retention: crate::raft::command::Retention,
        ts_ms: u64,
    ) -> Res<TopicMeta> {
        let id: u64 = self.get(keys::NEXT_TOPIC_ID)?.unwrap_or(1);
        self.put(keys::NEXT_TOPIC_ID, &(id + 1));
        let meta = TopicMeta {
            id,
            created_ms: ts_ms,
            retention,
            ..Default::default()
        };
        self.put(&keys::topic(name), &meta);
        Ok(meta)
    }

    fn publish(&mut self, p: Publish, index: u64, ts_ms: u64) -> Res<OpResult> {
        let mut meta = match self.topic(&p.topic)? {
            Some(m) => m,
            None => self.create_topic(&p.topic, Default::default(), ts_ms)?,
        };
        let count = p.messages.len() as u64;
        let mut producer_state = None;
        if let Some(ps) = &p.producer {
            let key = keys::producer(meta.id, &ps.producer_id);
            let state: ProducerState = self.get(&key)?.unwrap_or_default();
            if let Some((base, count)) = state.find(ps.sequence) {
                return Ok(OpResult::Published {
                    base_offset: base,
                    count,
                    duplicate: true,
                });
            }
            if let Some(last) = state.last_sequence() {
                if ps.sequence < last {
                    return Ok(OpResult::Error(OpError::SequenceTooOld {
                        producer_id: ps.producer_id.clone(),
                        sequence: ps.sequence,
                        last,
                    }));
                }
            }
            producer_state = Some((key, state));
        }

        let base = meta.next;
        let ts = ts_ms.max(meta.last_ts_ms);
        for m in p.messages {
            let record = MessageRecord {
                ts_ms: ts,
                cum_bytes: meta.appended_bytes,
                publisher: p.publisher.clone(),
                key: m.key,
                headers: m.headers,
                value: m.value,
            };
            meta.appended_bytes += record.size();
            self.put(&keys::message(meta.id, meta.next), &record);
            meta.next += 1;
        }
        meta.last_ts_ms = ts;
        self.put(&keys::topic(&p.topic), &meta);
        self.touched.insert(p.topic);

        if let (Some(ps), Some((key, mut state))) = (p.producer, producer_state) {
            let is_new = state.recent.is_empty();
            if !is_new {
                self.remove(&keys::producer_order(
                    state.last_index,
                    meta.id,
                    &ps.producer_id,
                ));
            }
            state.record(ps.sequence, base, count, index);
            self.put(&key, &state);
            self.put(&keys::producer_order(index, meta.id, &ps.producer_id), &());
            if is_new {
                self.count_new_producer()?;
            }
        }
        Ok(OpResult::Published {
            base_offset: base,
            count,
            duplicate: false,
        })
    }

    /// Keep the number of remembered producers bounded, forgetting the least recently used.
    fn count_new_producer(&mut self) -> Res<()> {
        let n: u64 = self.get(keys::PRODUCER_COUNT)?.unwrap_or(0) + 1;
        if n <= MAX_PRODUCERS {
            self.put(keys::PRODUCER_COUNT, &n);
            return Ok(());
        }
        // The oldest entry in the tree is older than anything this call wrote (indexes only grow).
        let oldest = self
            .tree
            .scan_prefix(keys::PRODUCER_ORDER_PREFIX)
            .keys()
            .next()
            .transpose()?;
        match oldest
            .as_deref()
            .and_then(|k| keys::parse_producer_order(k).map(|p| (k.to_vec(), p)))
        {
            Some((order_key, (topic_id, producer_id))) if self.get_raw(&order_key)?.is_some() => {
                self.remove(&order_key);
                self.remove(&keys::producer(topic_id, &producer_id));
                self.put(keys::PRODUCER_COUNT, &(n - 1));
            }
            _ => self.put(keys::PRODUCER_COUNT, &n),
        }
        Ok(())
    }

    fn consume_next(
        &mut self,
        consumer: String,
        topic: String,
        limit: u32,
        max_bytes: u64,
    ) -> Res<OpResult> {
        let Some(meta) = self.topic(&topic)? else {
            return Ok(OpResult::Consumed {
                values: vec![],
                next_offset: 0,
            });
        };
        let key = keys::consumer(&topic, &consumer);
        let pos: u64 = self.get(&key)?.unwrap_or(0);
        let mut offset = pos.max(meta.start);
        let mut values = Vec::new();
        let mut bytes = 0u64;
        while offset < meta.next && values.len() < limit as usize {
            let Some(rec) = self.get::<MessageRecord>(&keys::message(meta.id, offset))? else {
                break;
            };
            bytes += rec.value.len() as u64;
            if !values.is_empty() && bytes > max_bytes {
                break;
            }
            values.push(rec.value);
            offset += 1;
        }
        if offset != pos {
            self.put(&key, &offset);
        }
        Ok(OpResult::Consumed {
            values,
            next_offset: offset,
        })
    }
}

//! Applying committed ops. Metadata reads see this call's own writes (a local overlay over the
//! store); messages are encoded into per-topic buffers and appended to the segment files once per
//! topic per call (or before an op that reads them back). [`Applier::finish`] returns the metadata
//! changes for the store to publish after the data is written.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::keys;
use super::model::{MessageRecord, ProducerState, TopicMeta};
use super::segment;
use super::store::TopicStore;
use crate::raft::command::{Op, OpError, OpResult, Publish, Retention};

/// Most (topic, producer) pairs remembered for exactly-once; the least recently used are forgotten.
pub const MAX_PRODUCERS: u64 = 50_000;

type Res<T> = crate::Result<T>;

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    bincode::serialize(v).expect("bincode encoding of plain data cannot fail")
}

pub(crate) fn decode<T: DeserializeOwned>(b: &[u8]) -> Res<T> {
    bincode::deserialize(b).map_err(|e| crate::Error::decode("state-machine record", e))
}

/// Frames of one topic not yet written: encoded bytes and (offset, position) of each frame.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    frames: Vec<(u64, usize)>,
}

/// What one apply call produced, for the store and the waiters.
pub struct Applied {
    pub changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub touched: HashSet<String>,
    /// (topic id, new start): segments below become deletable after the next checkpoint.
    pub trims: Vec<(u64, u64)>,
    pub deleted_topics: Vec<u64>,
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

    fn get_raw(&self, key: &[u8]) -> Res<Option<Vec<u8>>> {
        match self.overlay.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.store.get_raw(key),
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
                        self.set_topic(&topic, Some(m));
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
                    self.pending.remove(&topic);
                    self.set_topic(&topic, None);
                    for k in self.keys_with_prefix(&keys::consumer_topic_prefix(&topic))? {
                        self.remove(&k);
                    }
                    self.deleted_topics.push(m.id);
                    self.touched.insert(topic);
                    OpResult::Deleted { existed: true }
                }
            },
            Op::Trim {
                topic,
                topic_id,
                new_start,
            } => match self.topic(&topic)? {
                Some(m) if m.id == topic_id => {
                    let new_start = new_start.min(m.next);
                    if new_start <= m.start {
                        return Ok(OpResult::Trimmed {
                            log_start_offset: m.start,
                        });
                    }
                    self.flush_topic(&topic)?;
                    let mut m = self.topic(&topic)?.expect("topic exists");
                    m.start_bytes = if new_start == m.next {
                        m.appended_bytes
                    } else {
                        self.store
                            .record(&m, new_start)?
                            .map_or(m.appended_bytes, |r| r.cum_bytes)
                    };
                    m.start = new_start;
                    self.trims.push((m.id, new_start));
                    self.set_topic(&topic, Some(m));
                    self.touched.insert(topic);
                    OpResult::Trimmed {
                        log_start_offset: new_start,
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

    fn create_topic(&mut self, name: &str, retention: Retention, ts_ms: u64) -> Res<TopicMeta> {
        let id: u64 = self.get(keys::NEXT_TOPIC_ID)?.unwrap_or(1);
        self.put(keys::NEXT_TOPIC_ID, &(id + 1));
        let meta = TopicMeta {
            id,
            created_ms: ts_ms,
            retention,
            ..Default::default()
        };
        self.set_topic(name, Some(meta.clone()));
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
        let pending = self.pending.entry(p.topic.clone()).or_default();
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
            pending.frames.push((meta.next, pending.bytes.len()));
            segment::encode_frame(&mut pending.bytes, meta.next, &record);
            meta.next += 1;
        }
        meta.last_ts_ms = ts;
        self.set_topic(&p.topic, Some(meta.clone()));
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
        let oldest = self
            .store
            .first_key(keys::PRODUCER_ORDER_PREFIX, &self.overlay)?;
        match oldest
            .as_deref()
            .and_then(|k| keys::parse_producer_order(k).map(|p| (k.to_vec(), p)))
        {
            Some((order_key, (topic_id, producer_id))) => {
                self.remove(&order_key);
                self.remove(&keys::producer(topic_id, &producer_id));
                self.put(keys::PRODUCER_COUNT, &(n - 1));
            }
            None => self.put(keys::PRODUCER_COUNT, &n),
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
        if self.topic(&topic)?.is_none() {
            return Ok(OpResult::Consumed {
                values: vec![],
                next_offset: 0,
            });
        }
        self.flush_topic(&topic)?;
        let meta = self.topic(&topic)?.expect("topic exists");
        let key = keys::consumer(&topic, &consumer);
        let pos: u64 = self.get(&key)?.unwrap_or(0);
        let messages = self.store.read(&meta, pos, limit as usize, max_bytes)?;
        let next_offset = messages
            .last()
            .map_or(pos.max(meta.start), |m| m.offset + 1);
        if next_offset != pos {
            self.put(&key, &next_offset);
        }
        Ok(OpResult::Consumed {
            values: messages.into_iter().map(|m| m.record.value).collect(),
            next_offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::raft::command::NewMessage;

    #[derive(Debug, Clone)]
    enum Step {
        Publish(Vec<String>),
        Trim(u64),
        Delete,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => proptest::collection::vec("[a-z]{0,40}", 1..8).prop_map(Step::Publish),
            2 => (0u64..80).prop_map(Step::Trim),
            1 => Just(Step::Delete),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Offsets are dense from 0, trims only move the start forward, byte counts match what is
        /// retained, and reads return exactly the retained messages — across apply calls and
        /// segment rolls (tiny segments here).
        #[test]
        fn offsets_and_byte_counts_follow_a_simple_model(steps in proptest::collection::vec(step(), 1..40), per_call in 1usize..5) {
            let dir = tempfile::tempdir().unwrap();
            let db = sled::Config::new().temporary(true).open().unwrap();
            let store = TopicStore::open(&db, dir.path(), 256).unwrap();
            // The model: every value ever published in the current incarnation of the topic, and the start.
            let mut model: Vec<String> = Vec::new();
            let mut start = 0u64;
            let mut index = 1;
            for chunk in steps.chunks(per_call) {
                let mut a = Applier::new(&store);
                for s in chunk {
                    let id = a.topic("t").unwrap().map(|m| m.id);
                    let op = match s {
                        Step::Publish(vals) => Op::Publish(Publish {
                            topic: "t".into(),
                            messages: vals.iter().map(|v| NewMessage::new(v.clone())).collect(),
                            producer: None,
                            publisher: None,
                        }),
                        Step::Trim(to) => Op::Trim { topic: "t".into(), topic_id: id.unwrap_or(0), new_start: *to },
                        Step::Delete => Op::DeleteTopic { topic: "t".into() },
                    };
                    let r = a.apply(op, index, 1000 + index).unwrap();
                    index += 1;
                    match (s, r) {
                        (Step::Publish(vals), OpResult::Published { base_offset, count, .. }) => {
                            prop_assert_eq!(base_offset, model.len() as u64);
                            prop_assert_eq!(count, vals.len() as u64);
                            model.extend(vals.iter().cloned());
                        }
                        (Step::Trim(to), OpResult::Trimmed { .. }) => {
                            if id.is_some() && *to > start {
                                start = (*to).min(model.len() as u64);
                            }
                        }
                        (Step::Delete, OpResult::Deleted { .. }) => {
                            model.clear();
                            start = 0;
                        }
                        (s, r) => prop_assert!(false, "{:?} gave {:?}", s, r),
                    }
                }
                let applied = a.finish().unwrap();
                store.merge(applied.changes);
            }
            match store.topic("t").unwrap() {
                None => prop_assert!(model.is_empty()),
                Some(m) => {
                    prop_assert_eq!((m.start, m.next), (start, model.len() as u64));
                    let retained = &model[start as usize..];
                    prop_assert_eq!(m.bytes(), retained.iter().map(|v| v.len() as u64).sum::<u64>());
                    let read: Vec<String> = store.read(&m, 0, 10_000, u64::MAX).unwrap().into_iter().map(|x| x.record.value).collect();
                    prop_assert_eq!(&read[..], retained);
                    if let Some(first) = retained.first() {
                        prop_assert_eq!(&store.record(&m, start).unwrap().unwrap().value, first);
                    }
                }
            }
        }
    }
}

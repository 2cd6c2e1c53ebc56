//! Applying committed ops: one method per command (in the files beside this one), dispatched by
//! [`Applier::apply`]. Metadata reads see this call's own writes (a local overlay over the
//! store); messages are encoded into per-topic buffers and appended to the segment files once per
//! topic per call (or before an op that reads them back). [`Applier::finish`] returns the changes
//! for [`TopicStore::publish`] to make visible after the data is written.

mod cluster;
mod consumer;
mod group;
#[cfg(test)]
mod group_tests;
#[cfg(test)]
mod kafka_tests;
mod part_key;
#[cfg(test)]
mod partition_tests;
mod publish;
#[cfg(test)]
mod tests;
mod topic;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::codec::{decode, encode};
use super::group::GroupState;
use super::keys;
use super::model::TopicMeta;
use super::store::{Applied, TopicStore};
use crate::command::{Op, OpResult};
use part_key::{key_of, AsPart, PartKey};

pub use group::{DELIVERIES, ORIGIN_GROUP, ORIGIN_OFFSET, ORIGIN_PARTITION, ORIGIN_TOPIC};
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
    /// Partition metas this call read or changed, by (topic, partition) (written to the overlay by
    /// `finish`).
    metas: HashMap<PartKey, Option<TopicMeta>>,
    /// Groups this call read or changed, by key (written to the overlay by `finish`).
    groups: HashMap<Vec<u8>, Option<GroupState>>,
    pending: HashMap<PartKey, Pending>,
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
            groups: HashMap::new(),
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
            Op::ConfigureGroup(c) => self.configure_group(c, at)?.into(),
            Op::LeaseMessages(c) => self.lease_messages(c, at)?.into(),
            Op::AckMessages(c) => self.ack_messages(c)?.into(),
            Op::NackMessages(c) => self.nack_messages(c, at)?.into(),
            Op::DeleteGroup(c) => self.delete_group(c)?.into(),
            Op::AllocateProducerId(c) => self.allocate_producer_id(c)?.into(),
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

    /// A topic's metadata (its partition 0, which holds the topic's config) as this call sees it.
    pub fn topic(&mut self, name: &str) -> Res<Option<TopicMeta>> {
        self.part(name, 0)
    }

    /// One partition's metadata as this call sees it.
    pub fn part(&mut self, name: &str, partition: u32) -> Res<Option<TopicMeta>> {
        if let Some(m) = self.metas.get(&key_of(name, partition) as &dyn AsPart) {
            return Ok(m.clone());
        }
        let m: Option<TopicMeta> = self.get(&keys::partition(name, partition))?;
        self.metas.insert(PartKey::new(name, partition), m.clone());
        Ok(m)
    }

    /// How many partitions the topic has, as this call sees it: this call's own change, else the
    /// store's count (cached there: no storage read per publish).
    fn partitions(&self, name: &str) -> Res<u32> {
        match self.overlay.get(&keys::partition_count(name)) {
            Some(Some(v)) => decode(v),
            Some(None) => Ok(1),
            None => self.store.partitions(name),
        }
    }

    fn set_topic(&mut self, name: &str, meta: Option<TopicMeta>) {
        self.set_part(name, 0, meta);
    }

    fn set_part(&mut self, name: &str, partition: u32, meta: Option<TopicMeta>) {
        match self.metas.get_mut(&key_of(name, partition) as &dyn AsPart) {
            Some(slot) => *slot = meta,
            None => {
                self.metas.insert(PartKey::new(name, partition), meta);
            }
        }
    }

    /// Write a topic's buffered frames (of partition 0) to its segment files.
    fn flush_topic(&mut self, name: &str) -> Res<()> {
        self.flush_part(name, 0)
    }

    /// Write a partition's buffered frames to its segment files.
    fn flush_part(&mut self, name: &str, partition: u32) -> Res<()> {
        let key = key_of(name, partition);
        let Some(p) = self.pending.remove(&key as &dyn AsPart) else {
            return Ok(());
        };
        let Some(Some(mut meta)) = self.metas.get(&key as &dyn AsPart).cloned() else {
            return Ok(());
        };
        self.store
            .logs()
            .append(&mut meta, &p.bytes, &p.frames)
            .map_err(|e| crate::Error::io("append to a segment", e))?;
        self.set_part(name, partition, Some(meta));
        Ok(())
    }

    /// Write all buffered frames and hand over the metadata changes.
    pub fn finish(mut self) -> Res<Applied> {
        let parts: Vec<PartKey> = self.pending.keys().cloned().collect();
        for k in parts {
            self.flush_part(&k.topic, k.partition)?;
        }
        for (key, group) in std::mem::take(&mut self.groups) {
            match group {
                Some(g) => self.put(&key, &g),
                None => self.remove(&key),
            }
        }
        for (k, meta) in std::mem::take(&mut self.metas) {
            let key = keys::partition(&k.topic, k.partition);
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

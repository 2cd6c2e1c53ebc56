//! [`PutTopic`], [`DeleteTopic`] and [`Trim`]: a topic's lifecycle. Partition 0 is the topic's
//! meta (with its config: retention, creation time); partitions 1.. have metas of their own.

use super::{Applier, At, Res};
use crate::command::{
    DeleteTopic, OpError, PutTopic, Retention, TopicDeleted, TopicPut, Trim, Trimmed,
};
use crate::topics::keys;
use crate::topics::model::TopicMeta;

impl Applier<'_> {
    pub(super) fn put_topic(&mut self, c: PutTopic, at: At) -> Res<Result<TopicPut, OpError>> {
        if c.partitions == Some(0) {
            return Ok(Err(OpError::InvalidPartitions {
                topic: c.topic,
                partitions: 0,
                requested: 0,
            }));
        }
        Ok(match self.topic(&c.topic)? {
            Some(_) if c.create_only => Err(OpError::TopicExists { topic: c.topic }),
            Some(mut m) => {
                let have = self.partitions(&c.topic)?;
                if let Some(n) = c.partitions.filter(|n| *n < have) {
                    return Ok(Err(OpError::InvalidPartitions {
                        topic: c.topic,
                        partitions: have,
                        requested: n,
                    }));
                }
                if let Some(r) = c.retention {
                    m.retention = r;
                    self.set_topic(&c.topic, Some(m));
                }
                if let Some(n) = c.partitions {
                    self.add_partitions(&c.topic, have, n, at.ts_ms)?;
                }
                Ok(TopicPut { created: false })
            }
            None => {
                self.create_topic(
                    &c.topic,
                    c.retention.unwrap_or_default(),
                    c.partitions.unwrap_or(1),
                    at.ts_ms,
                )?;
                Ok(TopicPut { created: true })
            }
        })
    }

    pub(super) fn delete_topic(&mut self, c: DeleteTopic) -> Res<Result<TopicDeleted, OpError>> {
        if self.topic(&c.topic)?.is_none() {
            return Ok(Ok(TopicDeleted { existed: false }));
        }
        for p in 0..self.partitions(&c.topic)? {
            self.pending
                .remove(&super::part_key::key_of(&c.topic, p) as &dyn super::part_key::AsPart);
            if let Some(m) = self.part(&c.topic, p)? {
                self.deleted_topics.push(m.id);
            }
            self.set_part(&c.topic, p, None);
        }
        self.remove(&keys::partition_count(&c.topic));
        for k in self.keys_with_prefix(&keys::consumer_topic_prefix(&c.topic))? {
            self.remove(&k);
        }
        for k in self.keys_with_prefix(&keys::partition_consumer_topic_prefix(&c.topic))? {
            self.remove(&k);
        }
        self.delete_groups_of(&c.topic)?;
        self.touched.insert(c.topic);
        Ok(Ok(TopicDeleted { existed: true }))
    }

    /// The partition of `topic` whose log id is `id`.
    fn partition_with_id(&mut self, topic: &str, id: u64) -> Res<Option<(u32, TopicMeta)>> {
        for p in 0..self.partitions(topic)? {
            match self.part(topic, p)? {
                Some(m) if m.id == id => return Ok(Some((p, m))),
                _ => {}
            }
        }
        Ok(None)
    }

    pub(super) fn trim(&mut self, c: Trim) -> Res<Result<Trimmed, OpError>> {
        let Some((partition, m)) = self.partition_with_id(&c.topic, c.topic_id)? else {
            // Deleted (or deleted and recreated) since the leader decided: nothing to trim.
            return Ok(Ok(Trimmed {
                log_start_offset: 0,
            }));
        };
        let new_start = c.new_start.min(m.next);
        if new_start <= m.start {
            return Ok(Ok(Trimmed {
                log_start_offset: m.start,
            }));
        }
        self.flush_part(&c.topic, partition)?;
        let mut m = self.part(&c.topic, partition)?.expect("partition exists");
        m.start_bytes = if new_start == m.next {
            m.appended_bytes
        } else {
            self.store
                .record(&m, new_start)?
                .map_or(m.appended_bytes, |r| r.cum_bytes)
        };
        m.start = new_start;
        self.trims.push((m.id, new_start));
        self.set_part(&c.topic, partition, Some(m));
        self.touched.insert(c.topic);
        Ok(Ok(Trimmed {
            log_start_offset: new_start,
        }))
    }

    fn new_log_id(&mut self) -> Res<u64> {
        let id: u64 = self.get(keys::NEXT_TOPIC_ID)?.unwrap_or(1);
        self.put(keys::NEXT_TOPIC_ID, &(id + 1));
        Ok(id)
    }

    pub(super) fn create_topic(
        &mut self,
        name: &str,
        retention: Retention,
        partitions: u32,
        ts_ms: u64,
    ) -> Res<TopicMeta> {
        let meta = TopicMeta {
            id: self.new_log_id()?,
            created_ms: ts_ms,
            retention,
            ..Default::default()
        };
        self.set_topic(name, Some(meta.clone()));
        self.add_partitions(name, 1, partitions, ts_ms)?;
        Ok(meta)
    }

    /// Partitions `from..to` (new, empty logs of their own); the count stays unwritten for one
    /// partition, as topics from before partitions have it.
    fn add_partitions(&mut self, name: &str, from: u32, to: u32, ts_ms: u64) -> Res<()> {
        if to <= from {
            return Ok(());
        }
        for p in from..to {
            let meta = TopicMeta {
                id: self.new_log_id()?,
                created_ms: ts_ms,
                ..Default::default()
            };
            self.set_part(name, p, Some(meta));
        }
        self.put(&keys::partition_count(name), &to);
        Ok(())
    }
}

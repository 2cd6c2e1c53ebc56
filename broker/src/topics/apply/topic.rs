//! [`PutTopic`], [`DeleteTopic`] and [`Trim`]: a topic's lifecycle.

use super::{Applier, At, Res};
use crate::command::{
    DeleteTopic, OpError, PutTopic, Retention, TopicDeleted, TopicPut, Trim, Trimmed,
};
use crate::topics::keys;
use crate::topics::model::TopicMeta;

impl Applier<'_> {
    pub(super) fn put_topic(&mut self, c: PutTopic, at: At) -> Res<Result<TopicPut, OpError>> {
        Ok(match self.topic(&c.topic)? {
            Some(_) if c.create_only => Err(OpError::TopicExists { topic: c.topic }),
            Some(mut m) => {
                if let Some(r) = c.retention {
                    m.retention = r;
                    self.set_topic(&c.topic, Some(m));
                }
                Ok(TopicPut { created: false })
            }
            None => {
                self.create_topic(&c.topic, c.retention.unwrap_or_default(), at.ts_ms)?;
                Ok(TopicPut { created: true })
            }
        })
    }

    pub(super) fn delete_topic(&mut self, c: DeleteTopic) -> Res<Result<TopicDeleted, OpError>> {
        let Some(m) = self.topic(&c.topic)? else {
            return Ok(Ok(TopicDeleted { existed: false }));
        };
        self.pending.remove(&c.topic);
        self.set_topic(&c.topic, None);
        for k in self.keys_with_prefix(&keys::consumer_topic_prefix(&c.topic))? {
            self.remove(&k);
        }
        self.delete_groups_of(&c.topic)?;
        self.deleted_topics.push(m.id);
        self.touched.insert(c.topic);
        Ok(Ok(TopicDeleted { existed: true }))
    }

    pub(super) fn trim(&mut self, c: Trim) -> Res<Result<Trimmed, OpError>> {
        let m = match self.topic(&c.topic)? {
            Some(m) if m.id == c.topic_id => m,
            // Deleted (or deleted and recreated) since the leader decided: nothing to trim.
            _ => {
                return Ok(Ok(Trimmed {
                    log_start_offset: 0,
                }))
            }
        };
        let new_start = c.new_start.min(m.next);
        if new_start <= m.start {
            return Ok(Ok(Trimmed {
                log_start_offset: m.start,
            }));
        }
        self.flush_topic(&c.topic)?;
        let mut m = self.topic(&c.topic)?.expect("topic exists");
        m.start_bytes = if new_start == m.next {
            m.appended_bytes
        } else {
            self.store
                .record(&m, new_start)?
                .map_or(m.appended_bytes, |r| r.cum_bytes)
        };
        m.start = new_start;
        self.trims.push((m.id, new_start));
        self.set_topic(&c.topic, Some(m));
        self.touched.insert(c.topic);
        Ok(Ok(Trimmed {
            log_start_offset: new_start,
        }))
    }

    pub(super) fn create_topic(
        &mut self,
        name: &str,
        retention: Retention,
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
        self.set_topic(name, Some(meta.clone()));
        Ok(meta)
    }
}

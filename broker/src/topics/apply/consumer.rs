//! [`CommitOffset`] and [`ConsumeNext`]: named consumers' positions.

use super::{Applier, Res};
use crate::command::{CommitOffset, ConsumeNext, Consumed, OffsetCommitted, OpError};
use crate::topics::keys;

impl Applier<'_> {
    pub(super) fn commit_offset(
        &mut self,
        c: CommitOffset,
    ) -> Res<Result<OffsetCommitted, OpError>> {
        Ok(match self.topic(&c.topic)? {
            None => Err(OpError::TopicNotFound { topic: c.topic }),
            Some(m) if c.offset > m.next => Err(OpError::OffsetOutOfRange {
                offset: c.offset,
                log_start_offset: m.start,
                high_watermark: m.next,
            }),
            Some(_) => {
                self.put(&keys::consumer(&c.topic, &c.consumer), &c.offset);
                Ok(OffsetCommitted { offset: c.offset })
            }
        })
    }

    /// The values after the consumer's position, which moves past them (an unknown topic: none).
    pub(super) fn consume_next(&mut self, c: ConsumeNext) -> Res<Result<Consumed, OpError>> {
        if self.topic(&c.topic)?.is_none() {
            return Ok(Ok(Consumed {
                values: vec![],
                next_offset: 0,
            }));
        }
        self.flush_topic(&c.topic)?;
        let meta = self.topic(&c.topic)?.expect("topic exists");
        let key = keys::consumer(&c.topic, &c.consumer);
        let pos: u64 = self.get(&key)?.unwrap_or(0);
        let messages = self.store.read(&meta, pos, c.limit as usize, c.max_bytes)?;
        let next_offset = messages
            .last()
            .map_or(pos.max(meta.start), |m| m.offset + 1);
        if next_offset != pos {
            self.put(&key, &next_offset);
        }
        Ok(Ok(Consumed {
            values: messages.into_iter().map(|m| m.record.value).collect(),
            next_offset,
        }))
    }
}

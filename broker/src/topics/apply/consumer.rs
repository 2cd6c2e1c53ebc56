//! [`CommitOffset`], [`ConsumeNext`], [`AdvanceConsumer`] and [`DeleteConsumer`]: named
//! consumers' positions.

use super::{Applier, Res};
use crate::command::{
    AdvanceConsumer, CommitOffset, ConsumeNext, Consumed, ConsumerAdvanced, ConsumerDeleted,
    DeleteConsumer, OffsetCommitted, OpError,
};
use crate::topics::keys;

impl Applier<'_> {
    pub(super) fn commit_offset(
        &mut self,
        c: CommitOffset,
    ) -> Res<Result<OffsetCommitted, OpError>> {
        if self.topic(&c.topic)?.is_none() {
            return Ok(Err(OpError::TopicNotFound { topic: c.topic }));
        }
        Ok(match self.part(&c.topic, c.partition)? {
            None => Err(OpError::PartitionNotFound {
                partitions: self.partitions(&c.topic)?,
                topic: c.topic,
                partition: c.partition,
            }),
            Some(m) if c.offset > m.next => Err(OpError::OffsetOutOfRange {
                offset: c.offset,
                log_start_offset: m.start,
                high_watermark: m.next,
            }),
            Some(_) => {
                self.put(
                    &keys::consumer_at(&c.topic, c.partition, &c.consumer),
                    &c.offset,
                );
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
            values: messages
                .into_iter()
                .map(|m| m.record.value_text().into_owned())
                .collect(),
            next_offset,
        }))
    }

    /// Move the consumer from `from` to `to` only if it is still at `from` (see [`AdvanceConsumer`]).
    pub(super) fn advance_consumer(
        &mut self,
        c: AdvanceConsumer,
    ) -> Res<Result<ConsumerAdvanced, OpError>> {
        if self.topic(&c.topic)?.is_none() {
            return Ok(Err(OpError::TopicNotFound { topic: c.topic }));
        }
        let Some(meta) = self.part(&c.topic, c.partition)? else {
            return Ok(Err(OpError::PartitionNotFound {
                partitions: self.partitions(&c.topic)?,
                topic: c.topic,
                partition: c.partition,
            }));
        };
        if c.to > meta.next || c.to < c.from {
            return Ok(Err(OpError::OffsetOutOfRange {
                offset: c.to,
                log_start_offset: meta.start,
                high_watermark: meta.next,
            }));
        }
        let key = keys::consumer_at(&c.topic, c.partition, &c.consumer);
        let at: u64 = self.get(&key)?.unwrap_or(0);
        if at != c.from {
            return Ok(Err(OpError::ConsumerMoved {
                consumer: c.consumer,
                topic: c.topic,
                offset: at,
            }));
        }
        self.put(&key, &c.to);
        Ok(Ok(ConsumerAdvanced { offset: c.to }))
    }

    /// Forget the consumer's positions on every partition (an unknown topic or position: nothing
    /// to delete).
    pub(super) fn delete_consumer(
        &mut self,
        c: DeleteConsumer,
    ) -> Res<Result<ConsumerDeleted, OpError>> {
        if self.topic(&c.topic)?.is_none() {
            return Ok(Err(OpError::TopicNotFound { topic: c.topic }));
        }
        let mut existed = false;
        for p in 0..self.partitions(&c.topic)? {
            let key = keys::consumer_at(&c.topic, p, &c.consumer);
            if self.get_raw(&key)?.is_some() {
                existed = true;
                self.remove(&key);
            }
        }
        Ok(Ok(ConsumerDeleted { existed }))
    }
}

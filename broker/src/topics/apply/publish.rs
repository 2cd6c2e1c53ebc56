//! [`Publish`]: append a batch to a topic partition (the topic is created on first publish, with one
//! partition), exactly once per producer id and sequence within a producer epoch (producers are
//! remembered per partition: by the partition's log id). A publish from Kafka
//! ([`crate::command::KafkaPublish`]) keeps its records' timestamps and follows Kafka's stricter
//! sequence rules.

use super::part_key::{key_of, AsPart, PartKey};
use super::{Applier, At, Res};
use crate::command::{OpError, Publish, Published};
use crate::topics::keys;
use crate::topics::model::{ProducerState, RecordRef};
use crate::topics::segment;

/// A frame's bytes beyond the message's own (frame header, timestamps, lengths and option tags),
/// publisher excepted: what the segment buffer is grown by up front.
const FRAME_SPARE: usize = 64;

/// Most (topic, producer) pairs remembered for exactly-once; the least recently used are forgotten.
pub const MAX_PRODUCERS: u64 = 50_000;

impl Applier<'_> {
    pub(super) fn publish(&mut self, p: Publish, at: At) -> Res<Result<Published, OpError>> {
        let meta = match self.topic(&p.topic)? {
            None => {
                let created = self.create_topic(&p.topic, Default::default(), 1, at.ts_ms)?;
                (p.partition == 0).then_some(created)
            }
            // Partition 0 is the topic's own meta: no second lookup.
            Some(m) if p.partition == 0 => Some(m),
            Some(_) => self.part(&p.topic, p.partition)?,
        };
        let Some(mut meta) = meta else {
            return Ok(Err(OpError::PartitionNotFound {
                partitions: self.partitions(&p.topic)?,
                topic: p.topic,
                partition: p.partition,
            }));
        };
        let count = p.messages.len() as u64;
        let kafka = p.kafka.is_some();
        let mut producer_state = None;
        if let Some(ps) = &p.producer {
            let key = keys::producer(meta.id, &ps.producer_id);
            let stored = self
                .get_raw(&key)?
                .map(|b| ProducerState::decode(&b))
                .transpose()?;
            let existed = stored.is_some();
            let mut state = stored.unwrap_or_default();
            if ps.epoch < state.epoch {
                return Ok(Err(OpError::ProducerFenced {
                    producer_id: ps.producer_id.clone(),
                    epoch: ps.epoch,
                    current: state.epoch,
                }));
            }
            if ps.epoch > state.epoch {
                // A restarted producer: any sequence starts its new epoch (Kafka's: sequence 0).
                if kafka && existed && ps.sequence != 0 {
                    return Ok(Err(OpError::OutOfOrderSequence {
                        producer_id: ps.producer_id.clone(),
                        sequence: ps.sequence,
                        expected: 0,
                    }));
                }
                state.start_epoch(ps.epoch);
            }
            if let Some((base, count)) = state.find(ps.sequence) {
                return Ok(Ok(Published {
                    base_offset: base,
                    count,
                    duplicate: true,
                }));
            }
            if let (true, Some(expected)) = (kafka, state.next_sequence()) {
                // Kafka: a batch continues exactly where the last one ended, so a lost or
                // reordered batch is noticed (and resent in order) instead of leaving a gap.
                if ps.sequence != expected {
                    return Ok(Err(OpError::OutOfOrderSequence {
                        producer_id: ps.producer_id.clone(),
                        sequence: ps.sequence,
                        expected,
                    }));
                }
            } else if let Some(last) = state.last_sequence() {
                if ps.sequence < last {
                    return Ok(Err(OpError::SequenceTooOld {
                        producer_id: ps.producer_id.clone(),
                        sequence: ps.sequence,
                        last,
                    }));
                }
            }
            producer_state = Some((key, state, existed));
        }

        let base = meta.next;
        let ts = at.ts_ms.max(meta.last_ts_ms);
        // Kafka records carry their producer's timestamps (CreateTime), stored as they are.
        let own_ts = p
            .kafka
            .map(|k| k.timestamps)
            .filter(|t| t.len() == p.messages.len());
        let pending = match self
            .pending
            .get_mut(&key_of(&p.topic, p.partition) as &dyn AsPart)
        {
            Some(pending) => pending,
            None => self
                .pending
                .entry(PartKey::new(&p.topic, p.partition))
                .or_default(),
        };
        // Frames are encoded from the command's own fields: no record built per message.
        pending.frames.reserve(p.messages.len());
        let spare = FRAME_SPARE + p.publisher.as_deref().map_or(0, str::len);
        pending
            .bytes
            .reserve(p.messages.iter().map(|m| spare + m.value.len()).sum());
        for (i, m) in p.messages.iter().enumerate() {
            let record = RecordRef {
                ts_ms: own_ts.as_ref().map_or(ts, |t| t[i]),
                cum_bytes: meta.appended_bytes,
                publisher: p.publisher.as_deref(),
                key: m.key.as_deref(),
                headers: m.headers.as_ref(),
                value: &m.value,
            };
            meta.appended_bytes += record.size();
            pending.frames.push((meta.next, pending.bytes.len()));
            segment::encode_frame(&mut pending.bytes, meta.next, record);
            meta.next += 1;
        }
        // The broker's clock only: a producer's clock moves no HTTP publish's timestamp.
        meta.last_ts_ms = ts;
        self.set_part(&p.topic, p.partition, Some(meta.clone()));
        self.touched.insert(p.topic);

        if let (Some(ps), Some((key, mut state, existed))) = (p.producer, producer_state) {
            if existed {
                self.remove(&keys::producer_order(
                    state.last_index,
                    meta.id,
                    &ps.producer_id,
                ));
            }
            state.record(ps.sequence, base, count, at.index);
            self.put(&key, &state);
            self.put(
                &keys::producer_order(at.index, meta.id, &ps.producer_id),
                &(),
            );
            if !existed {
                self.count_new_producer()?;
            }
        }
        Ok(Ok(Published {
            base_offset: base,
            count,
            duplicate: false,
        }))
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
}

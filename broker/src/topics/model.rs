//! Stored records of the topic log.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::command::{message_size, Retention};

/// Per-topic bookkeeping, updated atomically with the messages it describes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    /// Never reused: data of a deleted topic is unreachable under a recreated one.
    pub id: u64,
    /// First retained offset (`log_start_offset`).
    pub start: u64,
    /// Next offset to assign (`high_watermark`); `next - start` messages are retained.
    pub next: u64,
    /// Bytes of every message ever appended; `appended_bytes - start_bytes` are retained.
    pub appended_bytes: u64,
    /// Bytes of the messages before `start`.
    pub start_bytes: u64,
    /// Timestamp of the newest message; stored timestamps never go backwards within a topic.
    pub last_ts_ms: u64,
    pub created_ms: u64,
    /// Explicit retention; unset fields use the node-wide default.
    pub retention: Retention,
    /// Base offset of the segment file being appended to, and its length in bytes: what recovery
    /// cuts the segment back to when this meta is the checkpointed one.
    pub active_base: u64,
    pub active_pos: u64,
}

impl TopicMeta {
    pub fn messages(&self) -> u64 {
        self.next - self.start
    }

    pub fn bytes(&self) -> u64 {
        self.appended_bytes - self.start_bytes
    }
}

/// One stored message. The offset is its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub ts_ms: u64,
    /// Bytes of all earlier messages of the topic: byte retention is a binary search, trims are O(1).
    pub cum_bytes: u64,
    pub publisher: Option<String>,
    pub key: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub value: String,
}

impl MessageRecord {
    pub fn size(&self) -> u64 {
        message_size(&self.value, self.key.as_deref(), self.headers.as_ref()) as u64
    }
}

/// A message as readers get it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub offset: u64,
    pub record: MessageRecord,
}

/// How many recent sequences each producer remembers (Kafka keeps five in flight).
pub const PRODUCER_WINDOW: usize = 5;

/// Exactly-once bookkeeping for one (topic, producer).
///
/// Encoded as bincode with `epoch` last; records written before epochs existed end after
/// `last_index` and decode with epoch 0 ([`ProducerState::decode`]); a node that predates epochs
/// reads a new record too (bincode ignores trailing bytes there).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerState {
    /// (sequence, base offset, count), oldest first, at most [`PRODUCER_WINDOW`], all of `epoch`.
    pub recent: VecDeque<(u64, u64, u64)>,
    /// Log index of the last publish: the eviction order when too many producers are remembered.
    pub last_index: u64,
    /// The producer's newest epoch: publishes of an older one are fenced.
    pub epoch: u64,
}

impl ProducerState {
    /// Decodes both layouts (with and without the trailing epoch).
    pub fn decode(b: &[u8]) -> crate::Result<ProducerState> {
        let err = |e| crate::Error::decode("producer state", e);
        let mut rest = b;
        let (recent, last_index) = bincode::deserialize_from(&mut rest).map_err(err)?;
        let epoch = if rest.is_empty() {
            0
        } else {
            bincode::deserialize_from(&mut rest).map_err(err)?
        };
        Ok(ProducerState {
            recent,
            last_index,
            epoch,
        })
    }

    /// A newer epoch: the sequences start over.
    pub fn start_epoch(&mut self, epoch: u64) {
        self.recent.clear();
        self.epoch = epoch;
    }

    pub fn find(&self, sequence: u64) -> Option<(u64, u64)> {
        self.recent
            .iter()
            .find(|(s, _, _)| *s == sequence)
            .map(|(_, b, c)| (*b, *c))
    }

    pub fn last_sequence(&self) -> Option<u64> {
        self.recent.back().map(|(s, _, _)| *s)
    }

    pub fn record(&mut self, sequence: u64, base: u64, count: u64, index: u64) {
        self.recent.push_back((sequence, base, count));
        while self.recent.len() > PRODUCER_WINDOW {
            self.recent.pop_front();
        }
        self.last_index = index;
    }
}

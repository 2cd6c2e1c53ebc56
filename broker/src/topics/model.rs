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

    /// A consumer's lag at `offset`: messages between it (or the log start, if later) and the
    /// high watermark.
    pub fn lag(&self, offset: u64) -> u64 {
        self.next - offset.clamp(self.start, self.next)
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
    /// Any bytes; encoded as a string was (length + bytes): old segments decode unchanged.
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
}

impl MessageRecord {
    /// The value as text when it is UTF-8 (what the text-only seed API shows; others are
    /// shown with U+FFFD replacing what is not UTF-8).
    pub fn value_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.value)
    }
}

impl MessageRecord {
    pub fn size(&self) -> u64 {
        message_size(&self.value, self.key.as_deref(), self.headers.as_ref()) as u64
    }
}

/// A [`MessageRecord`] to encode, borrowed: the same fields in the same order, so the same bincode
/// bytes. The apply writes a published message's frame from the command's own fields through it
/// (no record built, no publisher cloned per message).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename = "MessageRecord")]
pub struct RecordRef<'a> {
    pub ts_ms: u64,
    pub cum_bytes: u64,
    pub publisher: Option<&'a str>,
    pub key: Option<&'a str>,
    pub headers: Option<&'a BTreeMap<String, String>>,
    #[serde(with = "serde_bytes")]
    pub value: &'a [u8],
}

impl RecordRef<'_> {
    pub fn size(&self) -> u64 {
        message_size(self.value, self.key, self.headers) as u64
    }
}

impl<'a> From<&'a MessageRecord> for RecordRef<'a> {
    fn from(r: &'a MessageRecord) -> RecordRef<'a> {
        RecordRef {
            ts_ms: r.ts_ms,
            cum_bytes: r.cum_bytes,
            publisher: r.publisher.as_deref(),
            key: r.key.as_deref(),
            headers: r.headers.as_ref(),
            value: &r.value,
        }
    }
}

/// A named consumer's position with its topic's high watermark and its lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionLag {
    pub topic: String,
    pub partition: u32,
    pub consumer: String,
    /// The next offset the consumer reads.
    pub offset: u64,
    /// The topic's high watermark.
    pub end: u64,
    pub lag: u64,
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

    /// The sequence a Kafka producer's next batch must start at (its last batch's end).
    pub fn next_sequence(&self) -> Option<u64> {
        self.recent.back().map(|(s, _, c)| s + c)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The record as it was when values were text: segments and snapshots written then must
    /// decode unchanged, and a text value must encode to the same bytes as before.
    #[derive(Serialize, Deserialize)]
    struct TextRecord {
        ts_ms: u64,
        cum_bytes: u64,
        publisher: Option<String>,
        key: Option<String>,
        headers: Option<BTreeMap<String, String>>,
        value: String,
    }

    #[test]
    fn records_from_text_values_decode_and_encode_as_before() {
        let old = TextRecord {
            ts_ms: 5,
            cum_bytes: 7,
            publisher: Some("p".into()),
            key: Some("k".into()),
            headers: None,
            value: "héllo".into(),
        };
        let bytes = bincode::serialize(&old).unwrap();
        let new: MessageRecord = bincode::deserialize(&bytes).unwrap();
        assert_eq!(new.value, "héllo".as_bytes());
        assert_eq!(bincode::serialize(&new).unwrap(), bytes);
        let binary = MessageRecord {
            value: vec![0xff, 0, 0xfe],
            ..new
        };
        let back: MessageRecord =
            bincode::deserialize(&bincode::serialize(&binary).unwrap()).unwrap();
        assert_eq!(back, binary);
        assert_eq!(back.value_text(), "\u{fffd}\u{0}\u{fffd}");
    }
}

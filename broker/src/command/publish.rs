//! Publishing a batch of messages to a topic (created on first publish), exactly once per
//! producer id and sequence.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publish {
    pub topic: String,
    pub messages: Vec<NewMessage>,
    /// Exactly-once: a retry with the same producer and sequence gets the first answer.
    pub producer: Option<ProducerSeq>,
    /// Who published (from the auth token), recorded on every message.
    pub publisher: Option<String>,
    /// The partition the batch goes to. Not part of the struct's encoding (old entries decode as
    /// partition 0): a publish to another partition is a wire variant of its own ([`super::wire`]).
    #[serde(skip)]
    pub partition: u32,
    /// Set by the Kafka listener: the records' own timestamps and Kafka's sequence rules. Not
    /// part of the struct's encoding: such a publish is a wire variant of its own.
    #[serde(skip)]
    pub kafka: Option<KafkaPublish>,
}

/// What a publish from a Kafka producer adds to [`Publish`].
///
/// - `timestamps`: one per message, the producer's create time (ms), stored as the message's
///   timestamp instead of the leader's clock (Kafka's `CreateTime`).
/// - Sequences follow Kafka (KIP-98) instead of the HTTP API's: [`ProducerSeq::sequence`] is the
///   batch's first record sequence, a batch must continue where the previous one of its epoch
///   ended (else [`super::OpError::OutOfOrderSequence`]), and a new epoch starts at 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaPublish {
    pub timestamps: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerSeq {
    pub producer_id: String,
    pub sequence: u64,
    /// Kafka-style producer epoch: a higher one than stored starts the producer's sequences over
    /// and fences the older epochs. 0 (what entries written before epochs existed decode as) is
    /// encoded in the old layout: see [`super::wire`].
    pub epoch: u64,
}

/// Separates the publisher from the producer id in a scoped id (a control character: publisher
/// ids from the auth file hold no whitespace or control characters).
const SCOPE: char = '\u{1f}';

impl ProducerSeq {
    /// The producer as the log records it: with auth on, a producer id belongs to the caller
    /// (`publisher` + id), so one token can neither poison nor replay another caller's sequences
    /// by naming its producer id. Done before the op is proposed, so every replica applies the
    /// same key whatever its version.
    pub fn scoped(
        publisher: Option<&str>,
        producer_id: String,
        epoch: u64,
        sequence: u64,
    ) -> ProducerSeq {
        let producer_id = match publisher {
            Some(p) => format!("{p}{SCOPE}{producer_id}"),
            None => producer_id,
        };
        ProducerSeq {
            producer_id,
            sequence,
            epoch,
        }
    }

    /// The id the caller gave (without the publisher scope).
    pub fn caller_id(producer_id: &str) -> &str {
        producer_id
            .split_once(SCOPE)
            .map_or(producer_id, |(_, id)| id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    /// Any bytes (text or not). Encoded as a string was before (length + bytes), so entries
    /// written when values were text decode unchanged.
    pub value: Value,
    pub key: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
}

impl NewMessage {
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        NewMessage {
            value: Value::Owned(value.into()),
            key: None,
            headers: None,
        }
    }

    /// Bytes this message counts for in limits, stats and retention: value + key + headers.
    pub fn size(&self) -> usize {
        message_size(&self.value, self.key.as_deref(), self.headers.as_ref())
    }
}

/// A message's value: any bytes. `Shared` is what the front doors hand over (a slice of the HTTP
/// request body, the Kafka record's own buffer), so the copy of a batch kept for a retry
/// (`cluster/propose.rs`) copies no value; `Owned` is what decoding an entry gives (the buffer
/// bincode read, as a plain vector: no reference count to pay on every replica's copy).
///
/// Encoded as bincode's byte buffer (u64 length + bytes): the layout of a `String` and of
/// `serde_bytes`, so the Raft log and the peers' wire protocol did not change; decoding checks
/// no UTF-8 (values are any bytes; the front door validated text values once).
#[derive(Clone)]
pub enum Value {
    Shared(Bytes),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Value {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Value::Shared(b) => b,
            Value::Owned(v) => v,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        **self == **other
    }
}

impl Eq for Value {}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl From<Bytes> for Value {
    fn from(b: Bytes) -> Value {
        Value::Shared(b)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Owned(v)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Owned(s.into_bytes())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Owned(s.as_bytes().to_vec())
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        serde_bytes::ByteBuf::deserialize(d).map(|b| Value::Owned(b.into_vec()))
    }
}

/// The one size formula (limits, stats, retention): value + key + header names and values.
pub fn message_size(
    value: &[u8],
    key: Option<&str>,
    headers: Option<&BTreeMap<String, String>>,
) -> usize {
    value.len()
        + key.map_or(0, str::len)
        + headers.map_or(0, |h| h.iter().map(|(k, v)| k.len() + v.len()).sum())
}

/// The batch is stored at `base_offset .. base_offset + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub base_offset: u64,
    pub count: u64,
    /// A retry of a batch already stored: nothing was stored now, the offsets are the first ones.
    pub duplicate: bool,
}

impl Published {
    pub fn offsets(&self) -> std::ops::Range<u64> {
        self.base_offset..self.base_offset + self.count
    }
}

#[cfg(test)]
mod tests {
    use super::ProducerSeq;

    #[test]
    fn a_producer_id_is_scoped_by_its_publisher() {
        let alice = ProducerSeq::scoped(Some("alice"), "p1".into(), 0, 3);
        let bob = ProducerSeq::scoped(Some("bob"), "p1".into(), 0, 3);
        assert_ne!(alice.producer_id, bob.producer_id);
        assert_eq!(ProducerSeq::caller_id(&alice.producer_id), "p1");
        let open = ProducerSeq::scoped(None, "p1".into(), 0, 3);
        assert_eq!(open.producer_id, "p1");
        assert_eq!(ProducerSeq::caller_id(&open.producer_id), "p1");
    }
}

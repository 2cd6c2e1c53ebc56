//! Publishing a batch of messages to a topic (created on first publish), exactly once per
//! producer id and sequence.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publish {
    pub topic: String,
    pub messages: Vec<NewMessage>,
    /// Exactly-once: a retry with the same producer and sequence gets the first answer.
    pub producer: Option<ProducerSeq>,
    /// Who published (from the auth token), recorded on every message.
    pub publisher: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerSeq {
    pub producer_id: String,
    pub sequence: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    pub value: String,
    pub key: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
}

impl NewMessage {
    pub fn new(value: impl Into<String>) -> Self {
        NewMessage {
            value: value.into(),
            key: None,
            headers: None,
        }
    }

    /// Bytes this message counts for in limits, stats and retention: value + key + headers.
    pub fn size(&self) -> usize {
        message_size(&self.value, self.key.as_deref(), self.headers.as_ref())
    }
}

/// The one size formula (limits, stats, retention): value + key + header names and values.
pub fn message_size(
    value: &str,
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

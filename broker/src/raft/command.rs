//! What the Raft log carries: a [`Command`] is one log entry holding a batch of [`Op`]s that many
//! concurrent client requests contributed (see `write/`), stamped once by the leader.
//! Applying it yields one [`OpResult`] per op, in order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One log entry's payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Wall clock of the leader when it proposed the entry: every replica stores the same
    /// message timestamps (kept monotonic per topic when applied).
    pub ts_ms: u64,
    pub ops: Vec<Op>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Publish(Publish),
    /// Set a named consumer's next offset on a topic.
    CommitOffset {
        consumer: String,
        topic: String,
        offset: u64,
    },
    /// Read up to `limit` values after the consumer's position and advance it (seed `GET /<topic>?consumer=`).
    ConsumeNext {
        consumer: String,
        topic: String,
        limit: u32,
        max_bytes: u64,
    },
    /// Create a topic, or set its retention (`create_only`: fail if it exists).
    PutTopic {
        topic: String,
        retention: Option<Retention>,
        create_only: bool,
    },
    DeleteTopic {
        topic: String,
    },
    /// Move a topic's log start forward (decided by the leader's retention task).
    Trim {
        topic: String,
        topic_id: u64,
        new_start: u64,
    },
    /// Recorded once, right after bootstrap.
    SetClusterId {
        cluster_id: String,
    },
    /// Give a joining node an id, idempotent per raft address.
    AssignNodeId {
        raft_addr: String,
    },
}

impl Op {
    /// Approximate encoded size, used to bound batches.
    pub fn size_hint(&self) -> usize {
        match self {
            Op::Publish(p) => {
                64 + p.topic.len() + p.messages.iter().map(NewMessage::size).sum::<usize>()
            }
            _ => 128,
        }
    }
}

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
        self.value.len()
            + self.key.as_ref().map_or(0, String::len)
            + self
                .headers
                .as_ref()
                .map_or(0, |h| h.iter().map(|(k, v)| k.len() + v.len()).sum())
    }
}

/// Per-topic retention; `None` fields fall back to the node-wide default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub max_messages: Option<u64>,
    pub max_bytes: Option<u64>,
    pub max_age_ms: Option<u64>,
}

impl Retention {
    /// This retention with unset fields taken from `default`.
    pub fn or(self, default: Retention) -> Retention {
        Retention {
            max_messages: self.max_messages.or(default.max_messages),
            max_bytes: self.max_bytes.or(default.max_bytes),
            max_age_ms: self.max_age_ms.or(default.max_age_ms),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    Published {
        base_offset: u64,
        count: u64,
        duplicate: bool,
    },
    Committed {
        offset: u64,
    },
    Consumed {
        values: Vec<String>,
        next_offset: u64,
    },
    Topic {
        created: bool,
    },
    Deleted {
        existed: bool,
    },
    Trimmed {
        log_start_offset: u64,
    },
    ClusterId {
        cluster_id: String,
    },
    NodeId {
        node_id: u64,
    },
    Error(OpError),
}

/// Why one op of a batch failed; the others in the entry are unaffected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum OpError {
    #[error("topic {topic:?} does not exist")]
    TopicNotFound { topic: String },
    #[error("topic {topic:?} already exists")]
    TopicExists { topic: String },
    #[error("offset {offset} is outside [{log_start_offset}, {high_watermark}]")]
    OffsetOutOfRange {
        offset: u64,
        log_start_offset: u64,
        high_watermark: u64,
    },
    #[error("sequence {sequence} of producer {producer_id:?} is older than the ones remembered (last {last})")]
    SequenceTooOld {
        producer_id: String,
        sequence: u64,
        last: u64,
    },
}

/// What applying a log entry returns to the proposer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Blank and membership entries.
    #[default]
    None,
    Ops(Vec<OpResult>),
}

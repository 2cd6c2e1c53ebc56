//! Topic lifecycle: create or configure, delete, and the retention trims the leader decides.

use serde::{Deserialize, Serialize};

/// Create a topic, or set its retention and raise its partition count (`create_only`: fail if it
/// exists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutTopic {
    pub topic: String,
    pub retention: Option<Retention>,
    pub create_only: bool,
    /// Not in the struct's encoding (old entries decode as `None`, which leaves the count as it is
    /// and creates one partition): a count is a wire variant of its own ([`super::wire`]).
    #[serde(skip)]
    pub partitions: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicPut {
    pub created: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteTopic {
    pub topic: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicDeleted {
    pub existed: bool,
}

/// Move a topic partition's log start forward (decided by the leader's retention task). `topic_id`
/// is the partition's log id: it names the partition and guards against a topic deleted and
/// recreated since the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trim {
    pub topic: String,
    pub topic_id: u64,
    pub new_start: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trimmed {
    pub log_start_offset: u64,
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

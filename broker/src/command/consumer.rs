//! Named consumers' positions, replicated: commit one, or read the next values and advance
//! (the seed's `GET /<topic>?consumer=`), or delete one.

use serde::{Deserialize, Serialize};

/// Set a named consumer's next offset on a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitOffset {
    pub consumer: String,
    pub topic: String,
    pub offset: u64,
    /// Not in the struct's encoding: a partition other than 0 is a wire variant of its own.
    #[serde(skip)]
    pub partition: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetCommitted {
    pub offset: u64,
}

/// Read up to `limit` values (about `max_bytes`) after the consumer's position and advance it.
///
/// Kept only so log entries written before [`AdvanceConsumer`] replay the same: the read ran inside
/// apply, on every replica, and the position moved even when the answer never reached the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumeNext {
    pub consumer: String,
    pub topic: String,
    pub limit: u32,
    pub max_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumed {
    pub values: Vec<String>,
    pub next_offset: u64,
}

/// Claim the values a node read for a named consumer: move its position from `from` to `to`, only
/// if it still is `from` (the seed's `GET /<topic>?consumer=`). The read happens on the answering
/// node before the claim, so replicas hold no answers, and two callers of one consumer name never
/// get the same values: the second claim finds the position moved and reads again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvanceConsumer {
    pub consumer: String,
    pub topic: String,
    pub from: u64,
    pub to: u64,
    /// Not in the struct's encoding: a partition other than 0 is a wire variant of its own.
    #[serde(skip)]
    pub partition: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerAdvanced {
    pub offset: u64,
}

/// Forget a named consumer's positions on a topic, on every partition
/// (`DELETE /v1/consumers/{name}/topics/{topic}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteConsumer {
    pub consumer: String,
    pub topic: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerDeleted {
    /// The position existed (and is gone now).
    pub existed: bool,
}

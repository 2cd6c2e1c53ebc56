//! Named consumers' positions, replicated: commit one, or read the next values and advance
//! (the seed's `GET /<topic>?consumer=`).

use serde::{Deserialize, Serialize};

/// Set a named consumer's next offset on a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitOffset {
    pub consumer: String,
    pub topic: String,
    pub offset: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetCommitted {
    pub offset: u64,
}

/// Read up to `limit` values (about `max_bytes`) after the consumer's position and advance it.
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

//! Consumer groups (SPEC §9): many consumers share a topic's messages, each message leased to one
//! of them until it is acknowledged, handed back, or its lease runs out. Every lease and
//! acknowledgement is an op of the log, so a leader change or a restart never redelivers an
//! acknowledged message; the state they change is `topics::group::GroupState`.

use serde::{Deserialize, Serialize};

/// How a group delivers: the lease length, how many deliveries a message gets, and where it goes
/// after the last one (`None`: dropped and counted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupConfig {
    pub ack_wait_ms: u64,
    pub max_deliveries: u32,
    pub dead_letter_topic: Option<String>,
}

impl Default for GroupConfig {
    /// What a first fetch creates a group with (SPEC §9).
    fn default() -> Self {
        GroupConfig {
            ack_wait_ms: 30_000,
            max_deliveries: 5,
            dead_letter_topic: None,
        }
    }
}

/// Where a new group starts reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupStart {
    /// The log start.
    #[default]
    Earliest,
    /// The high watermark: only messages published from now on.
    Latest,
    /// This offset (clamped to the log start; past the high watermark is refused).
    Offset(u64),
}

/// Create a group, or set its configuration (`start` applies only when it is created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigureGroup {
    pub topic: String,
    pub group: String,
    pub config: GroupConfig,
    pub start: GroupStart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupConfigured {
    pub created: bool,
}

/// Lease up to `max` messages to one fetch (the group is created with the defaults if missing):
/// messages handed back or whose lease ran out first (redeliveries), then new ones. A lease runs
/// until the entry's `ts_ms` + `ack_wait_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseMessages {
    pub topic: String,
    pub group: String,
    pub max: u32,
}

/// One leased message: where it is and which delivery this is (1 for the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub partition: u32,
    pub offset: u64,
    pub delivery: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leased {
    pub leases: Vec<Lease>,
    /// When the leases run out (the leader's clock).
    pub deadline_ms: u64,
}

/// A message of a group, by partition and offset (also the HTTP API's shape: `partition`
/// defaults to 0).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct MessageRef {
    #[serde(default)]
    pub partition: u32,
    pub offset: u64,
}

/// Acknowledge messages: done, never delivered again. One op however many messages; a message
/// that is not delivered-and-unacknowledged is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckMessages {
    pub topic: String,
    pub group: String,
    pub messages: Vec<MessageRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acked {
    /// Messages this op acknowledged (the others were not outstanding).
    pub count: u64,
}

/// Hand messages back to the group: deliverable again after `delay_ms` (0: at once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NackMessages {
    pub topic: String,
    pub group: String,
    pub messages: Vec<MessageRef>,
    pub delay_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nacked {
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteGroup {
    pub topic: String,
    pub group: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDeleted {
    pub existed: bool,
}

//! What the Raft log carries. A [`Command`] is one log entry: a batch of [`Op`]s that many
//! concurrent requests contributed (see [`crate::write`]), stamped once by the leader. Applying it
//! yields one [`OpResult`] per op, in order.
//!
//! Every kind of op is a type of its own that names its reply through [`Request`]: a front door
//! builds a [`Publish`] and gets a [`Published`] back, never an enum to match.
//!
//! ## Adding a replicated command
//! 1. Here: the command type and its reply type (a file per family: [`publish`], [`consumer`],
//!    [`topic`], [`cluster`], [`group`]); a variant at the **end** of [`Op`] and of [`OpResult`] (the log on
//!    disk and the peers' wire protocol are bincode: variants are numbered by position) and of the
//!    wire enums in [`wire`], which encode [`Op`]; one `request!` line tying the two together.
//! 2. Its apply function: a method of `topics::apply::Applier`, dispatched in `Applier::apply`.
//! 3. Its typed front-door function: a method of [`crate::write::Writer`] (batched, forwarded to
//!    the leader), or `write::propose_one` for commands the node proposes itself.
//! 4. Refusals the state machine decides go in [`OpError`] (HTTP mapping: `api/error.rs`).

pub mod cluster;
pub mod consumer;
mod error;
pub mod group;
pub mod publish;
pub mod topic;
mod wire;

use serde::{Deserialize, Serialize};

pub use cluster::{
    AllocateProducerId, AssignNodeId, ClusterIdSet, NodeIdAssigned, ProducerIdAllocated,
    SetClusterId,
};
pub use consumer::{
    AdvanceConsumer, CommitOffset, ConsumeNext, Consumed, ConsumerAdvanced, ConsumerDeleted,
    DeleteConsumer, OffsetCommitted,
};
pub use error::OpError;
pub use group::{
    AckMessages, Acked, ConfigureGroup, DeleteGroup, GroupConfig, GroupConfigured, GroupDeleted,
    GroupStart, Lease, LeaseMessages, Leased, MessageRef, NackMessages, Nacked,
};
pub use publish::{message_size, KafkaPublish, NewMessage, ProducerSeq, Publish, Published, Value};
pub use topic::{DeleteTopic, PutTopic, Retention, TopicDeleted, TopicPut, Trim, Trimmed};

/// One log entry's payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Wall clock of the leader when it proposed the entry: every replica stores the same
    /// message timestamps (kept monotonic per topic when applied).
    pub ts_ms: u64,
    pub ops: Vec<Op>,
}

/// One op of an entry. Encoded through [`wire`] (which numbers the variants: append, never
/// reorder; a publish with a producer epoch is a variant of its own there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Publish(Publish),
    CommitOffset(CommitOffset),
    ConsumeNext(ConsumeNext),
    PutTopic(PutTopic),
    DeleteTopic(DeleteTopic),
    Trim(Trim),
    SetClusterId(SetClusterId),
    AssignNodeId(AssignNodeId),
    AdvanceConsumer(AdvanceConsumer),
    DeleteConsumer(DeleteConsumer),
    ConfigureGroup(ConfigureGroup),
    LeaseMessages(LeaseMessages),
    AckMessages(AckMessages),
    NackMessages(NackMessages),
    DeleteGroup(DeleteGroup),
    AllocateProducerId(AllocateProducerId),
}

impl Op {
    /// Approximate encoded size, used to bound batches.
    pub fn size_hint(&self) -> usize {
        match self {
            Op::Publish(p) => {
                64 + p.topic.len() + p.messages.iter().map(NewMessage::size).sum::<usize>()
            }
            Op::AckMessages(c) => 64 + 12 * c.messages.len(),
            Op::NackMessages(c) => 64 + 12 * c.messages.len(),
            _ => 128,
        }
    }
}

/// What applying one op answered; variant `i` answers [`Op`] variant `i` (up to `Error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    Published(Published),
    Committed(OffsetCommitted),
    Consumed(Consumed),
    Topic(TopicPut),
    Deleted(TopicDeleted),
    Trimmed(Trimmed),
    ClusterId(ClusterIdSet),
    NodeId(NodeIdAssigned),
    /// The state machine refused the op; the others in the entry are unaffected.
    Error(OpError),
    /// Answers [`Op::AdvanceConsumer`] (after `Error`: variants are only ever appended).
    ConsumerAdvanced(ConsumerAdvanced),
    /// Answers [`Op::DeleteConsumer`].
    ConsumerDeleted(ConsumerDeleted),
    GroupConfigured(GroupConfigured),
    Leased(Leased),
    Acked(Acked),
    Nacked(Nacked),
    GroupDeleted(GroupDeleted),
    ProducerIdAllocated(ProducerIdAllocated),
}

/// What applying a log entry returns to the proposer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Blank and membership entries.
    #[default]
    None,
    Ops(Vec<OpResult>),
}

/// A kind of op, and the reply applying it answers.
pub trait Request: Into<Op> + Send + 'static {
    type Reply: Into<OpResult> + Send + 'static;
    /// This command's reply out of an applied result; a result of another kind comes back as `Err`.
    fn reply(result: OpResult) -> Result<Self::Reply, OpResult>;
}

impl<R: Into<OpResult>> From<Result<R, OpError>> for OpResult {
    fn from(r: Result<R, OpError>) -> OpResult {
        r.map_or_else(OpResult::Error, Into::into)
    }
}

/// Ties a command type to its [`Op`] variant (same name) and its reply to an [`OpResult`] variant.
macro_rules! request {
    ($cmd:ident => $reply:ident in OpResult::$variant:ident) => {
        impl From<$cmd> for Op {
            fn from(c: $cmd) -> Op {
                Op::$cmd(c)
            }
        }
        impl From<$reply> for OpResult {
            fn from(r: $reply) -> OpResult {
                OpResult::$variant(r)
            }
        }
        impl Request for $cmd {
            type Reply = $reply;
            fn reply(result: OpResult) -> Result<$reply, OpResult> {
                match result {
                    OpResult::$variant(r) => Ok(r),
                    other => Err(other),
                }
            }
        }
    };
}

request!(Publish => Published in OpResult::Published);
request!(CommitOffset => OffsetCommitted in OpResult::Committed);
request!(ConsumeNext => Consumed in OpResult::Consumed);
request!(PutTopic => TopicPut in OpResult::Topic);
request!(DeleteTopic => TopicDeleted in OpResult::Deleted);
request!(Trim => Trimmed in OpResult::Trimmed);
request!(SetClusterId => ClusterIdSet in OpResult::ClusterId);
request!(AssignNodeId => NodeIdAssigned in OpResult::NodeId);
request!(AdvanceConsumer => ConsumerAdvanced in OpResult::ConsumerAdvanced);
request!(DeleteConsumer => ConsumerDeleted in OpResult::ConsumerDeleted);
request!(ConfigureGroup => GroupConfigured in OpResult::GroupConfigured);
request!(LeaseMessages => Leased in OpResult::Leased);
request!(AckMessages => Acked in OpResult::Acked);
request!(NackMessages => Nacked in OpResult::Nacked);
request!(DeleteGroup => GroupDeleted in OpResult::GroupDeleted);
request!(AllocateProducerId => ProducerIdAllocated in OpResult::ProducerIdAllocated);

#[cfg(test)]
pub(crate) mod tests;

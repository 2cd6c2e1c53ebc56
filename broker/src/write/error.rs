//! [`WriteError`]: the one error type a write (or an admin call, or a read barrier) comes back
//! with, whichever node did the work. It crosses the raft port inside forwarded answers, so it is
//! plain serializable data; `api/error.rs` maps it to HTTP once.
//!
//! The variants say what a client may assume:
//! - nothing was stored, retry anywhere: [`WriteError::NoLeader`], [`WriteError::NoQuorum`],
//!   [`WriteError::NotLeader`], [`WriteError::Unavailable`];
//! - the outcome is unknown: [`WriteError::Timeout`] (retry with a producer id to be safe);
//! - refused, nothing changed: [`WriteError::Op`] (the state machine's decision) and
//!   [`WriteError::Membership`] (the leader's, for admin calls).
//!
//! The first five variants keep the position (bincode numbers variants) they had when peers of an
//! older version sent them as `ClusterError`.

use serde::{Deserialize, Serialize};

use crate::command::OpError;

/// A Raft node id.
type NodeId = u64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum WriteError {
    #[error("no leader is known right now; the cluster may be electing one or lost its quorum")]
    NoLeader,
    #[error("this node leads but has lost contact with the majority of the cluster; it takes no writes until it is back")]
    NoQuorum,
    /// The node asked does not lead (nothing was appended); the proposer retries on the leader.
    #[error("this node is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// Nothing was stored (the node is stopping, the leader could not be reached, ...).
    #[error("{0}")]
    Unavailable(String),
    /// Not confirmed in time: for a write, its outcome is unknown.
    #[error("{0}")]
    Timeout(String),
    /// The state machine refused the op (the same on every replica).
    #[error(transparent)]
    Op(OpError),
    /// The leader refused a membership change.
    #[error(transparent)]
    Membership(MembershipError),
    /// A bug; the message is for the node's log, not for clients.
    #[error("{0}")]
    Internal(String),
}

/// Why the leader refused an admin call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum MembershipError {
    #[error("node {id} is already a member with different addresses ({existing})")]
    MemberExists { id: NodeId, existing: String },
    #[error("node {other} already uses raft address {raft_addr}")]
    AddressInUse { other: NodeId, raft_addr: String },
    #[error("node {id} is not a member; add it as a learner first")]
    UnknownMember { id: NodeId },
    #[error(
        "node {id} is not caught up with the leader (behind by {behind:?} entries); try again"
    )]
    LearnerLagging { id: NodeId, behind: Option<u64> },
    #[error("node {id} is the only voter; a cluster cannot remove its last voter")]
    LastVoter { id: NodeId },
    #[error("node {id} is not a voter; only voters can lead")]
    NotAVoter { id: NodeId },
    #[error("this node already belongs to cluster {}", cluster_id.as_deref().unwrap_or("(id not yet recorded)"))]
    AlreadyInitialized { cluster_id: Option<String> },
    #[error("node {id} belongs to no cluster")]
    NotAMember { id: NodeId },
    #[error("a leader{} still answers with a quorum; a forced recovery is only for a cluster that lost its quorum for good", leader.map(|l| format!(" (node {l})")).unwrap_or_default())]
    HasQuorum { leader: Option<NodeId> },
    /// openraft refused the change (another one in progress, ...).
    #[error("{0}")]
    Refused(String),
    #[error("node {id} is a member with incarnation {recorded}, not {given}: a node whose state dir was replaced is a new member; remove node {id} first")]
    IncarnationMismatch {
        id: NodeId,
        recorded: String,
        given: String,
    },
}

impl From<OpError> for WriteError {
    fn from(e: OpError) -> Self {
        WriteError::Op(e)
    }
}

impl From<MembershipError> for WriteError {
    fn from(e: MembershipError) -> Self {
        WriteError::Membership(e)
    }
}

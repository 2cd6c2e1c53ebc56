//! Peer RPC on the raft port: length-prefixed bincode frames over persistent TCP connections.
//!
//! ```text
//!  connect ─▶ "JNRAFT1\n" ─▶ ◀─ "JNRAFT1\n" + nonce ─▶ HMAC(secret, nonce) ─▶ ◀─ ok | refused
//!  then, one request at a time per connection:  u32 len | bincode(RpcRequest)  ◀─▶  u32 len | bincode(RpcResponse)
//! ```
//!
//! Besides openraft's three RPCs the port carries what followers send the leader: forwarded client
//! writes, membership admin calls, read-index requests for linearizable reads, and the leadership
//! hand-over nudge. Peers are dialled by name on every new connection, so a pod that came back with
//! a new IP is found again.

pub mod client;
pub mod codec;
pub mod server;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use super::{NodeAddr, NodeId, Op, OpResult, TypeConfig};
use crate::cluster::{ClusterError, ClusterView};

pub use client::{NetworkFactory, PeerPool, RpcFailure};
pub use server::{serve, RpcHandler};

#[derive(Debug, Serialize, Deserialize)]
pub enum RpcRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// Client writes a follower received; the leader proposes them as one entry.
    Forward(Vec<Op>),
    /// Run on this node, which must be the leader (what a follower forwards).
    Admin(AdminRequest),
    /// Run on the leader, wherever it is (what a joining node sends to any member).
    AdminAny(AdminRequest),
    /// Confirm leadership and answer the index a linearizable read must wait for.
    ReadIndex,
    /// Leadership hand-over: start an election now.
    TimeoutNow,
}

impl RpcRequest {
    /// Whether sending it twice does no harm.
    pub fn is_idempotent(&self) -> bool {
        !matches!(
            self,
            RpcRequest::Forward(_)
                | RpcRequest::Admin(AdminRequest::ReserveId { .. })
                | RpcRequest::AdminAny(AdminRequest::ReserveId { .. })
        )
    }

    pub fn name(&self) -> &'static str {
        match self {
            RpcRequest::AppendEntries(_) => "append_entries",
            RpcRequest::Vote(_) => "vote",
            RpcRequest::InstallSnapshot(_) => "install_snapshot",
            RpcRequest::Forward(_) => "forward",
            RpcRequest::Admin(_) => "admin",
            RpcRequest::AdminAny(_) => "admin_any",
            RpcRequest::ReadIndex => "read_index",
            RpcRequest::TimeoutNow => "timeout_now",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RpcResponse {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// The results and the log index of the entry that carried them.
    Forward(Result<(Vec<OpResult>, u64), ClusterError>),
    Admin(Result<AdminResponse, ClusterError>),
    ReadIndex(Result<u64, ClusterError>),
    TimeoutNow(Result<(), ClusterError>),
}

/// Membership calls; whoever receives one forwards it to the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum AdminRequest {
    /// A joining node asks for an id (idempotent per raft address).
    ReserveId {
        raft_addr: String,
    },
    AddLearner {
        id: NodeId,
        node: NodeAddr,
    },
    Promote {
        id: NodeId,
    },
    Remove {
        id: NodeId,
    },
    TransferLeader {
        to: NodeId,
    },
    /// The leader's view, with replication progress.
    View,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum AdminResponse {
    NodeId(NodeId),
    View(ClusterView),
}

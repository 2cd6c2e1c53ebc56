//! Errors of cluster operations. They travel between nodes on the raft port, so they are plain
//! serializable data; `api/error.rs` maps them to HTTP answers.

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use serde::{Deserialize, Serialize};

use crate::raft::{NodeAddr, NodeId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ClusterError {
    #[error("no leader is known right now; the cluster may be electing one or lost its quorum")]
    NoLeader,
    #[error("this node leads but has lost contact with the majority of the cluster; it takes no writes until it is back")]
    NoQuorum,
    #[error("this node is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{message}")]
    Conflict { code: String, message: String },
    #[error("{message}")]
    NotFound { code: String, message: String },
    #[error("{message}")]
    Invalid { code: String, message: String },
    #[error("{0}")]
    Internal(String),
}

impl ClusterError {
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        ClusterError::Conflict {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        ClusterError::NotFound {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn invalid(code: &str, message: impl Into<String>) -> Self {
        ClusterError::Invalid {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn from_read(e: RaftError<NodeId, CheckIsLeaderError<NodeId, NodeAddr>>) -> Self {
        match e {
            RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)) => {
                ClusterError::NotLeader {
                    leader: f.leader_id,
                }
            }
            RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q)) => {
                ClusterError::Unavailable(format!("the leader could not reach a quorum: {q}"))
            }
            RaftError::Fatal(f) => ClusterError::Unavailable(format!("raft stopped: {f}")),
        }
    }

    pub fn from_write(e: RaftError<NodeId, ClientWriteError<NodeId, NodeAddr>>) -> Self {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => ClusterError::NotLeader {
                leader: f.leader_id,
            },
            RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
                ClusterError::conflict("membership_change", c.to_string())
            }
            RaftError::Fatal(f) => ClusterError::Unavailable(format!("raft stopped: {f}")),
        }
    }
}

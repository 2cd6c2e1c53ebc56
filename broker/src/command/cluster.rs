//! The cluster's own records in the log: its id, and the ids of nodes that joined.

use serde::{Deserialize, Serialize};

/// Recorded once, right after bootstrap; a later one answers the id already recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetClusterId {
    pub cluster_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterIdSet {
    pub cluster_id: String,
}

/// Give a joining node an id, idempotent per raft address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignNodeId {
    pub raft_addr: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIdAssigned {
    pub node_id: u64,
}

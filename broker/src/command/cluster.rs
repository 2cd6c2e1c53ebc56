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

/// Hand out a Kafka producer id: a counter in the replicated state, so an id is never handed out
/// twice, whichever node leads and however often nodes restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocateProducerId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerIdAllocated {
    pub producer_id: u64,
}

//! `GET /v1/cluster`: who is in the cluster, who leads, how far each member got. Data only (it
//! travels in admin answers between nodes); `status.rs` builds it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::raft::NodeId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClusterView {
    /// Set once, right after bootstrap; `null` on a node that has not joined a cluster yet.
    pub cluster_id: Option<String>,
    /// The node that answered.
    pub node_id: NodeId,
    /// The answering node's incarnation: 32 lower-case hex digits, fixed for its state dir.
    #[serde(default)]
    pub incarnation: String,
    pub leader_id: Option<NodeId>,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    /// This node's last log index, last snapshot index and the index its log was purged up to.
    pub last_log_index: u64,
    pub snapshot_index: u64,
    pub purged_index: u64,
    /// On the leader: milliseconds since a quorum last acknowledged it (`null` elsewhere). A leader
    /// cut off from the majority sees this grow, and stops taking writes past the election timeout.
    pub quorum_ack_ms: Option<u64>,
    pub members: Vec<MemberView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub id: NodeId,
    pub raft_addr: String,
    pub api_addr: String,
    /// `voter` or `learner`.
    pub role: String,
    /// The incarnation recorded for the member (`null`: added without one).
    #[serde(default)]
    pub incarnation: Option<String>,
    /// Last log index known to be replicated to the member (known on the leader; `null` elsewhere).
    pub matched_index: Option<u64>,
}

impl ClusterView {
    pub fn member(&self, id: NodeId) -> Option<&MemberView> {
        self.members.iter().find(|m| m.id == id)
    }
}

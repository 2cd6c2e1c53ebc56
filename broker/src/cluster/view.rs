//! `GET /v1/cluster`: who is in the cluster, who leads, how far each member got.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Node;
use crate::raft::NodeId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClusterView {
    /// Set once, right after bootstrap; `null` on a node that has not joined a cluster yet.
    pub cluster_id: Option<String>,
    /// The node that answered.
    pub node_id: NodeId,
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
    /// Last log index known to be replicated to the member (known on the leader; `null` elsewhere).
    pub matched_index: Option<u64>,
}

impl ClusterView {
    pub fn member(&self, id: NodeId) -> Option<&MemberView> {
        self.members.iter().find(|m| m.id == id)
    }

    pub fn voters(&self) -> impl Iterator<Item = &MemberView> {
        self.members.iter().filter(|m| m.role == "voter")
    }
}

impl Node {
    /// This node's own view; replication progress only when it leads.
    pub fn local_view(&self) -> ClusterView {
        let m = self.metrics_now();
        let membership = m.membership_config.membership();
        let voters: std::collections::BTreeSet<NodeId> = membership.voter_ids().collect();
        let replication = m.replication.clone();
        let members = membership
            .nodes()
            .map(|(id, addr)| {
                let matched_index = match &replication {
                    Some(r) if *id == self.id => m.last_log_index,
                    Some(r) => r.get(id).map(|l| l.map_or(0, |l| l.index)),
                    None => None,
                };
                MemberView {
                    id: *id,
                    raft_addr: addr.raft_addr.clone(),
                    api_addr: addr.api_addr.clone(),
                    role: if voters.contains(id) {
                        "voter"
                    } else {
                        "learner"
                    }
                    .into(),
                    matched_index,
                }
            })
            .collect();
        ClusterView {
            cluster_id: self.store.cluster_id().ok().flatten(),
            node_id: self.id,
            leader_id: m.current_leader,
            term: m.current_term,
            commit_index: self.committed.load(std::sync::atomic::Ordering::Acquire),
            applied_index: m.last_applied.map_or(0, |l| l.index),
            last_log_index: m.last_log_index.unwrap_or(0),
            snapshot_index: m.snapshot.map_or(0, |l| l.index),
            purged_index: m.purged.map_or(0, |l| l.index),
            quorum_ack_ms: m.millis_since_quorum_ack,
            members,
        }
    }
}

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
    /// `host:port` Kafka clients are told for the member (its `--advertise-kafka`); absent when
    /// it has no Kafka listener or was added without one, and in answers of older nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_addr: Option<String>,
}

impl ClusterView {
    pub fn member(&self, id: NodeId) -> Option<&MemberView> {
        self.members.iter().find(|m| m.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A member as a node before `kafka_addr` existed answered it.
    const OLDER: &str = r#"{"id":2,"raft_addr":"n2:8080","api_addr":"n2:9090","role":"voter","incarnation":null,"matched_index":7}"#;

    /// The shape readers before `kafka_addr` decode (serde's default: unknown fields ignored).
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct OlderMember {
        id: NodeId,
        raft_addr: String,
        api_addr: String,
        role: String,
        #[serde(default)]
        incarnation: Option<String>,
        matched_index: Option<u64>,
    }

    #[test]
    fn kafka_addr_is_optional_both_ways_and_omitted_when_absent() {
        // An older node's answer reads, without a Kafka address.
        let m: MemberView = serde_json::from_str(OLDER).unwrap();
        assert_eq!((m.id, m.kafka_addr.as_deref()), (2, None));
        // Without one, the answer is what older nodes wrote, byte for byte.
        assert_eq!(serde_json::to_string(&m).unwrap(), OLDER);
        // With one it rides as a field of its own, and an older reader skips it.
        let with = MemberView {
            kafka_addr: Some("n2:9092".into()),
            ..m
        };
        let text = serde_json::to_string(&with).unwrap();
        assert!(text.ends_with(r#","kafka_addr":"n2:9092"}"#), "{text}");
        assert_eq!(serde_json::from_str::<MemberView>(&text).unwrap(), with);
        let older: OlderMember = serde_json::from_str(&text).unwrap();
        assert_eq!((older.id, older.matched_index), (2, Some(7)));
    }
}

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

/// A member. In JSON with `kafka_addr` when it has one; between nodes (bincode, admin answers)
/// without it, as before Kafka addresses existed — a field that is sometimes absent cannot be
/// bincode, and nodes of two versions exchange these — and the receiving node adds the Kafka
/// addresses from its own copy of the membership ([`ClusterView::with_kafka_addrs`]).
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
pub struct MemberView {
    pub id: NodeId,
    pub raft_addr: String,
    pub api_addr: String,
    /// `voter` or `learner`.
    pub role: String,
    /// The incarnation recorded for the member (`null`: added without one).
    pub incarnation: Option<String>,
    /// Last log index known to be replicated to the member (known on the leader; `null` elsewhere).
    pub matched_index: Option<u64>,
    /// `host:port` Kafka clients are told for the member (its `--advertise-kafka`); absent when
    /// it has no Kafka listener or was added without one, and in answers of older nodes.
    pub kafka_addr: Option<String>,
}

/// [`MemberView`] between nodes: the fields every version has, in their order.
#[derive(Serialize, Deserialize)]
struct MemberWire {
    id: NodeId,
    raft_addr: String,
    api_addr: String,
    role: String,
    #[serde(default)]
    incarnation: Option<String>,
    matched_index: Option<u64>,
}

/// [`MemberView`] as JSON: the same fields, then `kafka_addr` when there is one.
#[derive(Serialize, Deserialize)]
struct MemberJson {
    #[serde(flatten)]
    wire: MemberWire,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kafka_addr: Option<String>,
}

impl MemberView {
    fn into_parts(self) -> (MemberWire, Option<String>) {
        let wire = MemberWire {
            id: self.id,
            raft_addr: self.raft_addr,
            api_addr: self.api_addr,
            role: self.role,
            incarnation: self.incarnation,
            matched_index: self.matched_index,
        };
        (wire, self.kafka_addr)
    }

    fn from_parts(w: MemberWire, kafka_addr: Option<String>) -> MemberView {
        MemberView {
            id: w.id,
            raft_addr: w.raft_addr,
            api_addr: w.api_addr,
            role: w.role,
            incarnation: w.incarnation,
            matched_index: w.matched_index,
            kafka_addr,
        }
    }
}

impl Serialize for MemberView {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (wire, kafka_addr) = self.clone().into_parts();
        if s.is_human_readable() {
            MemberJson { wire, kafka_addr }.serialize(s)
        } else {
            wire.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for MemberView {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let j = MemberJson::deserialize(d)?;
            Ok(MemberView::from_parts(j.wire, j.kafka_addr))
        } else {
            Ok(MemberView::from_parts(MemberWire::deserialize(d)?, None))
        }
    }
}

impl ClusterView {
    pub fn member(&self, id: NodeId) -> Option<&MemberView> {
        self.members.iter().find(|m| m.id == id)
    }

    /// Fill in the members' Kafka addresses this node knows (`kafka_addr(id)`, from its own copy
    /// of the membership), where the view came without them (from another node).
    pub fn with_kafka_addrs(mut self, kafka_addr: impl Fn(NodeId) -> Option<String>) -> Self {
        for m in &mut self.members {
            if m.kafka_addr.is_none() {
                m.kafka_addr = kafka_addr(m.id);
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A member as a node before `kafka_addr` existed answered it.
    const OLDER: &str = r#"{"id":2,"raft_addr":"n2:8080","api_addr":"n2:9090","role":"voter","incarnation":null,"matched_index":7}"#;

    /// The shape nodes before `kafka_addr` read and wrote (JSON: unknown fields ignored; bincode:
    /// these fields in this order).
    #[derive(Serialize, Deserialize)]
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

    /// Between nodes (bincode) a member is what it was before Kafka addresses, whether it has one
    /// or not: a view with one member with and one without decodes (a skipped field broke the
    /// forwarded `GET /v1/cluster`), and an older node's bytes decode too.
    #[test]
    fn between_nodes_a_member_keeps_the_older_encoding() {
        let without: MemberView = serde_json::from_str(OLDER).unwrap();
        let with = MemberView {
            id: 3,
            kafka_addr: Some("n3:9092".into()),
            ..without.clone()
        };
        let older: OlderMember = serde_json::from_str(OLDER).unwrap();
        assert_eq!(
            bincode::serialize(&without).unwrap(),
            bincode::serialize(&older).unwrap(),
            "the older encoding, byte for byte"
        );
        let both = vec![without.clone(), with.clone()];
        let back: Vec<MemberView> =
            bincode::deserialize(&bincode::serialize(&both).unwrap()).unwrap();
        assert_eq!(back[0], without);
        assert_eq!(
            (back[1].id, back[1].kafka_addr.as_deref()),
            (3, None),
            "the receiver fills it in"
        );
        let view = ClusterView {
            cluster_id: None,
            node_id: 1,
            incarnation: String::new(),
            leader_id: None,
            term: 0,
            commit_index: 0,
            applied_index: 0,
            last_log_index: 0,
            snapshot_index: 0,
            purged_index: 0,
            quorum_ack_ms: None,
            members: back,
        }
        .with_kafka_addrs(|id| (id == 3).then(|| "n3:9092".to_string()));
        assert_eq!(view.members[1], with);
        assert_eq!(view.members[0].kafka_addr, None);
    }
}

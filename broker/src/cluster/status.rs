//! What a node can say about itself: its own view of the cluster, and whether it is ready.

use std::sync::atomic::Ordering;

use super::view::{ClusterView, MemberView};
use super::Node;
use crate::raft::NodeId;

impl Node {
    /// The Kafka address recorded for member `id` in this node's membership.
    pub fn kafka_addr_of(&self, id: NodeId) -> Option<String> {
        let m = self.metrics_now();
        let addr = m.membership_config.membership().get_node(&id).cloned();
        addr.and_then(|a| a.kafka_addr)
    }

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
                    incarnation: addr.incarnation.clone(),
                    kafka_addr: addr.kafka_addr.clone(),
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
            cluster_id: self.cluster_id(),
            node_id: self.id,
            incarnation: self.incarnation(),
            leader_id: self.known_leader(&m),
            term: m.current_term,
            commit_index: self.committed.load(Ordering::Acquire),
            applied_index: m.last_applied.map_or(0, |l| l.index),
            last_log_index: m.last_log_index.unwrap_or(0),
            snapshot_index: m.snapshot.map_or(0, |l| l.index),
            purged_index: m.purged.map_or(0, |l| l.index),
            quorum_ack_ms: m.millis_since_quorum_ack,
            members,
        }
    }
}

impl Node {
    /// Ready (`/readyz`): a member that knows a leader (and, leading, still reaches a majority),
    /// knows the cluster id and applied everything it knows is committed; not while shutting down.
    /// `Err` says why not.
    /// Why Raft stopped, when it stopped on its own: a fatal error (a storage error in the log, an
    /// apply, a checkpoint or a snapshot install; a panic), after which this node takes no part
    /// in the cluster until restarted. `None` while it runs, and after a stop this node asked for.
    pub fn raft_failure(&self) -> Option<String> {
        match &self.raft().metrics().borrow().running_state {
            Ok(()) => None,
            Err(openraft::error::Fatal::Stopped)
                if self.lifecycle.is_stopped() || self.restarting() =>
            {
                None
            }
            Err(f) => Some(f.to_string()),
        }
    }

    /// Resolves with [`Node::raft_failure`] once Raft stopped on its own (never, otherwise).
    /// Follows the openraft a forced recovery starts in place of the old one. Watches the role
    /// metrics: their channel closes with the core like the full metrics', which change several
    /// times per log entry.
    pub async fn raft_failed(&self) -> String {
        let mut rafts = self.raft.subscribe();
        let mut rx = rafts.borrow_and_update().server_metrics();
        loop {
            if let Some(why) = self.raft_failure() {
                return why;
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() {
                    // The core is gone: replaced by a forced recovery, or stopped (its last
                    // metrics said why, or it was a requested stop).
                    if self.restarting() {
                        if rafts.changed().await.is_err() {
                            return std::future::pending().await;
                        }
                        rx = rafts.borrow_and_update().server_metrics();
                        continue;
                    }
                    return match self.raft_failure() {
                        Some(why) => why,
                        None => std::future::pending().await,
                    };
                },
                r = rafts.changed() => {
                    if r.is_err() {
                        return std::future::pending().await;
                    }
                    rx = rafts.borrow_and_update().server_metrics();
                }
            }
        }
    }

    pub fn readiness(&self) -> Result<(), String> {
        if self.lifecycle.is_draining() {
            return Err("the node is shutting down".into());
        }
        let m = self.metrics_now();
        if m.membership_config
            .membership()
            .get_node(&self.id)
            .is_none()
        {
            return Err("this node is not a member of a cluster yet".into());
        }
        if !m
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == self.id)
        {
            return Err("a learner is not ready until it is promoted".into());
        }
        if self.known_leader(&m).is_none() {
            return Err("no leader is known".into());
        }
        if m.current_leader == Some(self.id) && !self.has_quorum() {
            return Err("this leader has lost contact with the majority".into());
        }
        if self.cluster_id().is_none() {
            return Err("the cluster id is not recorded yet".into());
        }
        let applied = m.last_applied.map_or(0, |l| l.index);
        let committed = self.committed.load(Ordering::Acquire);
        if applied < committed {
            return Err(format!(
                "catching up: applied {applied} of {committed} committed entries"
            ));
        }
        Ok(())
    }
}

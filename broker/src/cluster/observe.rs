//! Follows openraft's metrics stream: Prometheus gauges, and one info log line per role, leader
//! or membership change. The stream is a `watch` and may skip intermediate values, so a leader
//! change is counted on the (term, leader) pair: a leader elected in a new term counts even when
//! it is the same node, and terms skipped over in between had no leader this node could observe.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use openraft::ServerState;

use super::Node;

pub async fn run(node: Arc<Node>) {
    let mut rx = node.raft.metrics();
    let mut last_leader: Option<(u64, u64)> = None;
    let mut last_state = None;
    let mut last_membership = None;
    let mut lagging_peers: Vec<String> = Vec::new();
    loop {
        {
            let m = rx.borrow_and_update().clone();
            let mx = &node.metrics;
            mx.raft_term.set(m.current_term as i64);
            mx.raft_has_leader.set(m.current_leader.is_some() as i64);
            mx.raft_last_log_index
                .set(m.last_log_index.unwrap_or(0) as i64);
            mx.raft_applied_index
                .set(m.last_applied.map_or(0, |l| l.index) as i64);
            mx.raft_commit_index
                .set(node.committed.load(Ordering::Acquire) as i64);

            let membership = m.membership_config.membership();
            let is_voter = membership.voter_ids().any(|v| v == node.id);
            let state = match m.state {
                ServerState::Leader => "leader",
                ServerState::Candidate => "candidate",
                ServerState::Shutdown => "shutdown",
                ServerState::Learner => "learner",
                ServerState::Follower if !is_voter && membership.get_node(&node.id).is_some() => {
                    "learner"
                }
                ServerState::Follower => "follower",
            };
            for s in ["leader", "follower", "candidate", "learner", "shutdown"] {
                mx.raft_state
                    .with_label_values(&[s])
                    .set((s == state) as i64);
            }
            let voters = membership.voter_ids().count();
            let learners = membership.learner_ids().count();
            mx.raft_members
                .with_label_values(&["voter"])
                .set(voters as i64);
            mx.raft_members
                .with_label_values(&["learner"])
                .set(learners as i64);

            for p in lagging_peers.drain(..) {
                let _ = mx.raft_replication_lag.remove_label_values(&[p.as_str()]);
            }
            if let Some(rep) = &m.replication {
                let last = m.last_log_index.unwrap_or(0);
                for (peer, matched) in rep.iter().filter(|(p, _)| **p != node.id) {
                    let lag = last.saturating_sub(matched.map_or(0, |l| l.index));
                    let label = peer.to_string();
                    mx.raft_replication_lag
                        .with_label_values(&[label.as_str()])
                        .set(lag as i64);
                    lagging_peers.push(label);
                }
            }

            if let Some(l) = m.current_leader {
                if last_leader != Some((m.current_term, l)) {
                    mx.raft_leader_changes.inc();
                    tracing::info!(term = m.current_term, leader = l, "raft leader elected");
                    last_leader = Some((m.current_term, l));
                }
            }
            if last_state != Some(state) {
                tracing::info!(state, term = m.current_term, "raft role changed");
                last_state = Some(state);
            }
            let mlog = m.membership_config.log_id().map(|l| l.index);
            if last_membership != Some(mlog) {
                let voters: Vec<_> = membership.voter_ids().collect();
                let learners: Vec<_> = membership.learner_ids().collect();
                tracing::info!(?voters, ?learners, "raft membership changed");
                last_membership = Some(mlog);
            }
        }
        tokio::select! {
            r = rx.changed() => if r.is_err() { return },
            _ = node.shutdown.cancelled() => return,
        }
    }
}

//! The running node and its life in the cluster: wiring ([`start`]), joining ([`join`]), getting
//! commands committed wherever the leader is ([`propose`]), membership administration
//! ([`admin`]), when to campaign ([`elect`]), leadership hand-over ([`handover`]), the leader's
//! periodic duties ([`duties`]), log compaction ([`compaction`]), gauges ([`gauges`]), peer names
//! kept resolved ([`names`]) and the shutdown sequence ([`lifecycle`]).
//!
//! ```text
//!  front doors ─▶ write::Writer ─▶ Node as write::Propose (propose.rs) ─▶ leader? ─ yes ─▶ openraft client_write
//!                                                                           └─ no ─▶ rpc::Forward over peer/ to the leader,
//!                                                                                    whose rpc_handler.rs proposes it locally
//!  admin calls ─▶ admin.rs ─▶ on the leader, or rpc::Admin to it
//! ```
//!
//! The raft port carries the messages of [`rpc`] (openraft's own through [`raft_network`]); the
//! transport under it ([`crate::peer`]) knows nothing of them.

pub mod admin;
pub mod compaction;
pub mod disk;
pub mod duties;
pub mod elect;
pub mod gauges;
pub mod handover;
pub mod identity;
pub mod join;
pub mod lifecycle;
pub mod names;
pub mod propose;
pub mod raft_network;
pub mod restart;
pub mod rpc;
pub mod rpc_handler;
pub mod start;
pub mod status;
pub mod view;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use lifecycle::Lifecycle;
pub use view::{ClusterView, MemberView};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::peer::PeerPool;
use crate::raft::{NodeAddr, NodeId, Raft, RaftMetrics, RaftServerMetrics};
use crate::topics::TopicStore;

/// One node: its Raft instance, its storage and its peers. Built by [`start::start`]; the front
/// doors reach it through `write::Writer` and the methods of this module.
pub struct Node {
    pub(crate) id: NodeId,
    pub(crate) addr: NodeAddr,
    /// The running openraft; replaced by a forced recovery ([`restart`]): read it through
    /// [`Node::raft`], and follow replacements by subscribing.
    pub(crate) raft: tokio::sync::watch::Sender<Raft>,
    /// The storage an in-process restart of openraft reuses.
    pub(crate) recovery: restart::Recovery,
    pub(crate) store: TopicStore,
    pub(crate) db: sled::Db,
    pub(crate) pool: Arc<PeerPool>,
    pub(crate) config: Arc<Config>,
    pub(crate) metrics: Metrics,
    /// Highest committed index this node learned (from openraft's `save_committed`).
    pub(crate) committed: Arc<AtomicU64>,
    pub(crate) applied: Arc<AtomicU64>,
    /// The cluster id once this node saw it applied (it never changes after).
    pub(crate) cluster_id: OnceLock<String>,
    /// What `node.json` holds (the cluster id is added once known).
    pub(crate) identity: std::sync::Mutex<identity::Identity>,
    /// Set when a peer of a cluster connected while this node had none: its address belongs to
    /// that cluster, so it must not bootstrap a new one ([`start`]).
    pub(crate) claimed_by: OnceLock<String>,
    pub(crate) lifecycle: Lifecycle,
    /// Set on the leader while it hands leadership over: it takes no new writes or reads.
    pub(crate) transferring: AtomicBool,
    /// Set on a follower whose election timer ran out while it could not win a pre-vote
    /// ([`elect`]): openraft still names the last leader, but this node no longer hears it, so
    /// it reports no leader (`503 no_leader`, `/readyz` 503) until a leader reaches it again.
    /// Holds the term whose leader was lost, plus one (0: none lost): a leader of a later term
    /// is known at once, without waiting for the election timer to clear the flag (a forward
    /// to the lost leader must see the new one to give up on the old).
    pub(crate) leader_lost: AtomicU64,
    /// Woken when `leader_lost` is cleared: a leader became known without any change to the Raft
    /// metrics that [`Node::wait_for_leader`] watches.
    pub(crate) leader_found: tokio::sync::Notify,
    /// Snapshot chunks this node sends (`compaction` waits for a transfer to end).
    pub(crate) snapshot_sends: Arc<raft_network::SnapshotSends>,
    /// Serializes membership changes on the leader.
    pub(crate) admin_lock: tokio::sync::Mutex<()>,
    /// Refuses writes (503, before `client_write`) while the state dir's volume is nearly full.
    pub(crate) disk: disk::DiskGuard,
    pub(crate) started: std::time::Instant,
}

impl Node {
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Where peers and clients reach this node.
    pub fn addr(&self) -> &NodeAddr {
        &self.addr
    }

    /// The configuration this node runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    /// The node's applied state (reads; tests look at its wake-up map).
    pub fn topic_store(&self) -> &TopicStore {
        &self.store
    }

    /// The node's Prometheus metrics.
    pub fn node_metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The running openraft (a handle: a forced recovery may replace it meanwhile).
    pub fn raft(&self) -> Raft {
        self.raft.borrow().clone()
    }

    pub fn metrics_now(&self) -> RaftMetrics {
        self.raft().metrics().borrow().clone()
    }

    pub fn leader_id(&self) -> Option<NodeId> {
        self.known_leader(&self.raft().metrics().borrow())
    }

    /// The leader `m` names, unless this follower has lost it (see `leader_lost`).
    pub fn known_leader(&self, m: &RaftMetrics) -> Option<NodeId> {
        let lost = self.leader_lost.load(std::sync::atomic::Ordering::Acquire);
        m.current_leader
            .filter(|l| *l == self.id || !leader_lost_in(lost, m.current_term))
    }

    pub fn is_leader(&self) -> bool {
        self.leader_id() == Some(self.id)
    }

    /// This node's incarnation (its state dir's, `identity.rs`).
    pub fn incarnation(&self) -> String {
        self.identity
            .lock()
            .expect("identity lock")
            .incarnation
            .clone()
    }

    /// The cluster id, once recorded (cached: the sled read happens until it is known). The first
    /// time it is known, the peer handshake starts naming it and `node.json` records it.
    pub fn cluster_id(&self) -> Option<String> {
        if let Some(id) = self.cluster_id.get() {
            return Some(id.clone());
        }
        let id = self.store.cluster_id().ok().flatten()?;
        Some(
            self.cluster_id
                .get_or_init(|| {
                    self.pool.set_cluster_id(&id);
                    let mut ident = self.identity.lock().expect("identity lock");
                    if ident.cluster_id.as_deref() != Some(id.as_str()) {
                        ident.cluster_id = Some(id.clone());
                        if let Err(e) = identity::save(&self.config.state_dir, &ident) {
                            tracing::warn!(error = %e, "could not record the cluster id in node.json");
                        }
                    }
                    id
                })
                .clone(),
        )
    }

    /// How long a peer's last answer keeps counting toward the leader's quorum: twice the election
    /// timeout (after which the others may have elected someone else), and never under
    /// [`MIN_LEADER_LEASE`], so that a leader on a loaded machine (a follower's answer late by a
    /// few heartbeats) does not refuse writes with `503 no_quorum` it could have committed.
    pub fn leader_lease(&self) -> Duration {
        (self.config.election_timeout * 2).max(MIN_LEADER_LEASE)
    }

    /// On the leader: does a majority of the voters (this node included) still answer it? A peer
    /// counts while its last answer is younger than the [`Node::leader_lease`].
    pub fn has_quorum(&self) -> bool {
        let m = self.raft().metrics().borrow().clone();
        if m.current_leader != Some(self.id) {
            return false;
        }
        let lease = self.leader_lease();
        let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
        quorum_reached(&voters, self.id, |v| {
            self.pool.since_contact(v).is_some_and(|d| d <= lease)
        })
    }

    /// A member's addresses, from the current membership.
    pub fn member_addr(&self, id: NodeId) -> Option<NodeAddr> {
        self.raft()
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&id)
            .cloned()
    }

    /// Wait until some leader is known, up to `timeout` (a lost leader is not: see
    /// `leader_lost`; the next one comes with a new term, which changes the metrics, and the
    /// lost one becomes known again when it reaches this node, which wakes `leader_found`).
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<NodeId> {
        let mut rx = self.raft().metrics();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the check, so a clear between the check and the wait wakes it.
            let found = self.leader_found.notified();
            tokio::pin!(found);
            found.as_mut().enable();
            if let Some(l) = self.known_leader(&rx.borrow_and_update()) {
                return Some(l);
            }
            let woken = tokio::time::timeout_at(deadline, async {
                tokio::select! {
                    r = rx.changed() => r.is_ok(),
                    _ = &mut found => true,
                }
            })
            .await;
            if !matches!(woken, Ok(true)) {
                return None;
            }
        }
    }

    /// Wait until the leader is someone other than `old` (or `timeout`).
    pub async fn wait_leader_change(&self, old: NodeId, timeout: Duration) {
        self.wait_role(timeout, |m| m.current_leader.is_some_and(|l| l != old))
            .await;
    }

    /// Wait until openraft's role metrics (term, state, leader, membership) satisfy `done` or
    /// openraft stops (true), or `timeout` (false). These change only with the role: a waiter on
    /// the full metrics was woken several times per log entry (every proposal in flight, all the
    /// time), for nothing.
    pub(crate) async fn wait_role(
        &self,
        timeout: Duration,
        done: impl Fn(&RaftServerMetrics) -> bool,
    ) -> bool {
        let mut rx = self.raft().server_metrics();
        tokio::time::timeout(timeout, async {
            loop {
                if done(&rx.borrow_and_update()) {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return true;
                }
            }
        })
        .await
        .unwrap_or(false)
    }
}

/// Whether `lost` (a [`Node::leader_lost`] value) declares the leader of `term` lost.
fn leader_lost_in(lost: u64, term: u64) -> bool {
    lost != 0 && lost - 1 == term
}

/// A majority of `voters` answers: `me` always, the others when `reached` says so.
fn quorum_reached(voters: &[NodeId], me: NodeId, reached: impl Fn(NodeId) -> bool) -> bool {
    let n = voters.iter().filter(|v| **v == me || reached(**v)).count();
    n * 2 > voters.len()
}

/// The shortest leader lease ([`Node::leader_lease`]). Only decides how fast a leader cut off from
/// the majority answers `503 no_quorum` instead of trying (commits still need a quorum).
pub const MIN_LEADER_LEASE: Duration = Duration::from_secs(1);

/// How long to wait for an election: a few election timeouts.
pub fn election_wait(config: &Config) -> Duration {
    config.election_timeout * 6
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::{leader_lost_in, quorum_reached};

    #[test]
    fn a_lost_leader_is_lost_for_its_term_only() {
        assert!(!leader_lost_in(0, 0), "nothing lost");
        assert!(!leader_lost_in(0, 7), "nothing lost");
        assert!(leader_lost_in(8, 7), "the leader of term 7 was lost");
        // A leader elected after the loss (a later term) is known at once: a write forwarded to
        // the lost leader gives up on it as soon as the new one is heard.
        assert!(!leader_lost_in(8, 8));
        assert!(!leader_lost_in(8, 9));
    }

    #[test]
    fn a_leader_needs_a_strict_majority_of_voters_counting_itself() {
        assert!(quorum_reached(&[1], 1, |_| false));
        assert!(!quorum_reached(&[1, 2], 1, |_| false));
        assert!(quorum_reached(&[1, 2], 1, |_| true));
        assert!(!quorum_reached(&[1, 2, 3], 1, |_| false));
        assert!(quorum_reached(&[1, 2, 3], 1, |v| v == 3));
        assert!(!quorum_reached(&[1, 2, 3, 4], 1, |v| v == 3));
        assert!(quorum_reached(&[1, 2, 3, 4, 5], 1, |v| v >= 4));
    }
}

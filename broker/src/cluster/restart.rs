//! Forced recovery after losing a quorum for good (etcd's `--force-new-cluster`): this node
//! becomes the only voter of its cluster, keeping its log, its state machine and the cluster id.
//!
//! ```text
//!  check (member? a live quorum or leader?) ─▶ shut openraft down ─▶ its state machine is handed
//!  back (StateMachine::handover) ─▶ log: vote for a new term, then a membership entry {me} ─▶
//!  a new openraft on the same storage, resuming that state machine ─▶ it elects itself
//! ```
//!
//! Entries this node lacks are lost; the ones it holds beyond the old commit index are committed
//! by its first term as the only voter. Writes waiting on the old openraft get `504` (outcome
//! unknown). `serve --force-new-cluster` runs the same rewrite once, before the node serves.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::raft_network::NetworkFactory;
use super::{ClusterView, Node};
use crate::raft::log_store::LogStore;
use crate::raft::state_machine::{Applied, StateMachine};
use crate::raft::{raft_config, NodeAddr, NodeId, Raft};
use crate::write::{MembershipError, WriteError};

/// What an in-process restart of openraft needs: the storage it hands back.
pub struct Recovery {
    pub(crate) log_store: LogStore,
    /// Resolves with the applied state once the running openraft dropped its state machine.
    pub(crate) handover: Mutex<Option<oneshot::Receiver<Applied>>>,
    /// Set while openraft is restarted on purpose: its stop is not a failure.
    pub(crate) restarting: AtomicBool,
    /// One forced recovery at a time.
    pub(crate) lock: tokio::sync::Mutex<()>,
}

impl Recovery {
    pub fn new(log_store: LogStore, handover: oneshot::Receiver<Applied>) -> Recovery {
        Recovery {
            log_store,
            handover: Mutex::new(Some(handover)),
            restarting: AtomicBool::new(false),
            lock: tokio::sync::Mutex::new(()),
        }
    }
}

/// Who asks for the recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// `POST /v1/cluster/force-new-cluster`: refused while a leader with a live quorum exists.
    Api,
    /// `serve --force-new-cluster`, before serving: no check (nothing is heard yet).
    AtStart,
}

/// The longest wait for openraft to hand its state machine back after it shut down.
const HANDOVER_WAIT: Duration = Duration::from_secs(60);

/// What openraft holds about this node's place, read inside its core.
struct Place {
    voters: BTreeSet<NodeId>,
    members: BTreeSet<NodeId>,
    /// A leader's vote this node accepted, and how long ago it was last renewed.
    leader_heard: Option<Duration>,
}

impl Node {
    /// Make this node the only voter of its cluster (see the module doc). `Ok(false)`: it already
    /// was, nothing was rewritten.
    pub async fn force_new_cluster(&self, asked: Asked) -> Result<bool, WriteError> {
        let _one = self.recovery.lock.lock().await;
        let raft = self.raft();
        let me = self.id;
        let place = raft
            .with_raft_state(move |st| {
                let m = st.membership_state.effective().membership();
                let vote = st.vote_ref();
                Place {
                    voters: m.voter_ids().collect(),
                    members: m.nodes().map(|(id, _)| *id).collect(),
                    leader_heard: (vote.is_committed() && vote.leader_id().voted_for() != Some(me))
                        .then(|| st.vote_last_modified().map(|t| t.elapsed()))
                        .flatten(),
                }
            })
            .await
            .map_err(|e| WriteError::Unavailable(format!("raft stopped: {e}")))?;
        if !place.members.contains(&self.id) {
            return Err(MembershipError::NotAMember { id: self.id }.into());
        }
        if place.voters == BTreeSet::from([self.id]) && place.members.len() == 1 {
            return Ok(false);
        }
        if asked == Asked::Api {
            let lease = self.leader_lease();
            if self.has_quorum() || place.leader_heard.is_some_and(|d| d <= lease) {
                return Err(MembershipError::HasQuorum {
                    leader: self.leader_id(),
                }
                .into());
            }
        }
        tracing::warn!(
            id = self.id,
            old_voters = ?place.voters,
            "forced recovery: becoming the only voter of the cluster (entries only the others held are lost)"
        );
        self.restart_raft(Some(self.addr.clone()))
            .await
            .map_err(|e| WriteError::Internal(format!("forced recovery failed: {e}")))?;
        Ok(true)
    }

    /// `POST /v1/cluster/force-new-cluster`: recover, then wait for this node to lead and answer
    /// its view.
    pub async fn force_new_cluster_view(&self) -> Result<ClusterView, WriteError> {
        self.force_new_cluster(Asked::Api).await?;
        let raft = self.raft();
        let _ = raft.trigger().elect().await;
        raft.wait(Some(super::election_wait(&self.config)))
            .current_leader(self.id, "leader after a forced recovery")
            .await
            .map_err(|e| WriteError::Unavailable(format!("not leading yet: {e}")))?;
        Ok(self.local_view())
    }

    /// Stop openraft, optionally make `only` (this node) the only voter in the log, and start a
    /// new openraft on the same storage and state machine.
    async fn restart_raft(&self, only: Option<NodeAddr>) -> crate::Result<()> {
        let rec = &self.recovery;
        rec.restarting.store(true, Ordering::Release);
        let result = self.restart_raft_inner(only).await;
        rec.restarting.store(false, Ordering::Release);
        result
    }

    async fn restart_raft_inner(&self, only: Option<NodeAddr>) -> crate::Result<()> {
        let rec = &self.recovery;
        let old = self.raft();
        old.shutdown()
            .await
            .map_err(|e| crate::Error::Raft(format!("stop raft: {e}")))?;
        drop(old);
        let rx = rec
            .handover
            .lock()
            .expect("handover lock")
            .take()
            .ok_or_else(|| crate::Error::Raft("the state machine was already handed over".into()))?;
        let applied = tokio::time::timeout(HANDOVER_WAIT, rx)
            .await
            .map_err(|_| crate::Error::Raft("raft did not hand its state machine back".into()))?
            .map_err(|_| crate::Error::Raft("the state machine was lost".into()))?;
        if let Some(addr) = only {
            let membership = openraft::Membership::new(
                vec![BTreeSet::from([self.id])],
                BTreeMap::from([(self.id, addr)]),
            );
            let at = rec.log_store.force_membership(self.id, membership).await?;
            tracing::warn!(id = self.id, log_id = %at, "forced recovery: membership rewritten");
        }
        let mut sm = StateMachine::resume(
            self.store.clone(),
            rec.log_store.flusher(),
            self.config.state_dir.join("snapshots"),
            applied,
            self.applied.clone(),
        )?;
        *rec.handover.lock().expect("handover lock") = Some(sm.handover());
        let raft = new_raft(self, rec.log_store.clone(), sm).await?;
        self.raft.send_replace(raft);
        Ok(())
    }

    /// Whether openraft is being restarted on purpose right now.
    pub(crate) fn restarting(&self) -> bool {
        self.recovery.restarting.load(Ordering::Acquire)
    }
}

/// A new openraft for `node` on `log_store` and `sm`.
async fn new_raft(node: &Node, log_store: LogStore, sm: StateMachine) -> crate::Result<Raft> {
    let config = &node.config;
    let rc = raft_config(
        config.election_timeout.as_millis() as u64,
        config.snapshot_every,
        config.max_entry_bytes(),
    )
    .validate()
    .map_err(|e| crate::Error::Config(e.to_string()))?;
    let network = NetworkFactory {
        pool: node.pool.clone(),
        metrics: node.metrics.clone(),
    };
    Raft::new(node.id, Arc::new(rc), network, log_store, sm)
        .await
        .map_err(|e| crate::Error::Raft(e.to_string()))
}

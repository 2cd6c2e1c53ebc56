//! A running node and its life in the cluster: identity, start-up (bootstrap, join, managed),
//! membership administration, routing of writes and reads to the leader, leadership hand-over,
//! and the duties only the leader performs (cluster id, retention).
//!
//! ```text
//!  api/ ──▶ Node::{publish via write::Writer, read_barrier, admin} ──▶ leader? ── yes ─▶ openraft
//!                                                                     └─ no ─▶ raft port RPC to the leader
//! ```

pub mod admin;
pub mod error;
pub mod handover;
pub mod identity;
pub mod leader;
pub mod observe;
pub mod rpc;
pub mod start;
pub mod view;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use error::ClusterError;
pub use view::{ClusterView, MemberView};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::raft::network::{PeerPool, RpcFailure, RpcRequest, RpcResponse};
use crate::raft::{NodeAddr, NodeId, Raft, RaftMetrics};
use crate::topics::TopicStore;
use crate::write::Writer;

pub struct Node {
    pub id: NodeId,
    pub addr: NodeAddr,
    pub raft: Raft,
    pub store: TopicStore,
    pub db: sled::Db,
    pub pool: Arc<PeerPool>,
    pub config: Arc<Config>,
    pub metrics: Metrics,
    pub writer: Writer,
    /// Highest committed index this node learned (from openraft's `save_committed`).
    pub committed: Arc<AtomicU64>,
    pub applied: Arc<AtomicU64>,
    /// Set when shutdown begins: `/readyz` turns 503 and this node hands leadership over.
    pub shutting_down: AtomicBool,
    /// Set on the leader while it hands leadership over: it takes no new writes or reads.
    pub transferring: AtomicBool,
    /// Serializes membership changes on the leader.
    pub(crate) admin_lock: tokio::sync::Mutex<()>,
    /// Cancelled when the node stops for good: raft port, background tasks.
    pub shutdown: CancellationToken,
    /// Cancelled when the API stops taking requests: long-polls and streams end.
    pub stopping: CancellationToken,
    pub started: std::time::Instant,
}

impl Node {
    pub fn metrics_now(&self) -> RaftMetrics {
        self.raft.metrics().borrow().clone()
    }

    pub fn leader_id(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    pub fn is_leader(&self) -> bool {
        self.leader_id() == Some(self.id)
    }

    /// On the leader: does a majority of the voters (this node included) still answer it? A peer
    /// counts while its last answer is younger than the leader lease (twice the election timeout),
    /// after which the others may have elected someone else.
    pub fn has_quorum(&self) -> bool {
        let m = self.raft.metrics().borrow().clone();
        if m.current_leader != Some(self.id) {
            return false;
        }
        let lease = self.config.election_timeout * 2;
        let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
        let reached = voters
            .iter()
            .filter(|v| **v == self.id || self.pool.since_contact(**v).is_some_and(|d| d <= lease))
            .count();
        reached * 2 > voters.len()
    }

    /// A member's addresses, from the current membership.
    pub fn member_addr(&self, id: NodeId) -> Option<NodeAddr> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&id)
            .cloned()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Wait until some leader is known, up to `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<NodeId> {
        let mut rx = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(l) = rx.borrow_and_update().current_leader {
                return Some(l);
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    /// Send `req` to the current leader's raft port, waiting for one to be elected if needed.
    /// Requests that can be repeated are retried on a new leader; others are sent once to a
    /// reachable leader.
    pub async fn call_leader(
        &self,
        req: RpcRequest,
        timeout: Duration,
    ) -> Result<RpcResponse, ClusterError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let leader = self
                .wait_for_leader(remaining.min(election_wait(&self.config)))
                .await
                .ok_or(ClusterError::NoLeader)?;
            let addr = self.member_addr(leader).ok_or(ClusterError::NoLeader)?;
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.pool.call(&addr.raft_addr, &req, remaining).await {
                Ok(resp) => return Ok(resp),
                Err(RpcFailure::Unreachable(e)) => {
                    tracing::debug!(leader, error = %e, "leader unreachable; waiting for the cluster to move on");
                    if tokio::time::Instant::now() >= deadline {
                        return Err(ClusterError::NoLeader);
                    }
                    self.wait_leader_change(leader, remaining.min(election_wait(&self.config)))
                        .await;
                }
                Err(RpcFailure::Timeout) => {
                    return Err(ClusterError::Timeout(
                        "the leader did not answer in time".into(),
                    ))
                }
                Err(e) => {
                    return Err(ClusterError::Unavailable(format!(
                        "forwarding to the leader failed: {e}"
                    )))
                }
            }
        }
    }

    /// Wait until the leader is someone other than `old` (or `timeout`).
    pub async fn wait_leader_change(&self, old: NodeId, timeout: Duration) {
        let mut rx = self.raft.metrics();
        let _ = tokio::time::timeout(timeout, async {
            loop {
                if rx
                    .borrow_and_update()
                    .current_leader
                    .is_some_and(|l| l != old)
                {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
    }

    /// Linearizable read barrier: returns once this node applied everything committed before the call.
    pub async fn read_barrier(&self) -> Result<(), ClusterError> {
        let index = if self.is_leader() {
            self.local_read_index().await?
        } else {
            match self
                .call_leader(RpcRequest::ReadIndex, self.config.commit_timeout)
                .await?
            {
                RpcResponse::ReadIndex(r) => r?,
                _ => {
                    return Err(ClusterError::Internal(
                        "unexpected answer to read_index".into(),
                    ))
                }
            }
        };
        self.raft
            .wait(Some(self.config.commit_timeout))
            .applied_index_at_least(Some(index), "read barrier")
            .await
            .map_err(|e| ClusterError::Timeout(format!("waiting to apply up to {index}: {e}")))?;
        Ok(())
    }

    /// On the leader: confirm leadership with a quorum and answer the index reads must wait for.
    pub async fn local_read_index(&self) -> Result<u64, ClusterError> {
        if self.transferring.load(Ordering::Acquire) {
            return Err(ClusterError::NotLeader { leader: None });
        }
        match self.raft.ensure_linearizable().await {
            Ok(Some(l)) => Ok(l.index),
            Ok(None) => Ok(0),
            Err(e) => Err(ClusterError::from_read(e)),
        }
    }
}

/// How long to wait for an election: a few election timeouts.
pub fn election_wait(config: &Config) -> Duration {
    config.election_timeout * 6
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

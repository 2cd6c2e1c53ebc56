//! The write path: many concurrent client requests become few Raft entries.
//!
//! ```text
//!  handlers ──submit(op)──▶ [queue] ──▶ batcher: wait for a free proposal slot, then take every
//!                                       queued op (up to a size cap) as ONE Command
//!                                         │
//!                                         ├─ leader:   raft.client_write ─▶ append + group-commit fsync
//!                                         └─ follower: RpcRequest::Forward to the leader (same batch)
//!  each handler gets its own OpResult once the entry is committed and applied.
//! ```
//!
//! While a few proposals are in flight, new requests pile up in the queue and go out together in
//! the next one: the busier the node, the bigger the batches.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::cluster::{now_ms, ClusterError, Node};
use crate::raft::command::{Command, Op, OpResult, Response};
use crate::raft::network::{RpcFailure, RpcRequest, RpcResponse};

/// Proposals in flight at once; more requests wait in the queue and join the next batch. Few is
/// better: measured on 2 cores with 64 concurrent single-message publishes, 1–2 in flight gave
/// 1.5–2x the throughput of 4 (bigger batches, fewer entries to append, replicate and apply).
const MAX_IN_FLIGHT: usize = 2;
const MAX_BATCH_OPS: usize = 4096;
const MAX_BATCH_BYTES: usize = 2 * 1024 * 1024;
const QUEUE: usize = 16 * 1024;

struct Pending {
    op: Op,
    done: oneshot::Sender<Result<OpResult, ClusterError>>,
}

/// Handle for submitting writes; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Pending>,
}

pub struct WriterQueue(mpsc::Receiver<Pending>);

impl Writer {
    pub fn channel() -> (Writer, WriterQueue) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Writer { tx }, WriterQueue(rx))
    }

    /// Propose `op` (batched with others) and wait for its result.
    pub async fn submit(&self, op: Op) -> Result<OpResult, ClusterError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Pending { op, done })
            .await
            .map_err(|_| ClusterError::Unavailable("the node is shutting down".into()))?;
        rx.await
            .map_err(|_| ClusterError::Unavailable("the node is shutting down".into()))?
    }
}

/// The batcher task.
pub async fn run(node: Arc<Node>, WriterQueue(mut rx): WriterQueue) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut bytes = first.op.size_hint();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_OPS && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(p) => {
                    bytes += p.op.size_hint();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let node = node.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let (ops, dones): (Vec<Op>, Vec<_>) = batch.into_iter().map(|p| (p.op, p.done)).unzip();
            match node.propose(ops).await {
                Ok((results, index)) => {
                    // Read-your-writes: a client that wrote through this node sees the write here.
                    node.wait_applied(index).await;
                    for (done, r) in dones.into_iter().zip(results) {
                        let _ = done.send(Ok(r));
                    }
                }
                Err(e) => {
                    for done in dones {
                        let _ = done.send(Err(e.clone()));
                    }
                }
            }
        });
    }
}

impl Node {
    /// Commit `ops` as one entry through the leader, wherever it is; results in op order.
    pub async fn propose(&self, ops: Vec<Op>) -> Result<(Vec<OpResult>, u64), ClusterError> {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.config.commit_timeout;
        loop {
            let leader = match self.leader_id() {
                Some(l) => l,
                None => {
                    let wait = deadline
                        .saturating_duration_since(tokio::time::Instant::now())
                        .min(crate::cluster::election_wait(&self.config));
                    self.wait_for_leader(wait)
                        .await
                        .ok_or(ClusterError::NoLeader)?
                }
            };
            let attempt = if leader == self.id {
                self.propose_local(ops.clone()).await
            } else {
                self.forward(leader, ops.clone(), deadline).await
            };
            match attempt {
                Err(ClusterError::NotLeader { .. }) if tokio::time::Instant::now() < deadline => {
                    // Not appended anywhere: safe to send again once the leadership settled.
                    let wait = deadline
                        .saturating_duration_since(tokio::time::Instant::now())
                        .min(crate::cluster::election_wait(&self.config));
                    self.wait_leader_change(leader, wait).await;
                }
                Err(ClusterError::NotLeader { .. }) => return Err(ClusterError::NoLeader),
                Ok(done) => {
                    self.metrics
                        .publish_commit
                        .observe(started.elapsed().as_secs_f64());
                    return Ok(done);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Commit `ops` as one entry; this node must lead (else `NotLeader`, nothing appended).
    pub async fn propose_local(&self, ops: Vec<Op>) -> Result<(Vec<OpResult>, u64), ClusterError> {
        if self.transferring.load(Ordering::Acquire) {
            return Err(ClusterError::NotLeader { leader: None });
        }
        // A leader cut off from the majority would only time out (504); answer 503 at once.
        if self.is_leader() && !self.has_quorum() {
            return Err(ClusterError::NoQuorum);
        }
        let cmd = Command {
            ts_ms: now_ms(),
            ops,
        };
        let write = self.raft.client_write(cmd);
        match tokio::time::timeout(self.config.commit_timeout, write).await {
            Err(_) => Err(ClusterError::Timeout(
                "the write was not committed in time; its outcome is unknown".into(),
            )),
            Ok(Err(e)) => Err(ClusterError::from_write(e)),
            Ok(Ok(resp)) => match resp.data {
                Response::Ops(results) => Ok((results, resp.log_id.index)),
                Response::None => Err(ClusterError::Internal(
                    "entry applied without results".into(),
                )),
            },
        }
    }

    async fn forward(
        &self,
        leader: u64,
        ops: Vec<Op>,
        deadline: tokio::time::Instant,
    ) -> Result<(Vec<OpResult>, u64), ClusterError> {
        let addr = self
            .member_addr(leader)
            .ok_or(ClusterError::NotLeader { leader: None })?;
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        match self
            .pool
            .call(&addr.raft_addr, &RpcRequest::Forward(ops), remaining)
            .await
        {
            Ok(RpcResponse::Forward(r)) => r,
            Ok(_) => Err(ClusterError::Internal(
                "unexpected answer to a forwarded write".into(),
            )),
            // Nothing was sent: the leader is gone; wait for the next one and retry.
            Err(RpcFailure::Unreachable(_)) => {
                self.pool.forget(&addr.raft_addr);
                Err(ClusterError::NotLeader { leader: None })
            }
            Err(RpcFailure::Timeout) => Err(ClusterError::Timeout(
                "the leader did not confirm the write in time; its outcome is unknown".into(),
            )),
            // Sent, but no answer: the leader may or may not have committed it (504, not 503:
            // 503 promises nothing was stored).
            Err(e) => Err(ClusterError::Timeout(format!(
                "the connection to the leader broke after the write was sent; its outcome is unknown: {e}"
            ))),
        }
    }
}

impl Node {
    /// Wait (briefly) until this node applied `index`.
    pub async fn wait_applied(&self, index: u64) {
        if self.applied.load(Ordering::Acquire) >= index {
            return;
        }
        let _ = self
            .raft
            .wait(Some(std::time::Duration::from_secs(2)))
            .applied_index_at_least(Some(index), "read your writes")
            .await;
    }
}

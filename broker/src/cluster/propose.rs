//! Getting a command committed wherever the leader is — the one owner of that job. The node is
//! the batcher's [`Propose`]r:
//!
//! ```text
//!  propose(ops) ─▶ leader known? (else wait an election) ─┬─ this node ─▶ propose_local ─▶ raft.client_write
//!                                                        │                                  (append, replicate, fsync, apply)
//!                                                        └─ another ─▶ rpc::Forward ─▶ its rpc_handler ─▶ its propose_local
//!  NotLeader (nothing appended) ─▶ wait for the next leader, try again until the commit timeout
//!  then wait until this node applied the entry (read-your-writes on a forwarding follower)
//! ```
//!
//! A failure says what the client may assume ([`WriteError`]): nothing stored (503) or outcome
//! unknown (504). Linearizable reads ([`Node::read_barrier`]) take the same road to the leader.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};

use super::rpc::{self, Rpc};
use super::{election_wait, now_ms, Node};
use crate::command::{Command, Op, Response};
use crate::peer::RpcFailure;
use crate::raft::{NodeAddr, NodeId};
use crate::write::{Committed, Propose, WriteError};

/// How long a forwarding follower waits to apply an entry it got committed before answering.
const READ_YOUR_WRITES_WAIT: Duration = Duration::from_secs(2);

impl Propose for Node {
    async fn propose(&self, ops: Vec<Op>) -> Result<Committed, WriteError> {
        let committed = self.commit(ops).await?;
        self.wait_applied(committed.index).await;
        Ok(committed)
    }
}

impl Node {
    /// Commit `ops` as one entry through the leader, wherever it is; results in op order.
    async fn commit(&self, ops: Vec<Op>) -> Result<Committed, WriteError> {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.config.commit_timeout;
        loop {
            let leader = match self.leader_id() {
                Some(l) => l,
                None => self
                    .wait_for_leader(self.until(deadline).min(election_wait(&self.config)))
                    .await
                    .ok_or(WriteError::NoLeader)?,
            };
            let attempt = if leader == self.id {
                self.propose_local(ops.clone()).await
            } else {
                self.forward(leader, ops.clone(), deadline).await
            };
            match attempt {
                Err(WriteError::NotLeader { .. }) if tokio::time::Instant::now() < deadline => {
                    // Not appended anywhere: safe to send again once the leadership settled.
                    let wait = self.until(deadline).min(election_wait(&self.config));
                    self.wait_leader_change(leader, wait).await;
                }
                Err(WriteError::NotLeader { .. }) => return Err(WriteError::NoLeader),
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

    fn until(&self, deadline: tokio::time::Instant) -> Duration {
        deadline.saturating_duration_since(tokio::time::Instant::now())
    }

    /// Commit `ops` as one entry; this node must lead (else `NotLeader`, nothing appended).
    pub(crate) async fn propose_local(&self, ops: Vec<Op>) -> Result<Committed, WriteError> {
        if self.transferring.load(Ordering::Acquire) {
            return Err(WriteError::NotLeader { leader: None });
        }
        // A leader cut off from the majority would only time out (504); answer 503 at once.
        if self.is_leader() && !self.has_quorum() {
            return Err(WriteError::NoQuorum);
        }
        // A full disk would fail the append or the apply and stop Raft: refuse while nothing is
        // stored yet. The reservation lasts until the entry is written (or the outcome unknown).
        let _room = self.disk.admit(&ops)?;
        let cmd = Command {
            ts_ms: now_ms(),
            ops,
        };
        let raft = self.raft();
        // The term as `wait_deposed` sees it (the role metrics' vote).
        let term = raft.server_metrics().borrow().vote.leader_id().term;
        let deadline = tokio::time::Instant::now() + self.config.commit_timeout;
        let write = raft.client_write(cmd);
        tokio::pin!(write);
        // A leader deposed with this entry uncommitted is answered by openraft only when the
        // entry is cut from its log; when the new leader sends a snapshot instead, never. Waiting
        // out the commit timeout would hold one of the batcher's few slots, stalling every write
        // through this node long after it found the new leader (the fault campaign's leader
        // isolated, healed and the new leader cut off in turn). So once deposed, the entry gets a
        // grace of one election timeout, then its outcome is unknown (the new leader may have it).
        let answer = tokio::select! {
            r = tokio::time::timeout_at(deadline, &mut write) => r,
            _ = self.wait_deposed(term, self.until(deadline)) => {
                let grace = (tokio::time::Instant::now() + self.config.election_timeout).min(deadline);
                match tokio::time::timeout_at(grace, &mut write).await {
                    Err(_) if grace < deadline => {
                        return Err(WriteError::Timeout(
                            "this node lost its leadership before the write was committed; its outcome is unknown".into(),
                        ))
                    }
                    r => r,
                }
            }
        };
        match answer {
            Err(_) => Err(WriteError::Timeout(
                "the write was not committed in time; its outcome is unknown".into(),
            )),
            Ok(Err(e)) => Err(from_write(e)),
            Ok(Ok(resp)) => match resp.data {
                Response::Ops(results) => Ok(Committed {
                    results,
                    index: resp.log_id.index,
                }),
                Response::None => Err(WriteError::Internal("entry applied without results".into())),
            },
        }
    }

    async fn forward(
        &self,
        leader: NodeId,
        ops: Vec<Op>,
        deadline: tokio::time::Instant,
    ) -> Result<Committed, WriteError> {
        let addr = self
            .member_addr(leader)
            .ok_or(WriteError::NotLeader { leader: None })?;
        let call = rpc::call(
            &self.pool,
            &addr.raft_addr,
            rpc::Forward(ops),
            self.until(deadline),
        );
        tokio::pin!(call);
        // A forward to a leader the cluster has replaced (cut off by a partition, or dead without a
        // reset) would hold one of the batcher's few in-flight slots until TCP gives up on it
        // (seconds), stalling every write through this node. Once another leader is known, the
        // old one gets a grace of one election timeout to answer (a graceful hand-over answers
        // within it), then the write is abandoned as outcome-unknown and the next batches go to
        // the new leader.
        let answer = tokio::select! {
            r = &mut call => r,
            _ = self.wait_leader_change(leader, self.until(deadline)) => {
                match tokio::time::timeout(self.config.election_timeout, &mut call).await {
                    Ok(r) => r,
                    // Openraft's view, not `leader_id`: a follower that declared the new leader lost
                    // (its timer ran out as it voted), or that sits in the next election, must
                    // still give up on the old one. Only a leader elected again is waited for.
                    Err(_) if self.metrics_now().current_leader != Some(leader) => {
                        return Err(WriteError::Timeout(format!(
                            "leader {leader} was replaced while the write was in flight to it; its outcome is unknown"
                        )))
                    }
                    Err(_) => call.await,
                }
            }
        };
        match answer {
            Ok(answer) => answer,
            // Nothing was sent: the leader is gone; wait for the next one and retry.
            Err(RpcFailure::Unreachable(e)) => {
                tracing::warn!(leader, error = %e, "cannot reach the leader to forward a write; waiting for the cluster to move on");
                self.pool.forget(&addr.raft_addr);
                Err(WriteError::NotLeader { leader: None })
            }
            Err(RpcFailure::Timeout) => Err(WriteError::Timeout(
                "the leader did not confirm the write in time; its outcome is unknown".into(),
            )),
            // Sent, but no answer: the leader may or may not have committed it (504, not 503:
            // 503 promises nothing was stored).
            Err(e) => Err(WriteError::Timeout(format!(
                "the connection to the leader broke after the write was sent; its outcome is unknown: {e}"
            ))),
        }
    }

    /// Wait until this node no longer leads term `term` (a later term, or another leader), or
    /// `timeout`; returns whether it was deposed.
    async fn wait_deposed(&self, term: u64, timeout: Duration) -> bool {
        self.wait_role(timeout, |m| {
            m.vote.leader_id().term != term || m.current_leader != Some(self.id)
        })
        .await
    }

    /// Wait (briefly) until this node applied `index`.
    async fn wait_applied(&self, index: u64) {
        if self.applied.load(Ordering::Acquire) >= index {
            return;
        }
        let _ = self
            .raft()
            .wait(Some(READ_YOUR_WRITES_WAIT))
            .applied_index_at_least(Some(index), "read your writes")
            .await;
    }

    /// Send `req` to the current leader's raft port, waiting for one to be elected if needed. A
    /// leader that cannot be reached (nothing sent) is waited out and the next one asked; an
    /// exchange that failed after sending is not repeated.
    pub(crate) async fn call_leader<R: Rpc + Clone>(
        &self,
        req: R,
        timeout: Duration,
    ) -> Result<R::Response, WriteError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let wait = self.until(deadline).min(election_wait(&self.config));
            let leader = self
                .wait_for_leader(wait)
                .await
                .ok_or(WriteError::NoLeader)?;
            let addr = self.member_addr(leader).ok_or(WriteError::NoLeader)?;
            let remaining = self.until(deadline);
            match rpc::call(&self.pool, &addr.raft_addr, req.clone(), remaining).await {
                Ok(resp) => return Ok(resp),
                Err(RpcFailure::Unreachable(e)) => {
                    tracing::warn!(leader, error = %e, "leader unreachable; waiting for the cluster to move on");
                    if tokio::time::Instant::now() >= deadline {
                        return Err(WriteError::NoLeader);
                    }
                    self.wait_leader_change(leader, remaining.min(election_wait(&self.config)))
                        .await;
                }
                Err(RpcFailure::Timeout) => {
                    return Err(WriteError::Timeout(
                        "the leader did not answer in time".into(),
                    ))
                }
                Err(e) => {
                    return Err(WriteError::Unavailable(format!(
                        "forwarding to the leader failed: {e}"
                    )))
                }
            }
        }
    }

    /// Linearizable read barrier: returns once this node applied everything committed before the call.
    pub async fn read_barrier(&self) -> Result<(), WriteError> {
        let index = if self.is_leader() {
            self.local_read_index().await?
        } else {
            self.call_leader(rpc::ReadIndex, self.config.commit_timeout)
                .await??
        };
        self.raft()
            .wait(Some(self.config.commit_timeout))
            .applied_index_at_least(Some(index), "read barrier")
            .await
            .map_err(|e| WriteError::Timeout(format!("waiting to apply up to {index}: {e}")))?;
        Ok(())
    }

    /// On the leader: confirm leadership with a quorum and answer the index reads must wait for.
    pub(crate) async fn local_read_index(&self) -> Result<u64, WriteError> {
        if self.transferring.load(Ordering::Acquire) {
            return Err(WriteError::NotLeader { leader: None });
        }
        // openraft's read index is max(commit index, this term's first entry): sound because a
        // leader never resumes its term after a restart (see `LogStore::read_vote`).
        match self.raft().ensure_linearizable().await {
            Ok(l) => Ok(l.map_or(0, |l| l.index)),
            Err(e) => Err(from_read(e)),
        }
    }
}

/// openraft's answer to a linearizable-read check.
pub(crate) fn from_read(e: RaftError<NodeId, CheckIsLeaderError<NodeId, NodeAddr>>) -> WriteError {
    match e {
        RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)) => WriteError::NotLeader {
            leader: f.leader_id,
        },
        RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q)) => {
            WriteError::Unavailable(format!("the leader could not reach a quorum: {q}"))
        }
        RaftError::Fatal(f) => WriteError::Unavailable(format!("raft stopped: {f}")),
    }
}

/// openraft's answer to a write or a membership change.
pub(crate) fn from_write(e: RaftError<NodeId, ClientWriteError<NodeId, NodeAddr>>) -> WriteError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => WriteError::NotLeader {
            leader: f.leader_id,
        },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
            crate::write::MembershipError::Refused(c.to_string()).into()
        }
        // The entry may already be appended, replicated, even committed and applied (openraft
        // answers every pending write with `Fatal` when its core stops: a storage error in apply,
        // a shutdown mid-commit). "Nothing stored" (503) would make clients send it again.
        RaftError::Fatal(f) => WriteError::Timeout(format!(
            "raft stopped before the write was confirmed; its outcome is unknown: {f}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use openraft::error::{Fatal, ForwardToLeader};

    use super::*;

    #[test]
    fn a_write_cut_short_by_a_stopped_core_has_an_unknown_outcome_not_nothing_stored() {
        for fatal in [Fatal::Stopped, Fatal::Panicked] {
            let e = from_write(RaftError::Fatal(fatal));
            assert!(matches!(e, WriteError::Timeout(_)), "{e:?}");
        }
        let e = from_write(RaftError::APIError(ClientWriteError::ForwardToLeader(
            ForwardToLeader::empty(),
        )));
        assert_eq!(e, WriteError::NotLeader { leader: None });
    }

    #[test]
    fn a_read_check_against_a_stopped_core_stored_nothing() {
        let e = from_read(RaftError::Fatal(Fatal::Stopped));
        assert!(matches!(e, WriteError::Unavailable(_)), "{e:?}");
    }
}

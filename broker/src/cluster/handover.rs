//! Leadership hand-over, for `POST /v1/cluster/transfer-leader`, rolling restarts and graceful
//! shutdown. openraft 0.9 has no TimeoutNow, so the leader (1) stops accepting writes and reads,
//! (2) waits until the target has its whole log, (3) stops heartbeating so the followers' leader
//! lease runs out, and (4) keeps nudging the target to start an election until it wins; the old
//! leader then steps down on seeing the higher term. Writes pause for about one election timeout.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::admin::CatchUp;
use super::rpc;
use super::Node;
use crate::raft::NodeId;
use crate::write::{MembershipError, WriteError};

const NUDGE_EVERY: Duration = Duration::from_millis(40);

impl Node {
    /// Hand leadership to `to`; returns the new leader (normally `to`).
    pub async fn transfer_leadership(
        &self,
        to: NodeId,
        catch_up: Duration,
    ) -> Result<NodeId, WriteError> {
        if to == self.id {
            return Ok(self.id);
        }
        let m = self.metrics_now();
        if !m
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == to)
        {
            return Err(MembershipError::NotAVoter { id: to }.into());
        }
        let target = self
            .member_addr(to)
            .ok_or(MembershipError::UnknownMember { id: to })?;

        self.transferring.store(true, Ordering::Release);
        let result = async {
            self.wait_caught_up(to, 0, catch_up)
                .await
                .map_err(|e| match e {
                    CatchUp::NotLeader(e) => e,
                    CatchUp::Behind(_) => WriteError::Timeout(format!(
                        "node {to} did not catch up with the leader in time"
                    )),
                })?;
            self.raft.runtime_config().heartbeat(false);
            let deadline = tokio::time::Instant::now() + self.config.election_timeout * 8;
            loop {
                let _ = rpc::call(
                    &self.pool,
                    &target.raft_addr,
                    rpc::Addressed(target.incarnation.clone(), rpc::TimeoutNow),
                    NUDGE_EVERY * 4,
                )
                .await;
                self.wait_leader_change(self.id, NUDGE_EVERY).await;
                match self.leader_id() {
                    Some(l) if l != self.id => return Ok(l),
                    _ if tokio::time::Instant::now() >= deadline => {
                        return Err(WriteError::Timeout(format!(
                            "node {to} did not take over leadership in time"
                        )))
                    }
                    _ => {}
                }
            }
        }
        .await;
        self.raft.runtime_config().heartbeat(true);
        self.transferring.store(false, Ordering::Release);
        if let Ok(l) = &result {
            tracing::info!(from = self.id, to = *l, "leadership handed over");
        }
        result
    }

    /// Before stopping: if this node leads, hand over to the most caught-up other voter.
    pub async fn step_down_for_shutdown(&self) {
        let m = self.metrics_now();
        if m.current_leader != Some(self.id) {
            return;
        }
        let best = m
            .membership_config
            .membership()
            .voter_ids()
            .filter(|v| *v != self.id)
            .max_by_key(|v| {
                m.replication
                    .as_ref()
                    .and_then(|r| r.get(v).cloned())
                    .flatten()
                    .map(|l| l.index)
            });
        if let Some(to) = best {
            // Peers that do not catch up quickly are likely stopping too: do not hold shutdown for long.
            match self
                .transfer_leadership(to, self.config.election_timeout * 4)
                .await
            {
                Ok(l) => tracing::info!(new_leader = l, "handed leadership over before shutdown"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not hand leadership over before shutdown")
                }
            }
        }
    }

    /// On the target of a hand-over: campaign now.
    pub async fn on_timeout_now(&self) -> Result<(), WriteError> {
        self.raft
            .trigger()
            .elect()
            .await
            .map_err(|e| WriteError::Unavailable(e.to_string()))
    }
}

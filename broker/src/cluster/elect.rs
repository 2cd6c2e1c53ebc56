//! When to campaign: elections with a pre-vote (Raft thesis §9.6).
//!
//! openraft 0.9 campaigns on its own timer and takes a new term for every attempt. A node cut off
//! from the others (a follower isolated by a partition) therefore raised its term every election
//! timeout, and when the partition healed its higher term deposed the majority's working leader:
//! an election, and writes refused, for nothing (the fault campaign's random 1|2 splits).
//!
//! So openraft's own election timer is off (`enable_elect: false` in `raft::raft_config`) and
//! [`run`] decides instead, on the timer openraft would have used: it first asks the voters
//! whether they would vote for this node ([`PreVote`]; answering changes nothing anywhere), and
//! only when a majority would, starts openraft's election (`trigger().elect()`), which then runs
//! as before. [`Node::on_pre_vote`] answers yes when the asking node's log is at least as up to
//! date as this one's and this node has no leader: a follower that heard from its leader within
//! the lease openraft gives a leader (the maximum election timeout) says no, and so does a leader
//! that a majority still answers. A node that cannot reach a majority never raises its term.
//!
//! A follower whose timer ran out and that cannot win a pre-vote stops naming its old leader
//! (`Node::leader_lost`): it answers `503 no_leader` instead of forwarding writes into the void,
//! until a leader reaches it again.
//!
//! The leadership hand-over does not go through here: its target is told to campaign at once
//! (`rpc::TimeoutNow`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use openraft::ServerState;
use rand::Rng;

use super::rpc::{self, PreVote};
use super::{quorum_reached, Node};
use crate::raft::NodeId;

/// What one node's Raft state says about campaigning now.
struct Timer {
    state: ServerState,
    /// Since openraft last updated the vote: a leader's message accepted, a vote granted, a
    /// campaign started (`None`: never since start).
    since_vote: Option<Duration>,
    /// Whether the vote is a leader's (granted by a quorum) rather than a candidate's.
    committed: bool,
    /// The vote's term, read with `since_vote` (one snapshot): the term whose leader a silent
    /// timer declares lost. The metrics' term may already be a newer one, for which this node
    /// has just voted; declaring that one lost would stall the writes through this node.
    term: u64,
}

impl Node {
    async fn timer(&self) -> Option<Timer> {
        self.raft()
            .with_raft_state(|s| Timer {
                state: s.server_state,
                since_vote: s.vote_last_modified().map(|t| t.elapsed()),
                committed: s.vote_ref().is_committed(),
                term: s.vote_ref().leader_id().get_term(),
            })
            .await
            .ok()
    }

    /// The lease during which a follower that heard from a leader refuses to vote for another:
    /// openraft's (`leader_lease` = the maximum election timeout).
    fn vote_lease(&self) -> Duration {
        self.config.election_timeout * 2
    }

    /// The answer to a [`PreVote`].
    pub async fn on_pre_vote(&self, req: &PreVote) -> bool {
        let Some(t) = self.timer().await else {
            return false;
        };
        let mine = self.raft().data_metrics().borrow().last_log;
        let has_leader = match t.state {
            ServerState::Leader => self.has_quorum(),
            // Campaigning itself right now: endorsing another would only split the votes (both
            // campaigns would fail and both retry); its own campaign may well win.
            ServerState::Candidate => t
                .since_vote
                .is_some_and(|d| d < self.config.election_timeout),
            _ => t.committed && t.since_vote.is_some_and(|d| d <= self.vote_lease()),
        };
        let grant = !has_leader && req.last_log >= mine;
        tracing::debug!(
            candidate = req.candidate,
            term = req.term,
            grant,
            has_leader,
            "pre-vote"
        );
        grant
    }

    /// Ask every other voter; whether a majority (this node included) would vote for this one.
    async fn pre_vote(&self) -> bool {
        let m = self.metrics_now();
        let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
        let req = PreVote {
            candidate: self.id,
            term: m.current_term + 1,
            last_log: self.raft().data_metrics().borrow().last_log,
        };
        let asks = voters.iter().filter(|v| **v != self.id).filter_map(|v| {
            let addr = m.membership_config.membership().get_node(v)?.clone();
            let req = req.clone();
            Some(async move {
                let granted = rpc::call(
                    &self.pool,
                    &addr.raft_addr,
                    rpc::Addressed(addr.incarnation.clone(), req),
                    self.config.election_timeout,
                )
                .await;
                if granted.is_err() {
                    let peer = v.to_string();
                    self.metrics
                        .peer_rpc_failures
                        .with_label_values(&[peer.as_str(), "pre_vote"])
                        .inc();
                }
                (*v, matches!(granted, Ok(true)))
            })
        });
        // Stop at the first majority: a peer that does not answer (stopped, cut off) must not
        // hold the campaign for longer than the call's timeout, nor for a slow connect.
        let mut pending: futures::stream::FuturesUnordered<_> = asks.collect();
        let mut granted: Vec<NodeId> = Vec::new();
        let mut won = quorum_reached(&voters, self.id, |_| false);
        let deadline = tokio::time::Instant::now() + self.config.election_timeout;
        while !won {
            match tokio::time::timeout_at(deadline, pending.next()).await {
                Ok(Some((v, true))) => {
                    granted.push(v);
                    won = quorum_reached(&voters, self.id, |v| granted.contains(&v));
                }
                Ok(Some((_, false))) => {}
                Ok(None) | Err(_) => break,
            }
        }
        if won {
            tracing::info!(term = req.term, granted = ?granted, "pre-vote won: campaigning");
        } else {
            // Every election timeout while cut off from the majority: not worth more than debug.
            tracing::debug!(term = req.term, granted = ?granted, "pre-vote lost: not campaigning");
        }
        won
    }
}

/// The election timer of one node (runs on every node; acts while it is a voter without a leader).
pub async fn run(node: Arc<Node>) {
    let et = node.config.election_timeout;
    // Drawn once per attempt (not at every check, which would favour the shortest draws and make
    // two followers campaign together).
    let mut jitter = random_jitter(et);
    let mut pause = et;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = node.lifecycle.stopped() => return,
        }
        let Some(t) = node.timer().await else {
            // openraft stopped: for good, or replaced by a forced recovery or a restore
            // (`restart.rs`), whose new instance this timer drives as well.
            if node.lifecycle.is_stopped() || node.raft_failure().is_some() {
                return;
            }
            pause = et;
            continue;
        };
        let m = node.metrics_now();
        let voter = m
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == node.id);
        if t.state == ServerState::Leader
            || !voter
            || node.transferring.load(Ordering::Acquire)
            || node.lifecycle.is_draining()
        {
            node.set_leader_lost(0);
            pause = et;
            continue;
        }
        // A follower of a leader waits until the voters stop refusing votes for the leader's
        // sake (openraft's lease, the maximum election timeout) plus half an election timeout
        // and the jitter: 250-350 ms by default. A failed campaign is retried after one to two
        // election timeouts, like openraft's own timer.
        let wait = if t.committed {
            node.vote_lease() + et / 2 + jitter
        } else {
            et + jitter
        };
        let single = m.membership_config.membership().voter_ids().count() == 1;
        if single && t.state == ServerState::Candidate {
            pause = et;
            continue;
        }
        match t.since_vote {
            Some(since) if since < wait && !single => {
                // A leader (or a campaign) was heard from within the wait.
                node.set_leader_lost(0);
                pause = (wait - since).min(et);
                continue;
            }
            _ => {}
        }
        // The leader has been silent for longer than an election timeout after its lease: the
        // leader of this term is lost (a leader of a later term is known as soon as it is heard).
        node.set_leader_lost(t.term + 1);
        if node.pre_vote().await {
            if let Err(e) = node.raft().trigger().elect().await {
                tracing::warn!(error = %e, "could not start an election");
                if node.lifecycle.is_stopped() || node.raft_failure().is_some() {
                    return;
                }
            }
        }
        // A campaign restarts the vote's age; a lost pre-vote waits before asking again.
        jitter = random_jitter(et);
        pause = et / 2 + jitter;
    }
}

impl Node {
    /// Set [`Node::leader_lost`] (0 clears it), and `jumpnet_raft_has_leader` with it.
    fn set_leader_lost(&self, lost: u64) {
        let was = self.leader_lost.swap(lost, Ordering::AcqRel);
        let known = self.known_leader(&self.metrics_now()).is_some();
        self.metrics.raft_has_leader.set(known as i64);
        if was != 0 && lost == 0 {
            self.leader_found.notify_waiters();
        }
    }
}

/// Somewhere in one election timeout, at random.
fn random_jitter(et: Duration) -> Duration {
    et.mul_f64(rand::thread_rng().gen_range(0.0..1.0))
}

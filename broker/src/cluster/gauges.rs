//! Every gauge the node keeps, from two sources:
//! - [`follow_raft`]: openraft's metrics stream → the `jumpnet_raft_*` gauges, and one info log
//!   line per role, leader or membership change. The stream is a `watch` and may skip
//!   intermediate values, so a leader change is counted on the (term, leader) pair: a leader
//!   elected in a new term counts even when it is the same node, and terms skipped over in
//!   between had no leader this node could observe.
//! - [`sample_storage`]: storage used, topics, per-topic messages (opt-in) and uptime, sampled
//!   periodically.
//! - [`Node::sample_consumer_lag`]: the named consumers' lag gauges, computed when `/metrics` is
//!   scraped (one scan of the positions; never per message).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use openraft::ServerState;

use super::Node;
use crate::raft::{Raft, RaftMetrics, RaftServerMetrics};
use crate::topics::group::PartLog;

pub async fn follow_raft(node: Arc<Node>) {
    // A forced recovery replaces openraft: follow the new one's metrics.
    let mut rafts = node.raft.subscribe();
    let (mut rx, mut role) = subscribe(&mut rafts);
    let mut last_leader: Option<(u64, u64)> = None;
    let mut last_state = None;
    let mut last_membership = None;
    let mut lagging_peers: Vec<String> = Vec::new();
    loop {
        {
            drop(role.borrow_and_update());
            let m = rx.borrow_and_update().clone();
            let mx = &node.metrics;
            mx.raft_term.set(m.current_term as i64);
            mx.raft_has_leader
                .set(node.known_leader(&m).is_some() as i64);
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
        // A role change (term, state, leader, membership) is followed at once; the data gauges
        // (log, applied, commit, replication lag) at most every DATA_GAUGE_PERIOD: openraft sends
        // its full metrics several times per log entry, and a pass here per send cost a wake-up
        // and the label lookups above each time.
        let data_changed = async {
            let r = rx.changed().await;
            if r.is_ok() {
                tokio::time::sleep(DATA_GAUGE_PERIOD).await;
            }
            r
        };
        tokio::select! {
            r = data_changed => if r.is_err() {
                // This openraft stopped: for good, or replaced by a forced recovery.
                if rafts.changed().await.is_err() { return }
                (rx, role) = subscribe(&mut rafts);
            },
            r = role.changed() => if r.is_err() {
                if rafts.changed().await.is_err() { return }
                (rx, role) = subscribe(&mut rafts);
            },
            r = rafts.changed() => {
                if r.is_err() { return }
                (rx, role) = subscribe(&mut rafts);
            }
            _ = node.lifecycle.stopped() => return,
        }
    }
}

/// How often, at most, the data gauges follow openraft's metrics.
const DATA_GAUGE_PERIOD: std::time::Duration = std::time::Duration::from_millis(100);

/// The full and the role metrics of the current openraft.
fn subscribe(
    rafts: &mut tokio::sync::watch::Receiver<Raft>,
) -> (
    tokio::sync::watch::Receiver<RaftMetrics>,
    tokio::sync::watch::Receiver<RaftServerMetrics>,
) {
    let raft = rafts.borrow_and_update();
    (raft.metrics(), raft.server_metrics())
}

/// Samples the storage gauges every retention-check interval, for the node's lifetime.
pub async fn sample_storage(node: Arc<Node>) {
    let mut tick = tokio::time::interval(node.config.retention_check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = node.lifecycle.stopped() => return,
        }
        node.sample_gauges().await;
    }
}

impl Node {
    /// Gauges that come from storage rather than from openraft's metrics stream.
    async fn sample_gauges(&self) {
        let db = self.db.clone();
        let limit = self.config.topic_metrics_limit;
        let sampled = self
            .store
            .blocking(move |s| {
                let topics = s.topics()?;
                let n = topics.len();
                let mut per_topic = Vec::new();
                for (name, meta) in topics.into_iter().take(limit) {
                    // Every partition's messages.
                    let mut messages = meta.messages();
                    for p in 1..s.partitions(&name)? {
                        messages += s.partition(&name, p)?.map_or(0, |m| m.messages());
                    }
                    per_topic.push((name, messages));
                }
                Ok((db.size_on_disk().unwrap_or(0), n, per_topic))
            })
            .await;
        if let Ok((disk, n, per_topic)) = sampled {
            self.metrics
                .storage_used
                .set(disk as i64 + snapshot_bytes(&self.config.state_dir) as i64);
            self.metrics.topics.set(n as i64);
            if limit > 0 {
                self.metrics.topic_messages.reset();
                for (name, messages) in per_topic {
                    self.metrics
                        .topic_messages
                        .with_label_values(&[name.as_str()])
                        .set(messages as i64);
                }
            }
        }
        self.sample_groups().await;
        self.metrics
            .uptime
            .set(self.started.elapsed().as_secs_f64());
    }
}

/// The lag gauges of one scan of the named consumer positions.
#[derive(Debug, Default, PartialEq, Eq)]
struct ConsumerLag {
    positions: u64,
    max: u64,
    sum: u64,
    /// (topic, consumer, lag) of the first `limit` positions, then ("other", "other", the rest
    /// added up) when there are more.
    series: Vec<(String, String, u64)>,
}

/// The lag gauges of every named position on a topic that exists (in key order).
fn consumer_lag(store: &crate::topics::TopicStore, limit: usize) -> crate::Result<ConsumerLag> {
    let mut out = ConsumerLag::default();
    let mut other: Option<u64> = None;
    for p in store.consumer_lags(None)? {
        out.positions += 1;
        out.max = out.max.max(p.lag);
        out.sum = out.sum.saturating_add(p.lag);
        // A consumer's positions on a topic's other partitions add to its one series.
        if p.partition > 0 {
            if let Some(s) = out
                .series
                .iter_mut()
                .find(|(t, c, _)| *t == p.topic && *c == p.consumer)
            {
                s.2 += p.lag;
                continue;
            }
        }
        if out.series.len() < limit {
            out.series.push((p.topic, p.consumer, p.lag));
        } else if limit > 0 {
            *other.get_or_insert(0) += p.lag;
        }
    }
    if let Some(rest) = other {
        out.series.push(("other".into(), "other".into(), rest));
    }
    Ok(out)
}

impl Node {
    /// Refresh the named consumers' lag gauges (on each scrape of `/metrics`).
    pub async fn sample_consumer_lag(&self) {
        let limit = self.config.consumer_metrics_limit;
        let Ok(l) = self.store.blocking(move |s| consumer_lag(s, limit)).await else {
            return;
        };
        let m = &self.metrics;
        m.consumer_positions.set(l.positions as i64);
        m.consumer_lag_max.set(l.max as i64);
        m.consumer_lag_sum.set(l.sum as i64);
        if limit > 0 {
            m.consumer_position_lag.reset();
            for (topic, consumer, lag) in l.series {
                m.consumer_position_lag
                    .with_label_values(&[topic.as_str(), consumer.as_str()])
                    .set(lag as i64);
            }
        }
    }
}

impl Node {
    /// The consumer-group metrics: sums over every group (bounded by the groups' outstanding
    /// messages, not by topic size), and with `--metrics-group-labels N` the lag and in-flight
    /// count of the first N groups by name (the rest added up in `topic="other",group="other"`).
    async fn sample_groups(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let limit = self.config.group_metrics_limit;
        let sums = self
            .store
            .blocking(move |s| {
                let mut metas = std::collections::HashMap::new();
                let (mut in_flight, mut lag, mut totals) = (0, 0, [0u64; 3]);
                let mut series: Vec<(String, String, u64, u64)> = Vec::new();
                let mut other: Option<(u64, u64)> = None;
                for (topic, group, g) in s.all_groups()? {
                    if !metas.contains_key(&topic) {
                        let parts = PartLog::of(&s.partition_metas(&topic)?);
                        metas.insert(topic.clone(), parts);
                    }
                    let parts = &metas[&topic];
                    if parts.is_empty() {
                        continue;
                    }
                    let st = g.stats(now, parts);
                    in_flight += st.in_flight;
                    lag += st.lag;
                    totals[0] += g.redelivered;
                    totals[1] += g.dead_lettered;
                    totals[2] += g.dropped;
                    if series.len() < limit {
                        series.push((topic, group, st.lag, st.in_flight));
                    } else if limit > 0 {
                        let o = other.get_or_insert((0, 0));
                        o.0 += st.lag;
                        o.1 += st.in_flight;
                    }
                }
                if let Some((l, f)) = other {
                    series.push(("other".into(), "other".into(), l, f));
                }
                Ok((in_flight, lag, totals, series))
            })
            .await;
        if let Ok((in_flight, lag, totals, series)) = sums {
            let m = &self.metrics.groups;
            m.set(in_flight, lag, totals);
            if limit > 0 {
                m.lag_per_group.reset();
                m.in_flight_per_group.reset();
                for (topic, group, lag, in_flight) in series {
                    let labels = [topic.as_str(), group.as_str()];
                    m.lag_per_group.with_label_values(&labels).set(lag as i64);
                    m.in_flight_per_group
                        .with_label_values(&labels)
                        .set(in_flight as i64);
                }
            }
        }
    }
}

/// Bytes of snapshot files, for the storage gauge.
fn snapshot_bytes(state_dir: &std::path::Path) -> u64 {
    std::fs::read_dir(state_dir.join("snapshots"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

//! Duties of the leader: record the cluster id once, and enforce retention by proposing trims
//! through the log (every replica cuts at the same offset), plus the node's periodic gauges.

use std::sync::Arc;

use super::{now_ms, Node};
use crate::raft::command::{Op, Retention};
use crate::topics::retention::{trim_point, TopicView};
use crate::topics::{TopicMeta, TopicStore};

/// A topic seen through the store, for the retention arithmetic.
struct StoredTopic<'a> {
    store: &'a TopicStore,
    meta: &'a TopicMeta,
}

impl TopicView for StoredTopic<'_> {
    fn start(&self) -> u64 {
        self.meta.start
    }
    fn next(&self) -> u64 {
        self.meta.next
    }
    fn cum_bytes(&self, offset: u64) -> u64 {
        if offset >= self.meta.next {
            return self.meta.appended_bytes;
        }
        self.store
            .record(self.meta, offset)
            .ok()
            .flatten()
            .map_or(self.meta.appended_bytes, |r| r.cum_bytes)
    }
    fn ts_ms(&self, offset: u64) -> u64 {
        self.store
            .record(self.meta, offset)
            .ok()
            .flatten()
            .map_or(u64::MAX, |r| r.ts_ms)
    }
}

/// Trims due now under each topic's retention (falling back to `default`).
pub fn due_trims(store: &TopicStore, default: Retention, now: u64) -> crate::Result<Vec<Op>> {
    let mut ops = Vec::new();
    for (name, meta) in store.topics()? {
        let retention = meta.retention.or(default);
        if retention == Retention::default() {
            continue;
        }
        let cut = trim_point(&StoredTopic { store, meta: &meta }, retention, now);
        if cut > meta.start {
            ops.push(Op::Trim {
                topic: name,
                topic_id: meta.id,
                new_start: cut,
            });
        }
    }
    Ok(ops)
}

/// Runs for the node's lifetime; acts only while this node leads.
pub async fn run(node: Arc<Node>) {
    let mut tick = tokio::time::interval(node.config.retention_check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = node.shutdown.cancelled() => return,
        }
        node.sample_gauges().await;
        if !node.is_leader() || node.is_shutting_down() {
            continue;
        }
        if let Ok(None) = node.store.cluster_id() {
            if let Err(e) = node.ensure_cluster_id().await {
                tracing::debug!(error = %e, "could not record the cluster id yet");
            }
        }
        let default = node.config.retention;
        let trims = node
            .store
            .blocking(move |s| due_trims(s, default, now_ms()))
            .await;
        match trims {
            Ok(ops) if !ops.is_empty() => {
                tracing::debug!(trims = ops.len(), "retention: trimming topics");
                if let Err(e) = node.propose(ops).await {
                    tracing::warn!(error = %e, "retention trim not committed; will retry");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention check failed"),
        }
    }
}

impl Node {
    /// Gauges that come from storage rather than from openraft's metrics stream.
    pub async fn sample_gauges(&self) {
        let db = self.db.clone();
        let limit = self.config.topic_metrics_limit;
        let sampled = self
            .store
            .blocking(move |s| {
                let topics = s.topics()?;
                Ok((
                    db.size_on_disk().unwrap_or(0),
                    topics.len(),
                    if limit > 0 {
                        topics.into_iter().take(limit).collect()
                    } else {
                        Vec::new()
                    },
                ))
            })
            .await;
        if let Ok((disk, n, per_topic)) = sampled {
            self.metrics.storage_used.set(
                disk as i64 + crate::cluster::start::snapshot_bytes(&self.config.state_dir) as i64,
            );
            self.metrics.topics.set(n as i64);
            if limit > 0 {
                self.metrics.topic_messages.reset();
                for (name, meta) in per_topic {
                    self.metrics
                        .topic_messages
                        .with_label_values(&[name.as_str()])
                        .set(meta.messages() as i64);
                }
            }
        }
        self.metrics
            .uptime
            .set(self.started.elapsed().as_secs_f64());
    }
}

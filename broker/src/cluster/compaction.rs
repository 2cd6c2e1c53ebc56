//! Purging the Raft log after a checkpoint: up to `raft::log_to_keep` entries before the last
//! snapshot, as openraft would by itself, except while this node is sending a snapshot to a
//! follower.
//!
//! openraft 0.9 purges the log after each new snapshot, also the entries a follower that is
//! receiving an older snapshot needs right after installing it (`is_log_range_inflight` guards
//! only entries being sent). A large snapshot's transfer under a steady write rate outlived the
//! short log kept after the next checkpoint, so the follower needed another snapshot, and another:
//! it never caught up. So openraft purges nothing on its own (`max_in_snapshot_log_to_keep` is
//! unbounded) and this task asks it to, never past what an active follower still needs: one that
//! matched less than the purge point and made progress (or was added, or was sent a snapshot
//! chunk) within [`SEND_QUIET`]. A follower that stopped answering holds nothing back, and the
//! deferral ends after [`MAX_DEFERRAL`] whatever happens, so the log cannot grow without end.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Node;
use crate::raft::log_to_keep;

/// How long a follower counts as active after its last progress (or snapshot chunk).
pub const SEND_QUIET: Duration = Duration::from_secs(5);
/// The longest deferral of a due purge: the snapshot install timeout.
pub const MAX_DEFERRAL: Duration = crate::raft::INSTALL_SNAPSHOT_TIMEOUT;
/// Entries purged at least at once (openraft's `purge_batch_size`).
const BATCH: u64 = 256;

pub async fn run(node: Arc<Node>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let keep = log_to_keep(node.config.snapshot_every);
    let mut deferred_since: Option<Instant> = None;
    // Per follower: its matched index, and when it last changed (or the follower appeared).
    let mut progress: HashMap<u64, (Option<u64>, Instant)> = HashMap::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = node.lifecycle.stopped() => return,
        }
        let m = node.metrics_now();
        let matched: Vec<(u64, Option<u64>)> = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .filter(|(id, _)| **id != node.id)
                    .map(|(id, l)| (*id, l.as_ref().map(|l| l.index)))
                    .collect()
            })
            .unwrap_or_default();
        progress.retain(|id, _| matched.iter().any(|(m, _)| m == id));
        for (id, index) in &matched {
            let e = progress.entry(*id).or_insert((*index, Instant::now()));
            if e.0 != *index {
                *e = (*index, Instant::now());
            }
        }
        let Some(snapshot) = m.snapshot.map(|l| l.index) else {
            continue;
        };
        // Purge [.., upto]: keep `keep` entries up to and including the snapshot's last.
        let Some(mut upto) = (snapshot + 1).checked_sub(keep + 1) else {
            continue;
        };
        let purged_next = m.purged.map_or(0, |l| l.index + 1);
        if purged_next + BATCH > upto + 1 {
            deferred_since = None;
            continue;
        }
        // Never past what an active follower still needs.
        let sending = node
            .snapshot_sends
            .since_last()
            .is_some_and(|d| d < SEND_QUIET);
        let mut held = false;
        for (id, index) in &matched {
            let active = sending || progress[id].1.elapsed() < SEND_QUIET;
            if active && index.is_none_or(|i| i < upto) {
                held = true;
                match index {
                    Some(i) => upto = upto.min(*i),
                    None => upto = 0,
                }
            }
        }
        if held && purged_next + BATCH > upto + 1 {
            let since = *deferred_since.get_or_insert_with(|| {
                tracing::info!(
                    snapshot,
                    "a follower catching up needs the log: it is purged once it is done"
                );
                Instant::now()
            });
            if since.elapsed() < MAX_DEFERRAL {
                continue;
            }
            tracing::warn!(
                deferred = ?since.elapsed(),
                "a follower has been catching up for too long: purging the log anyway"
            );
            upto = (snapshot + 1).saturating_sub(keep + 1);
        }
        deferred_since = None;
        if let Err(e) = node.raft().trigger().purge_log(upto).await {
            tracing::debug!(error = %e, "could not ask for a log purge");
        }
    }
}

//! When to checkpoint the state and compact the Raft log: every `--snapshot-every` applied
//! entries, as openraft's `LogsSinceLast` policy would, except while this node is sending a
//! snapshot to a follower.
//!
//! openraft 0.9 purges the log after each new snapshot, also entries a follower that is receiving
//! a snapshot will need right after installing it (`is_log_range_inflight` only guards entries
//! being sent). A transfer of a large snapshot under a steady write rate outlived that short log,
//! so the follower needed another snapshot, and another: it never caught up. So no snapshot is
//! built until [`SEND_QUIET`] after the last chunk of a transfer was sent or answered; the log
//! grows meanwhile, by what is written during the transfer. The deferral ends after
//! [`MAX_DEFERRAL`] whatever happens, so a follower that keeps failing halfway cannot make the log
//! grow without end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Node;

/// How long after the last snapshot chunk a new snapshot may be built again.
pub const SEND_QUIET: Duration = Duration::from_secs(5);
/// The longest deferral of a due snapshot: the snapshot install timeout.
pub const MAX_DEFERRAL: Duration = crate::raft::INSTALL_SNAPSHOT_TIMEOUT;
/// After asking for a snapshot, how long to wait for it before asking again.
const BUILD_WAIT: Duration = Duration::from_secs(60);

pub async fn run(node: Arc<Node>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut deferred_since: Option<Instant> = None;
    // A snapshot asked for: when, and the snapshot index then.
    let mut asked: Option<(Instant, u64)> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = node.lifecycle.stopped() => return,
        }
        let m = node.metrics_now();
        let applied = m.last_applied.map_or(0, |l| l.index);
        let snapshot = m.snapshot.map_or(0, |l| l.index);
        if let Some((at, index)) = asked {
            if snapshot == index && at.elapsed() < BUILD_WAIT {
                continue;
            }
            asked = None;
        }
        if applied < snapshot + node.config.snapshot_every {
            deferred_since = None;
            continue;
        }
        if node
            .snapshot_sends
            .since_last()
            .is_some_and(|d| d < SEND_QUIET)
        {
            let since = *deferred_since.get_or_insert_with(|| {
                tracing::info!(
                    applied,
                    snapshot,
                    "a follower is receiving a snapshot: the next one waits until it is done"
                );
                Instant::now()
            });
            if since.elapsed() < MAX_DEFERRAL {
                continue;
            }
            tracing::warn!(
                deferred = ?since.elapsed(),
                "a snapshot transfer is taking too long: building the next snapshot anyway"
            );
        }
        deferred_since = None;
        match node.raft().trigger().snapshot().await {
            Ok(()) => asked = Some((Instant::now(), snapshot)),
            Err(e) => tracing::debug!(error = %e, "could not ask for a snapshot"),
        }
    }
}

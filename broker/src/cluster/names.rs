//! Keeps every member's raft address looked up, so the peer pool remembers where each one was
//! when the resolver stops answering (`peer/resolve.rs`): a node then still reaches the peers whose
//! address did not change, such as a new leader after the old one's pod went away.
//!
//! The names are looked up again every [`REFRESH`], and at once (within [`CHECK`]) when the
//! membership changes: a member that joined is remembered before the first fault can come. Waiting
//! for the next refresh left a window of up to 5 s after a cluster formed in which a node had never
//! looked a peer up; a leader cut off then (podman's DNS reloading as its container left the
//! network) left a follower unable to find the new leader (`tests/containers`, partition scenario).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Node;

/// How often the members' names are looked up again.
const REFRESH: Duration = Duration::from_secs(5);
/// How often the membership is compared with the one last looked up.
const CHECK: Duration = Duration::from_millis(200);

pub async fn keep_resolved(node: Arc<Node>) {
    let mut tick = tokio::time::interval(CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut looked_up: Option<(Instant, Vec<String>)> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = node.lifecycle.stopped() => return,
        }
        let addrs: Vec<String> = node
            .metrics_now()
            .membership_config
            .membership()
            .nodes()
            .filter(|(id, _)| **id != node.id)
            .map(|(_, a)| a.raft_addr.clone())
            .collect();
        if !due(looked_up.as_ref(), &addrs) {
            continue;
        }
        for addr in &addrs {
            node.pool.learn(addr).await;
        }
        looked_up = Some((Instant::now(), addrs));
    }
}

/// Whether to look the members up now: never looked up, the addresses changed, or the last
/// lookup is [`REFRESH`] old.
fn due(last: Option<&(Instant, Vec<String>)>, addrs: &[String]) -> bool {
    match last {
        None => true,
        Some((at, seen)) => seen.as_slice() != addrs || at.elapsed() >= REFRESH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_looked_up_at_once_when_they_change_and_every_refresh_otherwise() {
        let two = vec!["a:1".to_string(), "b:1".to_string()];
        assert!(due(None, &two), "never looked up");
        let now = (Instant::now(), two.clone());
        assert!(!due(Some(&now), &two), "the same members, just looked up");
        let three = vec!["a:1".into(), "b:1".into(), "c:1".into()];
        assert!(due(Some(&now), &three), "a member joined: at once");
        let old = (Instant::now() - REFRESH, two.clone());
        assert!(due(Some(&old), &two), "the refresh is due");
    }
}

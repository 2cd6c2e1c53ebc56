//! Keeps every member's raft address looked up, so the peer pool remembers where each one was
//! when the resolver stops answering (`peer/resolve.rs`): a node then still reaches the peers whose
//! address did not change, such as a new leader after the old one's pod went away.

use std::sync::Arc;
use std::time::Duration;

use super::Node;

/// How often the members' names are looked up again.
const REFRESH: Duration = Duration::from_secs(5);

pub async fn keep_resolved(node: Arc<Node>) {
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
        for addr in addrs {
            node.pool.learn(&addr).await;
        }
    }
}

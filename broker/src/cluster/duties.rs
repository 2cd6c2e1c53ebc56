//! The leader's periodic duties: record the cluster id once, and enforce retention by proposing
//! trims through the log (every replica cuts at the same offset). The task runs on every node and
//! acts only while its node leads.

use std::sync::Arc;

use super::{now_ms, Node};
use crate::topics::retention::due_trims;
use crate::write::{propose_all, WriteError};

pub async fn run(node: Arc<Node>) {
    let mut tick = tokio::time::interval(node.config.retention_check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = node.lifecycle.stopped() => return,
        }
        if !node.is_leader() || node.lifecycle.is_draining() {
            continue;
        }
        if node.cluster_id().is_none() {
            if let Err(e) = node.ensure_cluster_id().await {
                tracing::debug!(error = %e, "could not record the cluster id yet");
            }
        }
        let default = node.config.retention;
        match node
            .store
            .blocking(move |s| due_trims(s, default, now_ms()))
            .await
        {
            Ok(trims) if !trims.is_empty() => {
                tracing::debug!(trims = trims.len(), "retention: trimming topics");
                if let Err(e) = trim(&node, trims).await {
                    tracing::warn!(error = %e, "retention trim not committed; will retry");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention check failed"),
        }
    }
}

/// Propose the trims as one entry.
async fn trim(node: &Node, trims: Vec<crate::command::Trim>) -> Result<(), WriteError> {
    propose_all(node, trims).await.map(drop)
}

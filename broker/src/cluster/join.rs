//! Taking the node's place in the cluster: settle its id ([`node_id`]), and with `--join` become
//! a learner, catch up, become a voter ([`ensure_member`]). A join target may be any member's raft
//! or API address; the requests go to whoever leads, through that member.

use std::sync::Arc;
use std::time::Duration;

use super::admin::admin_reply;
use super::rpc::{self, AdminRequest};
use super::{identity, ClusterView, Lifecycle, Node};
use crate::config::{join_addr, Config};
use crate::peer::{PeerPool, RpcFailure};
use crate::raft::{NodeAddr, NodeId};
use crate::write::WriteError;
use crate::{Error, Result};

/// How long one admin call through the join target may take.
const ADMIN_CALL: Duration = Duration::from_secs(30);
/// Between attempts to get an id from the cluster.
const ID_RETRY: Duration = Duration::from_millis(500);

/// The node's identity: from its state dir, else a new one (a new incarnation) whose Raft id is
/// `--node-id`, else (managed) the hostname's ordinal, else (joining) one the cluster assigns,
/// else 1 for a new cluster.
pub async fn identity(
    config: &Config,
    pool: &PeerPool,
    addr: &NodeAddr,
    lifecycle: &Lifecycle,
) -> Result<identity::Identity> {
    if let Some(saved) = identity::load(&config.state_dir)? {
        if let Some(flag) = config.node_id.filter(|n| *n != saved.node_id) {
            return Err(Error::Config(format!(
                "--node-id {flag} but the state dir belongs to node {}; use another --state-dir",
                saved.node_id
            )));
        }
        return Ok(saved);
    }
    let id = if let Some(n) = config.node_id {
        n
    } else if config.managed {
        let host = identity::hostname().unwrap_or_default();
        identity::ordinal_of(&host).ok_or_else(|| {
            Error::Config(format!(
                "--managed needs --node-id, or a hostname ending in -<ordinal> (got {host:?})"
            ))
        })?
    } else if let Some(target) = &config.join {
        let target = join_addr(target)?;
        loop {
            let reserve = AdminRequest::ReserveId {
                raft_addr: addr.raft_addr.clone(),
            };
            match route_admin::<NodeId>(config, pool, &target, reserve).await {
                Ok(id) => break id,
                Err(e) => {
                    tracing::info!(%target, error = %e, "waiting for the cluster to give this node an id");
                    tokio::select! {
                        _ = tokio::time::sleep(ID_RETRY) => {}
                        _ = lifecycle.stopped() => return Err(Error::Raft("stopped before joining".into())),
                    }
                }
            }
        }
    } else {
        1
    };
    let fresh = identity::Identity::new(id);
    identity::save(&config.state_dir, &fresh)?;
    Ok(fresh)
}

/// The raft address behind a `--join` target, which may be a raft or an API address (https when
/// this node serves TLS: a cluster's APIs all do or none does; `--cacert` is trusted, and the
/// node's certificate is presented to an API that requires one: [`Config::api_client_identity`]).
async fn resolve_raft_addr(
    config: &Config,
    pool: &PeerPool,
    target: &str,
) -> Result<String, WriteError> {
    match pool.probe(target).await {
        Ok(true) => Ok(target.to_string()),
        Ok(false) => {
            let url = format!("{}://{target}/v1/cluster?local=true", config.api_scheme());
            let http = config
                .api_http(reqwest::Client::builder())
                .and_then(|b| b.build().map_err(|e| e.to_string()))
                .map_err(WriteError::Unavailable)?;
            let view: ClusterView = http
                .get(&url)
                .timeout(Duration::from_secs(3))
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| WriteError::Unavailable(format!("{url}: {e}")))?
                .json()
                .await
                .map_err(|e| WriteError::Unavailable(format!("{url}: {e}")))?;
            let pick = view
                .leader_id
                .and_then(|l| view.member(l))
                .or_else(|| view.members.first());
            pick.map(|m| m.raft_addr.clone()).ok_or_else(|| {
                WriteError::Unavailable(format!("{target} is not part of a cluster yet"))
            })
        }
        Err(RpcFailure::Refused(e)) => Err(WriteError::Unavailable(e)),
        Err(e) => Err(WriteError::Unavailable(format!("{target}: {e}"))),
    }
}

/// Send an admin request to whoever leads, through the member at `target`.
async fn route_admin<T: super::admin::AdminReply>(
    config: &Config,
    pool: &PeerPool,
    target: &str,
    req: AdminRequest,
) -> Result<T, WriteError> {
    let raft_addr = resolve_raft_addr(config, pool, target).await?;
    match rpc::call(pool, &raft_addr, rpc::AdminAny(req), ADMIN_CALL).await {
        Ok(answer) => admin_reply(answer?),
        Err(e) => Err(WriteError::Unavailable(e.to_string())),
    }
}

/// `--join`: become a learner, catch up, become a voter. Idempotent, retried until done, also
/// after a restart that interrupted it.
pub async fn ensure_member(node: Arc<Node>, target: String) {
    let mut delay = Duration::from_millis(200);
    loop {
        let m = node.metrics_now();
        let membership = m.membership_config.membership();
        if membership.voter_ids().any(|v| v == node.id) {
            tracing::info!(id = node.id, "this node is a voter");
            return;
        }
        // Ask through the join target, or any member we already know.
        let mut targets = vec![target.clone()];
        targets.extend(
            membership
                .nodes()
                .filter(|(id, _)| **id != node.id)
                .map(|(_, a)| a.raft_addr.clone()),
        );
        let step = if membership.get_node(&node.id).is_none() {
            AdminRequest::AddLearner {
                id: node.id,
                node: node.addr.clone(),
            }
        } else {
            AdminRequest::Promote { id: node.id }
        };
        let mut done = false;
        for t in &targets {
            match route_admin::<ClusterView>(&node.config, &node.pool, t, step.clone()).await {
                Ok(_) => {
                    tracing::info!(id = node.id, step = ?step, via = %t, "join step done");
                    done = true;
                    delay = Duration::from_millis(200);
                    break;
                }
                Err(e) => {
                    tracing::info!(id = node.id, via = %t, error = %e, "join step not done yet")
                }
            }
        }
        if done {
            // Wait until our own log shows the membership change before the next step.
            let mut rx = node.raft().metrics();
            let before = m.membership_config.log_id().map(|l| l.index);
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                while rx.changed().await.is_ok() {
                    if rx.borrow().membership_config.log_id().map(|l| l.index) != before {
                        return;
                    }
                }
            })
            .await;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = node.lifecycle.stopped() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(2));
        if node.lifecycle.is_draining() {
            return;
        }
    }
}

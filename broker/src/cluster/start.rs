//! Start-up: bind the ports, settle the node's identity, open storage, start Raft and the node's
//! tasks, then take the node's place in the cluster:
//!
//! | state dir | flags | what happens |
//! |---|---|---|
//! | empty | — | bootstrap a one-node cluster (node id 1) |
//! | empty | `--join ADDR` | get an id from the cluster, join as learner, catch up, get promoted |
//! | empty | `--managed` | wait for the operator's admin calls (`/v1/cluster/init`, `/members`) |
//! | used | any | resume as the same member; with `--join`, finish joining if a crash interrupted it |

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{identity, leader, ClusterError, Node};
use crate::config::{join_addr, Config};
use crate::metrics::{register_process_collector, Metrics};
use crate::raft::log_store::LogStore;
use crate::raft::network::{
    self, AdminRequest, AdminResponse, NetworkFactory, PeerPool, RpcFailure, RpcRequest,
    RpcResponse,
};
use crate::raft::state_machine::StateMachine;
use crate::raft::{raft_config, NodeAddr, NodeId, Raft};
use crate::topics::TopicStore;
use crate::write::{self, Writer};
use crate::{Error, Result};

/// A started node and the API listener the caller serves `api::router` on.
pub struct Started {
    pub node: Arc<Node>,
    pub api_listener: TcpListener,
}

pub async fn start(config: Config, shutdown: CancellationToken) -> Result<Started> {
    config.validate()?;
    prepare_state_dir(&config)?;
    let raft_listener = bind("--raft", &config.raft_listen).await?;
    let api_listener = bind("--api", &config.api_listen).await?;
    let mut config = config;
    // Port 0 (tests): advertise the port the OS picked.
    for (adv, l) in [
        (&mut config.advertise_raft, &raft_listener),
        (&mut config.advertise_api, &api_listener),
    ] {
        if let (Some(host), Ok(local)) = (adv.strip_suffix(":0"), l.local_addr()) {
            *adv = format!("{host}:{}", local.port());
        }
    }
    register_process_collector();
    let metrics = Metrics::new();
    let pool = PeerPool::new(config.cluster_secret.clone(), metrics.clone());
    let addr = NodeAddr {
        raft_addr: config.advertise_raft.clone(),
        api_addr: config.advertise_api.clone(),
    };

    let id = node_id(&config, &pool, &addr, &shutdown).await?;
    let db = sled::Config::new()
        .path(config.state_dir.join("db"))
        .cache_capacity(config.cache_bytes)
        .flush_every_ms(Some(1000))
        .open()
        .map_err(|e| Error::StateDir {
            path: config.state_dir.clone(),
            reason: format!(
                "cannot open the database ({e}); is another jumpnet using this state dir?"
            ),
        })?;
    let (log_store, flusher) = LogStore::open(&db, config.state_dir.join("raft"), metrics.clone())?;
    let store = TopicStore::open(&db, &config.state_dir, config.segment_bytes)?;
    let sm = StateMachine::open(store.clone(), flusher, config.state_dir.join("snapshots")).await?;
    let applied = sm.applied_index();
    let committed = log_store.committed_index();
    let rc = raft_config(
        config.election_timeout.as_millis() as u64,
        config.snapshot_every,
    )
    .validate()
    .map_err(|e| Error::Config(e.to_string()))?;
    let raft = Raft::new(
        id,
        Arc::new(rc),
        NetworkFactory { pool: pool.clone() },
        log_store,
        sm,
    )
    .await
    .map_err(|e| Error::Raft(e.to_string()))?;

    let (writer, queue) = Writer::channel();
    let config = Arc::new(config);
    let node = Arc::new(Node {
        id,
        addr,
        raft,
        store,
        db,
        pool,
        config: config.clone(),
        metrics,
        writer,
        committed,
        applied,
        shutting_down: AtomicBool::new(false),
        transferring: AtomicBool::new(false),
        admin_lock: tokio::sync::Mutex::new(()),
        shutdown: shutdown.clone(),
        stopping: CancellationToken::new(),
        started: std::time::Instant::now(),
    });
    tracing::info!(id, addr = %node.addr, state_dir = %config.state_dir.display(), "node started");

    tokio::spawn(network::serve(
        raft_listener,
        node.clone(),
        config.cluster_secret.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(write::run(node.clone(), queue));
    tokio::spawn(leader::run(node.clone()));
    tokio::spawn(super::observe::run(node.clone()));

    let initialized = node
        .raft
        .is_initialized()
        .await
        .map_err(|e| Error::Raft(e.to_string()))?;
    if let Some(target) = &config.join {
        tokio::spawn(ensure_member(node.clone(), join_addr(target)?));
    } else if !initialized && !config.managed {
        node.bootstrap()
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
    }
    Ok(Started { node, api_listener })
}

fn prepare_state_dir(config: &Config) -> Result<()> {
    let dir = &config.state_dir;
    let bad = |reason: String| Error::StateDir {
        path: dir.clone(),
        reason,
    };
    std::fs::create_dir_all(dir).map_err(|e| bad(format!("cannot create it: {e}")))?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok").map_err(|e| bad(format!("not writable: {e}")))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

async fn bind(flag: &str, addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Config(format!("{flag} {addr}: cannot listen: {e}")))
}

/// The node's Raft id: from its state dir, else `--node-id`, else (managed) the hostname's
/// ordinal, else (joining) one the cluster assigns, else 1 for a new cluster.
async fn node_id(
    config: &Config,
    pool: &PeerPool,
    addr: &NodeAddr,
    shutdown: &CancellationToken,
) -> Result<NodeId> {
    if let Some(saved) = identity::load(&config.state_dir)? {
        if let Some(flag) = config.node_id.filter(|n| *n != saved.node_id) {
            return Err(Error::Config(format!(
                "--node-id {flag} but the state dir belongs to node {}; use another --state-dir",
                saved.node_id
            )));
        }
        return Ok(saved.node_id);
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
            match route_admin(
                pool,
                &target,
                AdminRequest::ReserveId {
                    raft_addr: addr.raft_addr.clone(),
                },
            )
            .await
            {
                Ok(AdminResponse::NodeId(id)) => break id,
                Ok(other) => {
                    return Err(Error::Raft(format!(
                        "unexpected answer from {target}: {other:?}"
                    )))
                }
                Err(e) => {
                    tracing::info!(%target, error = %e, "waiting for the cluster to give this node an id");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = shutdown.cancelled() => return Err(Error::Raft("stopped before joining".into())),
                    }
                }
            }
        }
    } else {
        1
    };
    identity::save(&config.state_dir, identity::Identity { node_id: id })?;
    Ok(id)
}

/// The raft address behind a `--join` target, which may be a raft or an API address.
async fn resolve_raft_addr(
    pool: &PeerPool,
    target: &str,
) -> std::result::Result<String, ClusterError> {
    match pool.probe(target).await {
        Ok(true) => Ok(target.to_string()),
        Ok(false) => {
            let url = format!("http://{target}/v1/cluster?local=true");
            let view: super::ClusterView = reqwest::Client::new()
                .get(&url)
                .timeout(Duration::from_secs(3))
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| ClusterError::Unavailable(format!("{url}: {e}")))?
                .json()
                .await
                .map_err(|e| ClusterError::Unavailable(format!("{url}: {e}")))?;
            let pick = view
                .leader_id
                .and_then(|l| view.member(l))
                .or_else(|| view.members.first());
            pick.map(|m| m.raft_addr.clone()).ok_or_else(|| {
                ClusterError::Unavailable(format!("{target} is not part of a cluster yet"))
            })
        }
        Err(RpcFailure::Refused(e)) => Err(ClusterError::Unavailable(e)),
        Err(e) => Err(ClusterError::Unavailable(format!("{target}: {e}"))),
    }
}

/// Send an admin request to whoever leads, through the member at `target`.
async fn route_admin(
    pool: &PeerPool,
    target: &str,
    req: AdminRequest,
) -> std::result::Result<AdminResponse, ClusterError> {
    let raft_addr = resolve_raft_addr(pool, target).await?;
    match pool
        .call(
            &raft_addr,
            &RpcRequest::AdminAny(req),
            Duration::from_secs(30),
        )
        .await
    {
        Ok(RpcResponse::Admin(r)) => r,
        Ok(_) => Err(ClusterError::Internal(
            "unexpected answer to an admin call".into(),
        )),
        Err(e) => Err(ClusterError::Unavailable(e.to_string())),
    }
}

/// `--join`: become a learner, catch up, become a voter. Idempotent, retried until done, also
/// after a restart that interrupted it.
async fn ensure_member(node: Arc<Node>, target: String) {
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
            match route_admin(&node.pool, t, step.clone()).await {
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
            let mut rx = node.raft.metrics();
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
            _ = node.shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(2));
        if node.shutting_down.load(Ordering::Acquire) {
            return;
        }
    }
}

/// Bytes of snapshot files, for the storage gauge.
pub fn snapshot_bytes(state_dir: &std::path::Path) -> u64 {
    std::fs::read_dir(state_dir.join("snapshots"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

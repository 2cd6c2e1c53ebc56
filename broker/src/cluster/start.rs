//! Wiring (openraft examples' `start_example_raft_node` shape): bind the ports, settle the node's
//! identity, open storage, start Raft, the raft port, the batcher and the node's tasks, then take
//! the node's place in the cluster:
//!
//! | state dir | flags | what happens |
//! |---|---|---|
//! | empty | — | bootstrap a one-node cluster (node id 1) |
//! | empty | `--join ADDR` | get an id from the cluster, join as learner, catch up, get promoted ([`super::join`]) |
//! | empty | `--managed` | wait for the operator's admin calls (`/v1/cluster/init`, `/members`) |
//! | used | any | resume as the same member; with `--join`, finish joining if a crash interrupted it |

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use tokio::net::TcpListener;

use super::disk::DiskGuard;
use super::raft_network::NetworkFactory;
use super::{duties, gauges, join, names, Lifecycle, Node};
use crate::config::{join_addr, Config};
use crate::metrics::{register_process_collector, Metrics};
use crate::peer::{self, PeerPool};
use crate::raft::log_store::LogStore;
use crate::raft::state_machine::StateMachine;
use crate::raft::{raft_config, NodeAddr, Raft};
use crate::topics::TopicStore;
use crate::write::{Limits, Writer};
use crate::{Error, Result};

/// A started node, its write handle, and the API listener the caller serves `api::router` on.
pub struct Started {
    pub node: Arc<Node>,
    pub writer: Writer,
    pub api_listener: TcpListener,
}

pub async fn start(config: Config) -> Result<Started> {
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
    // What a test that asked for port 0 reads back.
    tracing::info!(raft = %config.advertise_raft, api = %config.advertise_api, "listening");
    register_process_collector();
    let metrics = Metrics::new();
    let pool = PeerPool::new(config.cluster_secret.clone());
    let addr = NodeAddr {
        raft_addr: config.advertise_raft.clone(),
        api_addr: config.advertise_api.clone(),
    };
    let lifecycle = Lifecycle::default();

    let id = join::node_id(&config, &pool, &addr, &lifecycle).await?;
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
    make_layout_durable(&config.state_dir)?;
    let applied = sm.applied_index();
    let committed = log_store.committed_index();
    let rc = raft_config(
        config.election_timeout.as_millis() as u64,
        config.snapshot_every,
        config.max_entry_bytes(),
    )
    .validate()
    .map_err(|e| Error::Config(e.to_string()))?;
    let network = NetworkFactory {
        pool: pool.clone(),
        metrics: metrics.clone(),
    };
    let raft = Raft::new(id, Arc::new(rc), network, log_store, sm)
        .await
        .map_err(|e| Error::Raft(e.to_string()))?;
    let resumed_leadership = {
        let m = raft.metrics().borrow().clone();
        (m.current_leader == Some(id)).then(|| (m.current_term, m.last_log_index.unwrap_or(0)))
    };

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
        committed,
        applied,
        cluster_id: OnceLock::new(),
        lifecycle: lifecycle.clone(),
        transferring: AtomicBool::new(false),
        admin_lock: tokio::sync::Mutex::new(()),
        disk: DiskGuard::new(config.state_dir.clone(), config.min_free_bytes),
        started: std::time::Instant::now(),
        resumed_leadership,
    });
    tracing::info!(id, addr = %node.addr, state_dir = %config.state_dir.display(), "node started");

    tokio::spawn(peer::serve(
        raft_listener,
        node.clone(),
        config.cluster_secret.clone(),
        lifecycle.stop_token(),
    ));
    let (writer, batcher) = Writer::new(node.clone(), Limits::default());
    tokio::spawn(batcher);
    tokio::spawn(duties::run(node.clone()));
    tokio::spawn(gauges::follow_raft(node.clone()));
    tokio::spawn(gauges::sample_storage(node.clone()));
    tokio::spawn(names::keep_resolved(node.clone()));

    let initialized = node
        .raft
        .is_initialized()
        .await
        .map_err(|e| Error::Raft(e.to_string()))?;
    if let Some(target) = &config.join {
        tokio::spawn(join::ensure_member(node.clone(), join_addr(target)?));
    } else if !initialized && !config.managed {
        node.bootstrap()
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
    }
    Ok(Started {
        node,
        writer,
        api_listener,
    })
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

/// Fsync the state dir's own directories and their entries (db/, raft/, data*/, snapshots/, the
/// state dir and its parent), once at start: a file or directory that was just created survives a
/// power loss only once the directory holding its name is synced, and everything after this point
/// (WAL files, segments, sled's files) syncs its own directory when it creates something. Without
/// it, a node cut right after its first start could come back without its Raft log directory.
fn make_layout_durable(state_dir: &std::path::Path) -> Result<()> {
    let sync = |dir: &std::path::Path| -> Result<()> {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(format!("fsync {}", dir.display()), e))
    };
    let entries = std::fs::read_dir(state_dir)
        .map_err(|e| Error::io(format!("list {}", state_dir.display()), e))?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            sync(&entry.path())?;
        }
    }
    sync(state_dir)?;
    if let Some(parent) = state_dir
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(|p| p.to_path_buf()))
    {
        sync(&parent)?;
    }
    Ok(())
}

async fn bind(flag: &str, addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Config(format!("{flag} {addr}: cannot listen: {e}")))
}

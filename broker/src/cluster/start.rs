//! Wiring (openraft examples' `start_example_raft_node` shape): bind the ports, settle the node's
//! identity, open storage, start Raft, the raft port, the batcher and the node's tasks, then take
//! the node's place in the cluster:
//!
//! | state dir | flags | what happens |
//! |---|---|---|
//! | empty | — | bootstrap a one-node cluster (node id 1), unless a peer of a cluster reaches this node first ([`guarded_bootstrap`]) |
//! | empty | `--join ADDR` | get an id from the cluster, join as learner, catch up, get promoted ([`super::join`]) |
//! | empty | `--managed` | wait for the operator's admin calls (`/v1/cluster/init`, `/members`) |
//! | used | any | resume as the same member; with `--join`, finish joining if a crash interrupted it |

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, OnceLock};

use tokio::net::TcpListener;

use super::disk::DiskGuard;
use super::raft_network::{NetworkFactory, SnapshotSends};
use super::restart::{Asked, Recovery};
use super::{compaction, duties, elect, gauges, join, names, Lifecycle, Node};
use crate::config::{join_addr, Config};
use crate::metrics::{register_process_collector, Metrics};
use crate::peer::{self, PeerPool};
use crate::raft::log_store::LogStore;
use crate::raft::state_machine::StateMachine;
use crate::raft::{raft_config, NodeAddr, Raft};
use crate::topics::TopicStore;
use crate::write::{Limits, MembershipError, WriteError, Writer};
use crate::{Error, Result};

/// A started node, its write handle, and the API listener the caller serves `api::router` on.
pub struct Started {
    pub node: Arc<Node>,
    pub writer: Writer,
    pub api_listener: TcpListener,
    /// With `--kafka`: the Kafka listener, bound before the node announced its address.
    pub kafka_listener: Option<TcpListener>,
}

pub async fn start(config: Config) -> Result<Started> {
    config.validate()?;
    prepare_state_dir(&config)?;
    let raft_listener = bind("--raft", &config.raft_listen).await?;
    let api_listener = bind("--api", &config.api_listen).await?;
    let kafka_listener = match &config.kafka {
        Some(k) => Some(bind("--kafka", &k.listen).await?),
        None => None,
    };
    let mut config = config;
    if let (Some(k), Some(l)) = (config.kafka.as_mut(), &kafka_listener) {
        if let (Some(host), Ok(local)) = (k.advertise.strip_suffix(":0"), l.local_addr()) {
            k.advertise = format!("{host}:{}", local.port());
        }
    }
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
    let peer_tls = match &config.peer_tls {
        Some(files) => Some(crate::tls::PeerTls::load(files, &metrics)?),
        None => None,
    };
    if let Some(tls) = &peer_tls {
        let cert = tls.info();
        tracing::info!(subject = %cert.subject, expires_in_s = cert.expires_in(), "the raft port speaks mutual TLS");
    }
    let pool = PeerPool::new(config.cluster_secret.clone(), peer_tls.clone());
    let mut addr = NodeAddr {
        raft_addr: config.advertise_raft.clone(),
        api_addr: config.advertise_api.clone(),
        incarnation: None,
        kafka_addr: config.kafka.as_ref().map(|k| k.advertise.clone()),
    };
    let lifecycle = Lifecycle::default();

    let identity = join::identity(&config, &pool, &addr, &lifecycle).await?;
    let id = identity.node_id;
    addr.incarnation = Some(identity.incarnation.clone());
    if let Some(c) = &identity.cluster_id {
        pool.set_cluster_id(c);
    }
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
    let (log_store, flusher) = LogStore::open(
        &db,
        config.state_dir.join("db"),
        config.state_dir.join("raft"),
        metrics.clone(),
    )?;
    let store = TopicStore::open(&db, &config.state_dir, config.segment_bytes)?;
    let mut sm =
        StateMachine::open(store.clone(), flusher, config.state_dir.join("snapshots")).await?;
    let handover = sm.handover();
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
    let snapshot_sends = Arc::new(SnapshotSends::default());
    let network = NetworkFactory {
        pool: pool.clone(),
        metrics: metrics.clone(),
        snapshot_sends: snapshot_sends.clone(),
    };
    let recovery = Recovery::new(log_store.clone(), handover);
    let raft = Raft::new(id, Arc::new(rc), network, log_store, sm)
        .await
        .map_err(|e| Error::Raft(e.to_string()))?;

    let config = Arc::new(config);
    let node = Arc::new(Node {
        id,
        addr,
        raft: tokio::sync::watch::Sender::new(raft),
        recovery,
        store,
        db,
        pool,
        config: config.clone(),
        metrics,
        committed,
        applied,
        cluster_id: OnceLock::new(),
        identity: std::sync::Mutex::new(identity),
        claimed_by: OnceLock::new(),
        lifecycle: lifecycle.clone(),
        transferring: AtomicBool::new(false),
        leader_lost: AtomicU64::new(0),
        leader_found: tokio::sync::Notify::new(),
        snapshot_sends,
        admin_lock: tokio::sync::Mutex::new(()),
        disk: DiskGuard::new(config.state_dir.clone(), config.min_free_bytes),
        started: std::time::Instant::now(),
    });
    let mut restore_wait = None;
    if config.force_new_cluster {
        // Before any peer or client reaches this node.
        match node.force_new_cluster(Asked::AtStart).await {
            Ok(true) => tracing::warn!(id, "--force-new-cluster: this node is now the only voter"),
            Ok(false) => tracing::info!(id, "--force-new-cluster: already the only voter"),
            Err(WriteError::Membership(MembershipError::NotAMember { .. })) => tracing::warn!(
                id,
                "--force-new-cluster: this node belongs to no cluster; nothing to recover"
            ),
            Err(e) => return Err(Error::Raft(format!("--force-new-cluster: {e}"))),
        }
    }
    if let Some(source) = &config.restore_from {
        // Only into a state dir of no cluster, before anyone reaches this node.
        if node
            .raft()
            .is_initialized()
            .await
            .map_err(|e| Error::Raft(e.to_string()))?
        {
            return Err(Error::Config(format!(
                "--restore-from: the state dir {} already holds a cluster's data; restore only into an empty state dir",
                config.state_dir.display()
            )));
        }
        let restore = node.clone();
        let source = source.clone();
        // The new cluster id is recorded through the log once this node leads, which needs the
        // node's tasks: run it alongside them.
        let restored = tokio::spawn(async move { restore.init_from_backup(&source).await });
        restore_wait = Some(restored);
    }
    // Known already on a used state dir: the handshake names it from the first connection.
    let _ = node.cluster_id();
    tracing::info!(id, addr = %node.addr, state_dir = %config.state_dir.display(), "node started");

    tokio::spawn(peer::serve(
        raft_listener,
        node.clone(),
        config.cluster_secret.clone(),
        peer_tls,
        lifecycle.stop_token(),
    ));
    let (writer, batcher) = Writer::new(node.clone(), Limits::default());
    tokio::spawn(batcher);
    tokio::spawn(duties::run(node.clone()));
    tokio::spawn(elect::run(node.clone()));
    tokio::spawn(compaction::run(node.clone()));
    tokio::spawn(gauges::follow_raft(node.clone()));
    tokio::spawn(gauges::sample_storage(node.clone()));
    tokio::spawn(names::keep_resolved(node.clone()));

    if let Some(restored) = restore_wait {
        match restored.await.map_err(|e| Error::Raft(e.to_string()))? {
            Ok(init) => tracing::warn!(
                cluster_id = %init.cluster_id,
                "--restore-from: restored; this node leads a new cluster"
            ),
            Err(e) => return Err(Error::Config(format!("--restore-from: {e}"))),
        }
    }
    let initialized = node
        .raft()
        .is_initialized()
        .await
        .map_err(|e| Error::Raft(e.to_string()))?;
    if let Some(target) = &config.join {
        tokio::spawn(join::ensure_member(node.clone(), join_addr(target)?));
    } else if !initialized && !config.managed {
        tokio::spawn(guarded_bootstrap(node.clone()));
    }
    Ok(Started {
        node,
        writer,
        api_listener,
        kafka_listener,
    })
}

/// Bootstrap a new one-node cluster, unless a member of a cluster reaches this node first: its
/// address then belongs to that cluster, which recorded another state dir here (this one was lost
/// or replaced), and a new cluster at the same address would take writes its old peers overwrite.
/// The members keep dialling a node they count as theirs (retrying at least every second), so a
/// quiet wait of a few election timeouts hears them.
async fn guarded_bootstrap(node: Arc<Node>) {
    let wait = (node.config.election_timeout * 6).max(BOOTSTRAP_QUIET);
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = node.lifecycle.stopped() => return,
    }
    if let Some(cluster) = node.claimed_by.get() {
        tracing::error!(
            id = node.id,
            %cluster,
            "not starting a new cluster: this address belongs to cluster {cluster}, which knows another state dir here; remove node {} from it (DELETE /v1/cluster/members/{}) and start this node with --join",
            node.id,
            node.id
        );
        return;
    }
    if let Err(e) = node.bootstrap().await {
        tracing::warn!(error = %e, "bootstrap failed");
    }
}

/// The least quiet wait before an implicit bootstrap: more than a member's longest retry interval.
const BOOTSTRAP_QUIET: std::time::Duration = std::time::Duration::from_secs(2);

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

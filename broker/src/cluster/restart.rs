//! Forced recovery after losing a quorum for good (etcd's `--force-new-cluster`): this node
//! becomes the only voter of its cluster, keeping its log, its state machine and the cluster id.
//!
//! ```text
//!  check (member? a live quorum or leader?) ─▶ shut openraft down ─▶ its state machine is handed
//!  back (StateMachine::handover) ─▶ log: vote for a new term, then a membership entry {me} ─▶
//!  a new openraft on the same storage, resuming that state machine ─▶ it elects itself
//! ```
//!
//! Entries this node lacks are lost; the ones it holds beyond the old commit index are committed
//! by its first term as the only voter. Writes waiting on the old openraft get `504` (outcome
//! unknown). `serve --force-new-cluster` runs the same rewrite once, before the node serves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

use super::admin::Initialized;
use super::raft_network::NetworkFactory;
use super::{ClusterView, Node};
use crate::raft::log_store::LogStore;
use crate::raft::snapshot::{self, SnapshotData};
use crate::raft::state_machine::{Applied, StateMachine};
use crate::raft::{backup, raft_config, NodeId, Raft, StoredMembership};
use crate::topics::keys;
use crate::write::{MembershipError, WriteError};

/// What an in-process restart of openraft needs: the storage it hands back.
pub struct Recovery {
    pub(crate) log_store: LogStore,
    /// Resolves with the applied state once the running openraft dropped its state machine.
    pub(crate) handover: Mutex<Option<oneshot::Receiver<Applied>>>,
    /// Set while openraft is restarted on purpose: its stop is not a failure.
    pub(crate) restarting: AtomicBool,
    /// One forced recovery at a time.
    pub(crate) lock: tokio::sync::Mutex<()>,
}

impl Recovery {
    pub fn new(log_store: LogStore, handover: oneshot::Receiver<Applied>) -> Recovery {
        Recovery {
            log_store,
            handover: Mutex::new(Some(handover)),
            restarting: AtomicBool::new(false),
            lock: tokio::sync::Mutex::new(()),
        }
    }
}

/// How an in-process restart rewrites the storage.
pub(crate) enum Rewrite {
    /// This node as the only voter (forced recovery).
    SoleVoter,
    /// The verified backup at this path as the whole state (restore).
    Restore(PathBuf),
}

/// Why a restart's rewrite failed (openraft runs again, on the state it had).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RestartError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Storage(#[from] crate::Error),
}

/// Why a restore from a backup failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// `400 invalid_snapshot`: unreadable, damaged, unknown format; nothing changed.
    #[error("invalid snapshot: {0}")]
    Invalid(String),
    /// `502 restore_fetch_failed`: the download failed; nothing changed, retry.
    #[error("cannot download the snapshot: {0}")]
    Fetch(String),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// The longest download of a backup (the operator allows a restore 10 minutes).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Who asks for the recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// `POST /v1/cluster/force-new-cluster`: refused while a leader with a live quorum exists.
    Api,
    /// `serve --force-new-cluster`, before serving: no check (nothing is heard yet).
    AtStart,
}

/// The longest wait for openraft to hand its state machine back after it shut down.
const HANDOVER_WAIT: Duration = Duration::from_secs(60);

/// What openraft holds about this node's place, read inside its core.
struct Place {
    voters: BTreeSet<NodeId>,
    members: BTreeSet<NodeId>,
    /// A leader's vote this node accepted, and how long ago it was last renewed.
    leader_heard: Option<Duration>,
}

impl Node {
    /// Make this node the only voter of its cluster (see the module doc). `Ok(false)`: it already
    /// was, nothing was rewritten.
    pub async fn force_new_cluster(&self, asked: Asked) -> Result<bool, WriteError> {
        let _one = self.recovery.lock.lock().await;
        let raft = self.raft();
        let me = self.id;
        let place = raft
            .with_raft_state(move |st| {
                let m = st.membership_state.effective().membership();
                let vote = st.vote_ref();
                Place {
                    voters: m.voter_ids().collect(),
                    members: m.nodes().map(|(id, _)| *id).collect(),
                    leader_heard: (vote.is_committed() && vote.leader_id().voted_for() != Some(me))
                        .then(|| st.vote_last_modified().map(|t| t.elapsed()))
                        .flatten(),
                }
            })
            .await
            .map_err(|e| WriteError::Unavailable(format!("raft stopped: {e}")))?;
        if !place.members.contains(&self.id) {
            return Err(MembershipError::NotAMember { id: self.id }.into());
        }
        if place.voters == BTreeSet::from([self.id]) && place.members.len() == 1 {
            return Ok(false);
        }
        if asked == Asked::Api {
            let lease = self.leader_lease();
            if self.has_quorum() || place.leader_heard.is_some_and(|d| d <= lease) {
                return Err(MembershipError::HasQuorum {
                    leader: self.leader_id(),
                }
                .into());
            }
        }
        tracing::warn!(
            id = self.id,
            old_voters = ?place.voters,
            "forced recovery: becoming the only voter of the cluster (entries only the others held are lost)"
        );
        self.restart_raft(Rewrite::SoleVoter)
            .await
            .map_err(|e| WriteError::Internal(format!("forced recovery failed: {e}")))?;
        Ok(true)
    }

    /// As the only voter of a restarted Raft: campaign now and wait until this node leads.
    async fn lead_now(&self, what: &'static str) -> Result<(), WriteError> {
        let raft = self.raft();
        let _ = raft.trigger().elect().await;
        raft.wait(Some(super::election_wait(&self.config)))
            .current_leader(self.id, what)
            .await
            .map_err(|e| WriteError::Unavailable(format!("not leading yet: {e}")))?;
        Ok(())
    }

    /// `POST /v1/cluster/force-new-cluster`: recover, then wait for this node to lead and answer
    /// its view.
    pub async fn force_new_cluster_view(&self) -> Result<ClusterView, WriteError> {
        self.force_new_cluster(Asked::Api).await?;
        self.lead_now("leader after a forced recovery").await?;
        Ok(self.local_view())
    }

    /// Stop openraft, rewrite its storage as `rewrite` says, and start a new openraft on the same
    /// storage and state machine. A failed rewrite still restarts openraft, on the state it had.
    pub(crate) async fn restart_raft(&self, rewrite: Rewrite) -> Result<(), RestartError> {
        let rec = &self.recovery;
        rec.restarting.store(true, Ordering::Release);
        let result = self.restart_raft_inner(rewrite).await;
        rec.restarting.store(false, Ordering::Release);
        result
    }

    async fn restart_raft_inner(&self, rewrite: Rewrite) -> Result<(), RestartError> {
        let rec = &self.recovery;
        let old = self.raft();
        old.shutdown()
            .await
            .map_err(|e| crate::Error::Raft(format!("stop raft: {e}")))?;
        drop(old);
        let rx = rec
            .handover
            .lock()
            .expect("handover lock")
            .take()
            .ok_or_else(|| {
                crate::Error::Raft("the state machine was already handed over".into())
            })?;
        let applied = tokio::time::timeout(HANDOVER_WAIT, rx)
            .await
            .map_err(|_| crate::Error::Raft("raft did not hand its state machine back".into()))?
            .map_err(|_| crate::Error::Raft("the state machine was lost".into()))?;
        let (applied, result) = match rewrite {
            Rewrite::SoleVoter => {
                let membership = openraft::Membership::new(
                    vec![BTreeSet::from([self.id])],
                    BTreeMap::from([(self.id, self.addr.clone())]),
                );
                match rec.log_store.force_membership(self.id, membership).await {
                    Ok(at) => {
                        tracing::warn!(id = self.id, log_id = %at, "forced recovery: membership rewritten");
                        (applied, Ok(()))
                    }
                    Err(e) => (applied, Err(e.into())),
                }
            }
            Rewrite::Restore(path) => match self.load_backup(&path).await {
                Ok(a) => (a, Ok(())),
                Err(e) => (applied, Err(e)),
            },
        };
        let mut sm = StateMachine::resume(
            self.store.clone(),
            rec.log_store.flusher(),
            self.config.state_dir.join("snapshots"),
            applied,
            self.applied.clone(),
        )?;
        *rec.handover.lock().expect("handover lock") = Some(sm.handover());
        let raft = new_raft(self, rec.log_store.clone(), sm).await?;
        self.raft.send_replace(raft);
        result
    }

    /// With Raft stopped, on a node of no cluster: make the backup at `path` (verified) this
    /// node's state, without its cluster id, with this node as the only voter.
    async fn load_backup(&self, path: &Path) -> Result<Applied, RestartError> {
        let (name, dir) = self.store.new_data_dir();
        let mut data = SnapshotData::File(
            tokio::fs::File::open(path)
                .await
                .map_err(|e| RestartError::Invalid(format!("open {}: {e}", path.display())))?,
        );
        let unpacked = match snapshot::unpack(&mut data, dir.clone()).await {
            Ok(u) => u,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(RestartError::Invalid(e.to_string()));
            }
        };
        let Some(last) = unpacked.header.last_applied else {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(RestartError::Invalid(
                "the backup holds no applied state".into(),
            ));
        };
        // The restored cluster is a new one: it records a cluster id of its own.
        let kvs: Vec<_> = unpacked
            .kvs
            .into_iter()
            .filter(|(k, _)| k.as_slice() != keys::CLUSTER_ID)
            .collect();
        let membership = StoredMembership::new(
            Some(last),
            openraft::Membership::new(
                vec![BTreeSet::from([self.id])],
                BTreeMap::from([(self.id, self.addr.clone())]),
            ),
        );
        let flusher = self.recovery.log_store.flusher();
        self.store
            .install_snapshot(kvs, (name, dir), &Some(last), &membership, || {
                flusher.flush()
            })
            .await?;
        self.recovery.log_store.restored_at(self.id, last).await?;
        tracing::warn!(id = self.id, applied = %last, "restored from a backup");
        Ok(Applied {
            last_applied: Some(last),
            membership,
        })
    }

    /// `POST /v1/cluster/init {"restore_from": URL}` (and `serve --restore-from`): download (or
    /// read) the backup, verify it, load it, and lead a new one-voter cluster with a new id.
    pub async fn init_from_backup(&self, source: &str) -> Result<Initialized, RestoreError> {
        let _one = self.recovery.lock.lock().await;
        self.refuse_if_initialized().await?;
        let (path, downloaded) = if source.starts_with("http://") || source.starts_with("https://")
        {
            (self.download(source).await?, true)
        } else {
            (PathBuf::from(source), false)
        };
        let result = self.restore_verified(&path).await;
        if downloaded {
            let _ = std::fs::remove_file(&path);
        }
        result?;
        self.lead_now("leader after a restore").await?;
        let cluster_id = self.ensure_cluster_id().await?;
        Ok(Initialized {
            cluster_id,
            leader_id: self.id,
        })
    }

    async fn restore_verified(&self, path: &Path) -> Result<(), RestoreError> {
        let p = path.to_path_buf();
        tokio::task::spawn_blocking(move || backup::verify(&p))
            .await
            .map_err(|e| WriteError::Internal(e.to_string()))?
            .map_err(|e| RestoreError::Invalid(e.to_string()))?;
        self.restart_raft(Rewrite::Restore(path.to_path_buf()))
            .await
            .map_err(|e| match e {
                RestartError::Invalid(m) => RestoreError::Invalid(m),
                RestartError::Storage(e) => WriteError::Internal(e.to_string()).into(),
            })
    }

    /// Download `url` (a plain GET, following redirects) into the snapshots dir.
    async fn download(&self, url: &str) -> Result<PathBuf, RestoreError> {
        let fetch = |e: String| RestoreError::Fetch(format!("GET {url}: {e}"));
        let builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(DOWNLOAD_TIMEOUT);
        let client = self
            .config
            .api_http(builder)
            .map_err(fetch)?
            .build()
            .map_err(|e| fetch(e.to_string()))?;
        let mut resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| fetch(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fetch(format!("answered {}", resp.status())));
        }
        let path = self
            .config
            .state_dir
            .join("snapshots")
            .join(format!("restore-{}.tmp", uuid::Uuid::new_v4().simple()));
        let written: Result<(), RestoreError> = async {
            let mut f = tokio::fs::File::create(&path)
                .await
                .map_err(|e| WriteError::Internal(format!("create {}: {e}", path.display())))?;
            while let Some(chunk) = resp.chunk().await.map_err(|e| fetch(e.to_string()))? {
                f.write_all(&chunk)
                    .await
                    .map_err(|e| WriteError::Internal(format!("write {}: {e}", path.display())))?;
            }
            f.flush()
                .await
                .map_err(|e| WriteError::Internal(format!("write {}: {e}", path.display())))?;
            Ok(())
        }
        .await;
        if let Err(e) = written {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(path)
    }

    /// Whether openraft is being restarted on purpose right now.
    pub(crate) fn restarting(&self) -> bool {
        self.recovery.restarting.load(Ordering::Acquire)
    }
}

/// A new openraft for `node` on `log_store` and `sm`.
async fn new_raft(node: &Node, log_store: LogStore, sm: StateMachine) -> crate::Result<Raft> {
    let config = &node.config;
    let rc = raft_config(
        config.election_timeout.as_millis() as u64,
        config.snapshot_every,
        config.max_entry_bytes(),
    )
    .validate()
    .map_err(|e| crate::Error::Config(e.to_string()))?;
    let network = NetworkFactory {
        pool: node.pool.clone(),
        metrics: node.metrics.clone(),
        snapshot_sends: node.snapshot_sends.clone(),
    };
    Raft::new(node.id, Arc::new(rc), network, log_store, sm)
        .await
        .map_err(|e| crate::Error::Raft(e.to_string()))
}

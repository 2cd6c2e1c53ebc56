//! openraft's state machine over the `sm` tree: applies committed entries through
//! [`crate::topics::apply`], builds and installs snapshots ([`super::snapshot`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder, StorageIOError,
};

use super::flusher::Flusher;
use super::snapshot::{self, Capture, SnapshotDir, SnapshotHeader};
use super::{Entry, LogId, Response, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use crate::topics::apply::Applier;
use crate::topics::{keys, TopicStore};

pub struct StateMachine {
    store: TopicStore,
    flusher: Flusher,
    snapshots: SnapshotDir,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    /// Shared with readiness and metrics.
    applied_index: Arc<AtomicU64>,
    /// Where the snapshot being received is written (openraft receives one at a time).
    receiving: Arc<Mutex<Option<PathBuf>>>,
}

fn sm_err(verb: ErrorVerb, e: impl ToString) -> StorageError {
    StorageIOError::new(
        ErrorSubject::StateMachine,
        verb,
        openraft::AnyError::error(e.to_string()),
    )
    .into()
}

fn snap_err(verb: ErrorVerb, e: impl ToString) -> StorageError {
    StorageIOError::new(
        ErrorSubject::Snapshot(None),
        verb,
        openraft::AnyError::error(e.to_string()),
    )
    .into()
}

impl StateMachine {
    /// Open the state machine; if the current snapshot is ahead of what the tree recovered (a
    /// crash after a snapshot but before the tree reached disk), reload the tree from it.
    pub async fn open(
        store: TopicStore,
        flusher: Flusher,
        snapshot_dir: PathBuf,
    ) -> crate::Result<StateMachine> {
        let snapshots = SnapshotDir::open(snapshot_dir)?;
        let tree = store.tree().clone();
        let mut last_applied: Option<LogId> = store.get(keys::APPLIED)?.flatten();
        let mut membership: StoredMembership = store.get(keys::MEMBERSHIP)?.unwrap_or_default();
        if let Some(path) = snapshots.current() {
            let header = snapshot::read_header(&path)?;
            if header.last_applied > last_applied {
                tracing::info!(snapshot = ?header.last_applied, applied = ?last_applied, "state behind the snapshot; loading it");
                let deleter = store.deleter().clone();
                let h = tokio::task::spawn_blocking(move || snapshot::load(&tree, &deleter, &path))
                    .await
                    .map_err(|e| crate::Error::Raft(e.to_string()))??;
                last_applied = h.last_applied;
                membership = h.membership;
                flusher
                    .flush()
                    .await
                    .map_err(|e| crate::Error::io("flush", e))?;
            }
        }
        let applied_index = Arc::new(AtomicU64::new(last_applied.map_or(0, |l| l.index)));
        Ok(StateMachine {
            store,
            flusher,
            snapshots,
            last_applied,
            membership,
            applied_index,
            receiving: Default::default(),
        })
    }

    pub fn applied_index(&self) -> Arc<AtomicU64> {
        self.applied_index.clone()
    }

    fn set_applied(&mut self, last: Option<LogId>) {
        self.last_applied = last;
        self.applied_index
            .store(last.map_or(0, |l| l.index), Ordering::Release);
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let tree = self.store.tree().clone();
        let applied = tokio::task::spawn_blocking(move || -> crate::Result<_> {
            let mut a = Applier::new(&tree);
            let mut responses = Vec::with_capacity(entries.len());
            let mut last = None;
            let mut membership = None;
            for entry in entries {
                last = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => responses.push(Response::None),
                    EntryPayload::Normal(cmd) => {
                        let mut results = Vec::with_capacity(cmd.ops.len());
                        for op in cmd.ops {
                            results.push(a.apply(op, entry.log_id.index, cmd.ts_ms)?);
                        }
                        responses.push(Response::Ops(results));
                    }
                    EntryPayload::Membership(m) => {
                        for (id, node) in m.nodes() {
                            a.note_node_id(&node.raft_addr, *id)?;
                        }
                        membership = Some(StoredMembership::new(Some(entry.log_id), m));
                        responses.push(Response::None);
                    }
                }
            }
            a.put(keys::APPLIED, &last);
            if let Some(m) = &membership {
                a.put(keys::MEMBERSHIP, m);
            }
            let applied = a.finish();
            tree.apply_batch(applied.batch)?;
            Ok((
                responses,
                last,
                membership,
                applied.touched,
                applied.garbage,
            ))
        })
        .await
        .map_err(|e| sm_err(ErrorVerb::Write, e))?
        .map_err(|e| sm_err(ErrorVerb::Write, e))?;

        let (responses, last, membership, touched, garbage) = applied;
        self.set_applied(last);
        if let Some(m) = membership {
            self.membership = m;
        }
        self.store.deleter().delete(garbage);
        self.store.notifier().notify(&touched);
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        let header = SnapshotHeader {
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            snapshot_id: format!(
                "{}-{}-{}",
                self.last_applied.map_or(0, |l| l.leader_id.term),
                self.last_applied.map_or(0, |l| l.index),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
        };
        // Between two applies: the capture is consistent with `last_applied`.
        let capture = Capture::take(self.store.tree(), header);
        SnapshotBuilder {
            capture: Some(capture),
            store: self.store.clone(),
            flusher: self.flusher.clone(),
            dir: self.snapshots.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let path = self.snapshots.new_receive_path();
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        *self.receiving.lock().expect("receiving lock") = Some(path);
        Ok(Box::new(file))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        mut snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        use std::os::unix::fs::MetadataExt;
        use tokio::io::AsyncSeekExt;

        let rd = |e: std::io::Error| snap_err(ErrorVerb::Read, e);
        let wr = |e: std::io::Error| snap_err(ErrorVerb::Write, e);
        snapshot.sync_all().await.map_err(wr)?;
        let receiving = self.receiving.lock().expect("receiving lock").take();
        let handle_ino = snapshot.metadata().await.map_err(rd)?.ino();
        // Normally the handle is the file `begin_receiving_snapshot` created: keep it as is.
        // A handle from elsewhere gets its content copied into a file of our own.
        let tmp = match receiving {
            Some(p) if std::fs::metadata(&p).is_ok_and(|m| m.ino() == handle_ino) => p,
            other => {
                if let Some(p) = other {
                    let _ = std::fs::remove_file(p);
                }
                let p = self.snapshots.new_receive_path();
                let mut out = tokio::fs::File::create(&p).await.map_err(wr)?;
                snapshot
                    .seek(std::io::SeekFrom::Start(0))
                    .await
                    .map_err(rd)?;
                tokio::io::copy(&mut *snapshot, &mut out)
                    .await
                    .map_err(wr)?;
                out.sync_all().await.map_err(wr)?;
                p
            }
        };
        drop(snapshot);
        let path = self
            .snapshots
            .promote(&tmp, &meta.snapshot_id)
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        let tree = self.store.tree().clone();
        let deleter = self.store.deleter().clone();
        let header = tokio::task::spawn_blocking(move || snapshot::load(&tree, &deleter, &path))
            .await
            .map_err(|e| snap_err(ErrorVerb::Read, e))?
            .map_err(|e| snap_err(ErrorVerb::Read, e))?;
        if header.last_applied != meta.last_log_id {
            return Err(snap_err(
                ErrorVerb::Read,
                format!(
                    "snapshot file is at {:?}, expected {:?}",
                    header.last_applied, meta.last_log_id
                ),
            ));
        }
        self.flusher
            .flush()
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        self.set_applied(meta.last_log_id);
        self.membership = meta.last_membership.clone();
        self.store.notifier().notify_all();
        tracing::info!(last_log_id = ?meta.last_log_id, "installed snapshot from the leader");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let Some(path) = self.snapshots.current() else {
            return Ok(None);
        };
        let header = snapshot::read_header(&path).map_err(|e| snap_err(ErrorVerb::Read, e))?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| snap_err(ErrorVerb::Read, e))?;
        Ok(Some(Snapshot {
            meta: header.meta(),
            snapshot: Box::new(file),
        }))
    }
}

pub struct SnapshotBuilder {
    capture: Option<crate::Result<Capture>>,
    store: TopicStore,
    flusher: Flusher,
    dir: SnapshotDir,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let capture = self
            .capture
            .take()
            .ok_or_else(|| snap_err(ErrorVerb::Write, "snapshot builder used twice"))?
            .map_err(|e| snap_err(ErrorVerb::Read, e))?;
        // The tree state the snapshot describes must be on disk before openraft purges the log
        // entries that produced it.
        self.flusher
            .flush()
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        let meta = capture.header.meta();
        let (store, dir) = (self.store.clone(), self.dir.clone());
        let path =
            tokio::task::spawn_blocking(move || capture.write(store.tree(), store.deleter(), &dir))
                .await
                .map_err(|e| snap_err(ErrorVerb::Write, e))?
                .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| snap_err(ErrorVerb::Read, e))?;
        tracing::info!(last_log_id = ?meta.last_log_id, path = %path.display(), "built snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(file),
        })
    }
}

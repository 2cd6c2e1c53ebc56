//! openraft's log storage: the entries in the Raft log files ([`super::wal`]), the vote, the last
//! purged and the committed log id in the sled tree `raft_meta`. Appends are acknowledged to
//! openraft only after the fsync thread synced them ([`super::flusher`]); the vote is flushed
//! before `save_vote` returns. Reads (replication to each follower, apply) get the newest entries
//! from memory ([`super::wal`]'s tail) and older ones from the files.

// openraft's StorageError is what its traits return; boxing it here would only add a conversion.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, StorageIOError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::flusher::Flusher;
use super::wal::{self, Wal};
use super::{Entry, LogId, NodeId, StorageError, TypeConfig, Vote};
use crate::metrics::Metrics;

const VOTE: &[u8] = b"vote";
const LAST_PURGED: &[u8] = b"last_purged";
const COMMITTED: &[u8] = b"committed";

/// Log storage handle; clones share the same log (openraft wants a separate reader).
#[derive(Clone)]
pub struct LogStore {
    wal: Arc<Mutex<Wal>>,
    meta: sled::Tree,
    flusher: Flusher,
    /// Latest committed index this node learned, for readiness and metrics (0 = none).
    committed: Arc<AtomicU64>,
}

fn read_err(subject: ErrorSubject<NodeId>, e: impl ToString) -> StorageError {
    StorageIOError::new(
        subject,
        ErrorVerb::Read,
        openraft::AnyError::error(e.to_string()),
    )
    .into()
}

fn write_err(subject: ErrorSubject<NodeId>, e: impl ToString) -> StorageError {
    StorageIOError::new(
        subject,
        ErrorVerb::Write,
        openraft::AnyError::error(e.to_string()),
    )
    .into()
}

impl LogStore {
    /// Open the log files in `dir` and the metadata in `db`; starts the fsync thread, which
    /// the returned [`Flusher`] (also used for sled) talks to.
    /// `db_dir` is sled's directory (its files are fsynced after sled's own flush, see
    /// [`Flusher`]); `dir` the Raft log's.
    pub fn open(
        db: &sled::Db,
        db_dir: PathBuf,
        dir: PathBuf,
        metrics: Metrics,
    ) -> crate::Result<(LogStore, Flusher)> {
        let meta = db.open_tree("raft_meta")?;
        let get = |k: &[u8]| -> crate::Result<Option<LogId>> {
            meta.get(k)?
                .map(|v| {
                    bincode::deserialize(&v).map_err(|e| crate::Error::decode("raft metadata", e))
                })
                .transpose()
        };
        let purged = get(LAST_PURGED)?;
        let committed = get(COMMITTED)?;
        let wal = Wal::open(dir.clone(), purged.map(|p| p.index))
            .map_err(|e| crate::Error::io(format!("open the Raft log in {}", dir.display()), e))?;
        let wal = Arc::new(Mutex::new(wal));
        let flusher = Flusher::start(db.clone(), db_dir, wal.clone(), metrics);
        let store = LogStore {
            wal,
            meta,
            flusher: flusher.clone(),
            committed: Arc::new(AtomicU64::new(committed.map_or(0, |c| c.index))),
        };
        Ok((store, flusher))
    }

    /// Shared view of the committed index, updated as openraft reports it.
    pub fn committed_index(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    /// The fsync thread's handle (the state machine shares it).
    pub fn flusher(&self) -> Flusher {
        self.flusher.clone()
    }

    /// Forced recovery, with Raft stopped: make `membership` (this node, `me`, as the only voter)
    /// the log's last entry, in a term above every term this node saw, and store this node's
    /// vote for that term. The vote is fsynced first, then the entry: a crash in between leaves
    /// the old membership under a higher vote, which the next attempt rewrites the same way.
    /// Answers the new entry's log id.
    pub async fn force_membership(
        &self,
        me: NodeId,
        membership: openraft::Membership<NodeId, super::NodeAddr>,
    ) -> crate::Result<LogId> {
        let fail = |what: &str, e: String| crate::Error::Raft(format!("{what}: {e}"));
        let vote: Option<Vote> = self
            .get_meta(VOTE)
            .map_err(|e| fail("read the vote", e.to_string()))?;
        let purged: Option<LogId> = self
            .get_meta(LAST_PURGED)
            .map_err(|e| fail("read the purge point", e.to_string()))?;
        let last = self.wal().last_log_id().or(purged);
        let term = vote
            .map_or(0, |v| v.leader_id().term)
            .max(last.map_or(0, |l| l.leader_id.term))
            + 1;
        let log_id = LogId::new(
            openraft::CommittedLeaderId::new(term, me),
            last.map_or(0, |l| l.index + 1),
        );
        self.put_meta(VOTE, &Vote::new_committed(term, me), ErrorSubject::Vote)
            .map_err(|e| fail("store the vote", e.to_string()))?;
        self.flusher
            .flush()
            .await
            .map_err(|e| fail("fsync the vote", e.to_string()))?;
        self.wal()
            .append([Entry {
                log_id,
                payload: openraft::EntryPayload::Membership(membership),
            }])
            .map_err(|e| fail("append the membership", e.to_string()))?;
        // `flush` syncs the Raft log files before sled.
        self.flusher
            .flush()
            .await
            .map_err(|e| fail("fsync the membership", e.to_string()))?;
        Ok(log_id)
    }

    /// A restore from a backup, with Raft stopped, on a node of no cluster (an empty log): the
    /// log continues after `last` (the backup's last applied entry), and this node voted for
    /// itself in the term after it. Fsynced.
    pub async fn restored_at(&self, me: NodeId, last: LogId) -> crate::Result<()> {
        let fail = |e: String| crate::Error::Raft(format!("record the restore point: {e}"));
        self.put_meta(LAST_PURGED, &last, ErrorSubject::Store)
            .map_err(|e| fail(e.to_string()))?;
        self.put_meta(COMMITTED, &last, ErrorSubject::Store)
            .map_err(|e| fail(e.to_string()))?;
        self.put_meta(
            VOTE,
            &Vote::new_committed(last.leader_id.term + 1, me),
            ErrorSubject::Vote,
        )
        .map_err(|e| fail(e.to_string()))?;
        self.wal().purge(last.index);
        self.committed.fetch_max(last.index, Ordering::Relaxed);
        self.flusher.flush().await.map_err(|e| fail(e.to_string()))
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        match self
            .meta
            .get(key)
            .map_err(|e| read_err(ErrorSubject::Store, e))?
        {
            Some(v) => bincode::deserialize(&v)
                .map(Some)
                .map_err(|e| read_err(ErrorSubject::Store, e)),
            None => Ok(None),
        }
    }

    fn put_meta<T: Serialize>(
        &self,
        key: &[u8],
        v: &T,
        subject: ErrorSubject<NodeId>,
    ) -> Result<(), StorageError> {
        let bytes = bincode::serialize(v).map_err(|e| write_err(subject.clone(), e))?;
        self.meta
            .insert(key, bytes)
            .map_err(|e| write_err(subject, e))?;
        Ok(())
    }

    fn wal(&self) -> std::sync::MutexGuard<'_, Wal> {
        self.wal.lock().expect("wal lock")
    }
}

fn bound_start(b: Bound<&u64>) -> u64 {
    match b {
        Bound::Included(i) => *i,
        Bound::Excluded(i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    }
}

fn bound_end(b: Bound<&u64>) -> u64 {
    match b {
        Bound::Included(i) => i.saturating_add(1),
        Bound::Excluded(i) => *i,
        Bound::Unbounded => u64::MAX,
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let (from, to) = (
            bound_start(range.start_bound()),
            bound_end(range.end_bound()),
        );
        // The newest entries are in memory (what replication and apply ask for): clone them after
        // the lock is released. Older ones (a follower far behind, a restart, entries bigger than
        // the tail: a Kafka load's) are read from the files here, as before the tail: on the
        // blocking pool, each pool thread's allocator kept the pages of the entries it decoded and
        // another thread freed (a leader held 58-60 MB after a Kafka Produce load instead of 32-36).
        let (slots, cached) = self.wal().locate_or_cached(from, to);
        let mut entries = if slots.is_empty() {
            Vec::with_capacity(cached.len())
        } else {
            wal::read_slots(slots).map_err(|e| read_err(ErrorSubject::Logs, e))?
        };
        entries.extend(cached.iter().map(|e| Entry::clone(e)));
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.get_meta(LAST_PURGED)?;
        let last = self.wal().last_log_id().or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.put_meta(VOTE, vote, ErrorSubject::Vote)?;
        self.flusher
            .flush()
            .await
            .map_err(|e| write_err(ErrorSubject::Vote, e))
    }

    /// The vote, as uncommitted: a leader never resumes its term after a restart. openraft 0.9
    /// would restore a leader whose committed vote is its own at once, in the same term, but the
    /// leader sends entries to followers before its own fsync, so a power loss can leave it
    /// without entries a quorum of followers holds and acknowledged (same term, same indexes).
    /// Resuming, it would answer reads without them (a stale `consistency=strong` read was seen
    /// after a whole-cluster power loss) and propose other entries under the same log ids.
    /// Uncommitted, the node keeps its vote in that term (it never votes twice) and only leads
    /// again by winning an election in a later term, which a node missing committed entries
    /// cannot win.
    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.get_meta::<Vote>(VOTE)?.map(|mut v| {
            v.committed = false;
            v
        }))
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not flushed on its own: it is a hint for faster restarts; the next sled flush carries it.
        if let Some(c) = committed {
            self.put_meta(COMMITTED, &c, ErrorSubject::Store)?;
            self.committed.fetch_max(c.index, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        self.get_meta(COMMITTED)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.wal()
            .append(entries)
            .map_err(|e| write_err(ErrorSubject::Logs, e))?;
        self.flusher.log_flushed(callback);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.wal()
            .truncate(log_id.index)
            .map_err(|e| write_err(ErrorSubject::Logs, e))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point first: a crash mid-purge leaves extra entries, never a gap.
        self.put_meta(LAST_PURGED, &log_id, ErrorSubject::Store)?;
        self.flusher
            .flush()
            .await
            .map_err(|e| write_err(ErrorSubject::Store, e))?;
        self.wal().purge(log_id.index);
        Ok(())
    }
}

#[cfg(test)]
mod tests;

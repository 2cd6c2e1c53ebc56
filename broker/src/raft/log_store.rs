//! The Raft log and vote in sled: tree `raft_log` (index, big-endian → entry) and tree `raft_meta`
//! (vote, last purged log id, committed log id). Appends are acknowledged to openraft only after the
//! fsync thread flushed them ([`super::flusher`]); the vote is flushed before `save_vote` returns.

// openraft's StorageError is what its traits return; boxing it here would only add a conversion.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogId, StorageIOError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::flusher::Flusher;
use super::{Entry, LogId, NodeId, StorageError, TypeConfig, Vote};

const VOTE: &[u8] = b"vote";
const LAST_PURGED: &[u8] = b"last_purged";
const COMMITTED: &[u8] = b"committed";

/// Log storage handle; clones share the same trees (openraft wants a separate reader).
#[derive(Clone)]
pub struct LogStore {
    log: sled::Tree,
    meta: sled::Tree,
    flusher: Flusher,
    /// Latest committed index this node learned, for readiness and metrics (0 = none).
    committed: Arc<AtomicU64>,
}

impl LogStore {
    pub fn open(db: &sled::Db, flusher: Flusher) -> Result<LogStore, sled::Error> {
        let store = LogStore {
            log: db.open_tree("raft_log")?,
            meta: db.open_tree("raft_meta")?,
            flusher,
            committed: Arc::new(AtomicU64::new(0)),
        };
        if let Ok(Some(c)) = store.get_meta::<LogId>(COMMITTED) {
            store.committed.store(c.index, Ordering::Relaxed);
        }
        Ok(store)
    }

    /// Shared view of the committed index, updated as openraft reports it.
    pub fn committed_index(&self) -> Arc<AtomicU64> {
        self.committed.clone()
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

    fn last_entry_log_id(&self) -> Result<Option<LogId>, StorageError> {
        match self
            .log
            .last()
            .map_err(|e| read_err(ErrorSubject::Logs, e))?
        {
            Some((_, v)) => Ok(Some(*decode_entry(&v)?.get_log_id())),
            None => Ok(None),
        }
    }
}

fn decode_entry(bytes: &[u8]) -> Result<Entry, StorageError> {
    bincode::deserialize(bytes).map_err(|e| read_err(ErrorSubject::Logs, e))
}

fn read_err(subject: ErrorSubject<NodeId>, e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::new(subject, ErrorVerb::Read, openraft::AnyError::new(&e)).into()
}

fn write_err(subject: ErrorSubject<NodeId>, e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::new(subject, ErrorVerb::Write, openraft::AnyError::new(&e)).into()
}

fn bound_start(b: Bound<&u64>) -> u64 {
    match b {
        Bound::Included(i) => *i,
        Bound::Excluded(i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = bound_start(range.start_bound()).to_be_bytes();
        let iter = match range.end_bound() {
            Bound::Included(e) => self.log.range(start..=e.to_be_bytes()),
            Bound::Excluded(e) => self.log.range(start..e.to_be_bytes()),
            Bound::Unbounded => self.log.range(start..),
        };
        let mut out = Vec::new();
        for kv in iter {
            let (_, v) = kv.map_err(|e| read_err(ErrorSubject::Logs, e))?;
            out.push(decode_entry(&v)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.get_meta(LAST_PURGED)?;
        let last = self.last_entry_log_id()?.or(last_purged);
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

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.get_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not flushed on its own: it is a hint for faster restarts; the next log flush carries it.
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
        let mut batch = sled::Batch::default();
        for entry in entries {
            let bytes = bincode::serialize(&entry).map_err(|e| write_err(ErrorSubject::Logs, e))?;
            batch.insert(&entry.get_log_id().index.to_be_bytes(), bytes);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| write_err(ErrorSubject::Logs, e))?;
        self.flusher.log_flushed(callback);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for kv in self.log.range(log_id.index.to_be_bytes()..) {
            let (k, _) = kv.map_err(|e| read_err(ErrorSubject::Logs, e))?;
            batch.remove(k);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| write_err(ErrorSubject::Logs, e))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point first: a crash mid-purge leaves extra entries, never a gap.
        self.put_meta(LAST_PURGED, &log_id, ErrorSubject::Store)?;
        let mut batch = sled::Batch::default();
        for kv in self.log.range(..=log_id.index.to_be_bytes()) {
            let (k, _) = kv.map_err(|e| read_err(ErrorSubject::Logs, e))?;
            batch.remove(k);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| write_err(ErrorSubject::Logs, e))?;
        Ok(())
    }
}

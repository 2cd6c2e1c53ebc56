//! The newest entries of the Raft log, kept decoded in memory so that the leader replicates (and
//! every node applies) them without reading the log files back: a `pread`, a checksum and a
//! bincode decode per entry, once per follower plus once for the state machine.
//!
//! Always a suffix of the log (possibly empty): filled by [`super::Wal::append`] as entries are
//! written, cut by truncation (a conflicting entry is never served) and purging, and bounded by an
//! estimate of the memory it holds (oldest entries go first). Entries are shared as `Arc`s, so a
//! read holds the log's lock only to count references; readers clone the entries after.

use std::collections::VecDeque;
use std::mem::size_of;
use std::sync::Arc;

use crate::command::{NewMessage, Op};

use super::Entry;

/// What the tail may hold, in [`weight`]s: ~70 ms of the batched load (~15 MB/s of values),
/// far more than a follower that keeps up lags behind (an AppendEntries or two) and small next to
/// the memory target of a node under load (< 30 MB RSS). 4 MB measured +4-6 MB RSS on the leader.
pub(super) const CAP_BYTES: usize = 1024 * 1024;

pub(super) struct Tail {
    entries: VecDeque<(Arc<Entry>, usize)>,
    bytes: usize,
    cap: usize,
}

/// Approximate memory an entry holds decoded: its encoded size (`encoded`, the frame's length)
/// plus the in-memory layout of the entry and of each message (vectors, options, allocator
/// headers), which for small messages is most of it.
pub(super) fn weight(entry: &Entry, encoded: usize) -> usize {
    let messages = match &entry.payload {
        openraft::EntryPayload::Normal(c) => c
            .ops
            .iter()
            .map(|op| match op {
                Op::Publish(p) => p.messages.len(),
                _ => 1,
            })
            .sum(),
        _ => 0,
    };
    encoded + size_of::<Entry>() + 32 + messages * (size_of::<NewMessage>() + 32)
}

impl Tail {
    pub(super) fn new(cap: usize) -> Tail {
        Tail {
            entries: VecDeque::new(),
            bytes: 0,
            cap,
        }
    }

    pub(super) fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|(e, _)| e.log_id.index)
    }

    /// Add the entry written after the last one (the log's new last entry), dropping the oldest
    /// ones past the cap.
    pub(super) fn push(&mut self, entry: Entry, weight: usize) {
        let follows = self
            .entries
            .back()
            .is_none_or(|(last, _)| last.log_id.index + 1 == entry.log_id.index);
        if !follows {
            // Never when the log keeps it a suffix (it truncates before overwriting); a gap here
            // would serve wrong entries, so start over instead.
            debug_assert!(follows, "the tail must stay a suffix of the log");
            self.clear();
        }
        self.bytes += weight;
        self.entries.push_back((Arc::new(entry), weight));
        while self.bytes > self.cap {
            let Some((_, w)) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= w;
        }
    }

    /// Drop entries with index >= `index`.
    pub(super) fn truncate(&mut self, index: u64) {
        while self
            .entries
            .back()
            .is_some_and(|(e, _)| e.log_id.index >= index)
        {
            let (_, w) = self.entries.pop_back().expect("checked");
            self.bytes -= w;
        }
    }

    /// Drop entries with index <= `index`.
    pub(super) fn purge(&mut self, index: u64) {
        while self
            .entries
            .front()
            .is_some_and(|(e, _)| e.log_id.index <= index)
        {
            let (_, w) = self.entries.pop_front().expect("checked");
            self.bytes -= w;
        }
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Entries with index in `[from, to)`, if the tail holds every one of them the log holds
    /// (`None`: some are older than the tail; read the files).
    pub(super) fn get(&self, from: u64, to: u64) -> Option<Vec<Arc<Entry>>> {
        let first = self.first_index()?;
        if from < first {
            return None;
        }
        let start = ((from - first) as usize).min(self.entries.len());
        let end = (to.saturating_sub(first) as usize).clamp(start, self.entries.len());
        Some(
            self.entries
                .range(start..end)
                .map(|(e, _)| e.clone())
                .collect(),
        )
    }
}

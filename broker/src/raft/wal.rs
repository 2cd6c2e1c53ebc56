//! The Raft log on disk: append-only files of length-prefixed, checksummed entries.
//!
//! ```text
//!  <state-dir>/raft/<first index, 20 digits>.wal     frames: u32 len | u32 crc32 | bincode(Entry)
//! ```
//!
//! Appends are plain writes; the fsync thread ([`super::flusher`]) syncs the dirty files before
//! openraft hears the entries are stored. Truncation cuts the file holding the first removed
//! entry (and drops later files); purging deletes files whose entries are all purged. A new file
//! starts once the current one passes `FILE_BYTES`. On open, [`recover`] repairs what a crash can
//! leave (a torn tail, a torn rotation, files a truncation removed coming back) and refuses to
//! start on what only corruption can (a bad entry followed by valid ones, entries missing).
//!
//! In memory: the position of each entry still in the log — bounded by the snapshot policy, which
//! purges the log after every checkpoint — an open handle per file, and the newest entries
//! decoded ([`tail`], about 1 MB), which reads of them ([`Wal::cached`]) get without the files.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::RaftLogId;

use super::{Entry, LogId};

mod recover;
mod tail;
#[cfg(test)]
pub(crate) mod tail_tests;

const FILE_BYTES: u64 = 16 * 1024 * 1024;
const MAX_FRAME: u32 = 1 << 30;

pub struct WalFile {
    first: u64,
    file: File,
    len: AtomicU64,
}

impl WalFile {
    fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// An entry in a file: the file, its position and length there, its index.
pub type Located = (Arc<WalFile>, u64, u32, u64);

#[derive(Clone, Copy)]
struct Slot {
    log_id: LogId,
    /// `first` of the file holding it.
    file: u64,
    pos: u64,
    len: u32,
}

pub struct Wal {
    dir: PathBuf,
    files: BTreeMap<u64, Arc<WalFile>>,
    entries: VecDeque<Slot>,
    /// Files written (or created, or cut) since the last sync, by `first`.
    dirty: BTreeMap<u64, Arc<WalFile>>,
    dir_dirty: bool,
    /// A new file starts once the current one reaches this (`FILE_BYTES`; smaller in tests).
    file_bytes: u64,
    /// The newest entries, decoded: reads of them skip the files.
    tail: tail::Tail,
}

fn path_of(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.wal"))
}

fn corrupt(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl Wal {
    /// Open the log in `dir`, skipping entries at or below `purged`, repairing what a crash can
    /// leave behind and refusing what only corruption can (see [`recover`]).
    pub fn open(dir: PathBuf, purged: Option<u64>) -> io::Result<Wal> {
        fs::create_dir_all(&dir)?;
        let mut firsts: Vec<u64> = fs::read_dir(&dir)?
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".wal"))
                    .and_then(|n| n.parse().ok())
            })
            .collect();
        firsts.sort_unstable();
        let mut scans = Vec::with_capacity(firsts.len());
        for first in firsts {
            scans.push(recover::scan(&path_of(&dir, first), first)?);
        }
        let plans = recover::plan(&scans, purged, &dir)?;
        let mut wal = Wal {
            dir,
            files: BTreeMap::new(),
            entries: VecDeque::new(),
            dirty: BTreeMap::new(),
            dir_dirty: false,
            file_bytes: FILE_BYTES,
            tail: tail::Tail::new(tail::CAP_BYTES),
        };
        let mut removed = false;
        for (scan, plan) in scans.into_iter().zip(plans) {
            let path = path_of(&wal.dir, scan.first);
            match plan {
                recover::Plan::Delete(why) => {
                    tracing::warn!(file = %path.display(), "removing a Raft log file: {why}");
                    fs::remove_file(&path)?;
                    removed = true;
                    continue;
                }
                recover::Plan::Keep { cut_at } => {
                    let file = OpenOptions::new().read(true).write(true).open(&path)?;
                    if let Some(at) = cut_at {
                        tracing::warn!(file = %path.display(), at, "cutting a torn entry off the end of the Raft log");
                        file.set_len(at)?;
                        file.sync_all()?;
                    }
                    for f in scan.frames {
                        if purged.is_none_or(|p| f.log_id.index > p) {
                            wal.entries.push_back(Slot {
                                log_id: f.log_id,
                                file: scan.first,
                                pos: f.pos,
                                len: f.len,
                            });
                        }
                    }
                    let len = AtomicU64::new(file.metadata()?.len());
                    let first = scan.first;
                    wal.files
                        .insert(first, Arc::new(WalFile { first, file, len }));
                }
            }
        }
        if removed {
            File::open(&wal.dir)?.sync_all()?;
        }
        wal.drop_purged_files();
        Ok(wal)
    }

    pub fn last_log_id(&self) -> Option<LogId> {
        self.entries.back().map(|s| s.log_id)
    }

    /// Append entries (consecutive, following the last one).
    pub fn append(&mut self, entries: impl IntoIterator<Item = Entry>) -> io::Result<()> {
        let mut entries = entries.into_iter().peekable();
        let Some(first) = entries.peek().map(|e| e.get_log_id().index) else {
            return Ok(());
        };
        let mut buf = Vec::new();
        let mut slots = Vec::new();
        // The entries in `buf`, kept for the tail once written.
        let mut written = Vec::new();
        if let Some(last) = self.last_log_id().map(|l| l.index) {
            if first <= last {
                // openraft's view of the log is the truth: entries it does not know of are stale
                self.truncate(first)?;
            } else if first != last + 1 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "appending entry {first} after {last} would leave a gap in the Raft log"
                    ),
                ));
            }
        }
        let mut file = self.active_for_append(first)?;
        for entry in entries {
            if buf.len() as u64 + file.len() >= self.file_bytes && !buf.is_empty() {
                self.write(&file, &buf)?;
                buf.clear();
                self.entries.extend(slots.drain(..));
                self.fill_tail(written.drain(..));
                file = self.new_file(entry.get_log_id().index)?;
            }
            let start = buf.len();
            buf.extend_from_slice(&[0u8; 8]);
            bincode::serialize_into(&mut buf, &entry).map_err(io::Error::other)?;
            let len = (buf.len() - start - 8) as u32;
            let crc = crc32fast::hash(&buf[start + 8..]);
            buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
            buf[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
            slots.push(Slot {
                log_id: *entry.get_log_id(),
                file: file.first,
                pos: file.len() + start as u64,
                len: len + 8,
            });
            let weight = tail::weight(&entry, len as usize + 8);
            written.push((entry, weight));
        }
        if !buf.is_empty() {
            self.write(&file, &buf)?;
            self.entries.extend(slots);
            self.fill_tail(written);
        }
        Ok(())
    }

    fn fill_tail(&mut self, written: impl IntoIterator<Item = (Entry, usize)>) {
        for (entry, weight) in written {
            self.tail.push(entry, weight);
        }
    }

    /// Entries with index in `[from, to)` when the in-memory tail holds all of them the log
    /// does (`None`: some are only in the files).
    #[cfg(test)]
    pub fn cached(&self, from: u64, to: u64) -> Option<Vec<Arc<Entry>>> {
        self.tail.get(from, to)
    }

    /// Entries with index in `[from, to)`: where those older than the in-memory tail are in the
    /// files (read them with [`read_slots`] without holding the log), then the rest from the tail.
    /// Together, in order, every entry of the range the log holds (the tail is its suffix).
    pub fn locate_or_cached(&self, from: u64, to: u64) -> (Vec<Located>, Vec<Arc<Entry>>) {
        match self.tail.first_index() {
            Some(first) if first < to => (
                self.locate(from, first),
                self.tail.get(from.max(first), to).unwrap_or_default(),
            ),
            _ => (self.locate(from, to), Vec::new()),
        }
    }

    /// Start over with an empty tail of `cap` bytes (tests: a small one, to fill it).
    #[cfg(test)]
    pub fn set_tail_cap(&mut self, cap: usize) {
        self.tail = tail::Tail::new(cap);
    }

    fn write(&mut self, file: &Arc<WalFile>, buf: &[u8]) -> io::Result<()> {
        file.file.write_all_at(buf, file.len())?;
        file.len.fetch_add(buf.len() as u64, Ordering::AcqRel);
        self.dirty.insert(file.first, file.clone());
        Ok(())
    }

    /// The file entry `index` goes to: the last one, or a new one when there is none or it is full.
    fn active_for_append(&mut self, index: u64) -> io::Result<Arc<WalFile>> {
        match self.files.values().next_back() {
            Some(f) if f.len() < self.file_bytes => Ok(f.clone()),
            _ => self.new_file(index),
        }
    }

    fn new_file(&mut self, first: u64) -> io::Result<Arc<WalFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path_of(&self.dir, first))?;
        let f = Arc::new(WalFile {
            first,
            file,
            len: AtomicU64::new(0),
        });
        self.files.insert(first, f.clone());
        self.dir_dirty = true;
        Ok(f)
    }

    /// Files to fsync for everything written so far to be durable (and the directory, when
    /// files were created or deleted).
    pub fn take_dirty(&mut self) -> (Vec<Arc<WalFile>>, Option<PathBuf>) {
        let files = std::mem::take(&mut self.dirty).into_values().collect();
        let dir = std::mem::take(&mut self.dir_dirty).then(|| self.dir.clone());
        (files, dir)
    }

    /// Where entries with index in `[from, to)` are; read them with [`read_slots`] without
    /// holding the log.
    pub fn locate(&self, from: u64, to: u64) -> Vec<Located> {
        let Some(first) = self.entries.front().map(|s| s.log_id.index) else {
            return Vec::new();
        };
        let start = from.saturating_sub(first) as usize;
        let end = (to.saturating_sub(first) as usize).min(self.entries.len());
        self.entries
            .range(start.min(end)..end)
            .map(|s| (self.files[&s.file].clone(), s.pos, s.len, s.log_id.index))
            .collect()
    }

    /// Entries with index in `[from, to)`.
    pub fn read(&self, from: u64, to: u64) -> io::Result<Vec<Entry>> {
        read_slots(self.locate(from, to))
    }

    /// Remove entries with index >= `index`.
    pub fn truncate(&mut self, index: u64) -> io::Result<()> {
        // The tail first: whatever fails below, it never holds an entry the log lost.
        self.tail.truncate(index);
        let Some(first) = self.entries.front().map(|s| s.log_id.index) else {
            return Ok(());
        };
        if index < first {
            self.entries.clear();
        } else {
            self.entries.truncate((index - first) as usize);
        }
        let keep_until = self.entries.back().map(|s| (s.file, s.pos + s.len as u64));
        let doomed: Vec<u64> = self
            .files
            .keys()
            .copied()
            .filter(|f| keep_until.is_none_or(|(kf, _)| *f > kf))
            .collect();
        for f in doomed {
            self.files.remove(&f);
            self.dirty.remove(&f);
            fs::remove_file(path_of(&self.dir, f))?;
            self.dir_dirty = true;
        }
        if let Some((kf, end)) = keep_until {
            let file = self.files[&kf].clone();
            if file.len() > end {
                file.file.set_len(end)?;
                file.len.store(end, Ordering::Release);
                self.dirty.insert(kf, file);
            }
        }
        Ok(())
    }

    /// Forget entries with index <= `index` and delete the files holding only those.
    pub fn purge(&mut self, index: u64) {
        self.tail.purge(index);
        while self
            .entries
            .front()
            .is_some_and(|s| s.log_id.index <= index)
        {
            self.entries.pop_front();
        }
        self.drop_purged_files();
    }

    fn drop_purged_files(&mut self) {
        // Every file before the one holding the first live entry (or all but the last, when the
        // log is empty: the last one is where appends continue).
        let keep_from = match self.entries.front() {
            Some(s) => s.file,
            None => self.files.keys().next_back().copied().unwrap_or(0),
        };
        let doomed: Vec<u64> = self.files.range(..keep_from).map(|(f, _)| *f).collect();
        for f in doomed {
            self.files.remove(&f);
            self.dirty.remove(&f);
            if let Err(e) = fs::remove_file(path_of(&self.dir, f)) {
                tracing::warn!(error = %e, "could not delete a purged Raft log file");
            }
            self.dir_dirty = true;
        }
    }
}

/// Read entries located with [`Wal::locate`].
pub fn read_slots(slots: Vec<Located>) -> io::Result<Vec<Entry>> {
    let mut out = Vec::with_capacity(slots.len());
    for (file, pos, len, index) in slots {
        let mut buf = vec![0u8; len as usize];
        file.file.read_exact_at(&mut buf, pos)?;
        let (entry, _) = frame_at(&buf)
            .map_err(|e| corrupt(format!("entry {index}: {e}")))?
            .ok_or_else(|| corrupt(format!("entry {index} is cut short")))?;
        out.push(entry);
    }
    Ok(out)
}

/// Why bytes at a position are not an entry.
#[derive(Debug)]
enum FrameError {
    Length(u32),
    Checksum,
    /// The checksum holds but bincode cannot read it: never a torn write.
    Undecodable(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Length(n) => write!(f, "bad entry length {n}"),
            FrameError::Checksum => write!(f, "checksum mismatch"),
            FrameError::Undecodable(e) => write!(f, "undecodable entry: {e}"),
        }
    }
}

/// The length of a checksummed frame at the start of `buf` (`Ok(None)`: `buf` ends inside it).
fn frame_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let len = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes"));
    if len == 0 || len > MAX_FRAME {
        return Err(FrameError::Length(len));
    }
    let total = 8 + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let crc = u32::from_be_bytes(buf[4..8].try_into().expect("4 bytes"));
    if crc32fast::hash(&buf[8..total]) != crc {
        return Err(FrameError::Checksum);
    }
    Ok(Some(total))
}

fn frame_at(buf: &[u8]) -> Result<Option<(Entry, usize)>, FrameError> {
    let Some(total) = frame_len(buf)? else {
        return Ok(None);
    };
    let entry =
        bincode::deserialize(&buf[8..total]).map_err(|e| FrameError::Undecodable(e.to_string()))?;
    Ok(Some((entry, total)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::command::Command;

    fn entry(term: u64, index: u64) -> Entry {
        openraft::Entry {
            log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(term, 1), index),
            payload: openraft::EntryPayload::Normal(Command {
                ts_ms: index,
                ops: vec![],
            }),
        }
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = frame_at(&bytes);
        }
    }

    #[test]
    fn entries_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Wal::open(dir.path().to_path_buf(), None).unwrap();
        w.append((1..=10).map(|i| entry(1, i))).unwrap();
        w.truncate(8).unwrap();
        w.append((8..=12).map(|i| entry(2, i))).unwrap();
        drop(w);
        // A crash in the middle of writing entry 13.
        let path = path_of(dir.path(), 1);
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0, 0, 1, 0, 9, 9]);
        fs::write(&path, bytes).unwrap();

        let w = Wal::open(dir.path().to_path_buf(), None).unwrap();
        let got = w.read(1, 100).unwrap();
        assert_eq!(got.len(), 12);
        assert_eq!(
            got[9].log_id,
            openraft::LogId::new(openraft::CommittedLeaderId::new(2, 1), 10)
        );
        assert_eq!(w.last_log_id().unwrap().index, 12);
    }

    fn open(dir: &Path) -> io::Result<Wal> {
        Wal::open(dir.to_path_buf(), None)
    }

    fn indexes(w: &Wal) -> Vec<(u64, u64)> {
        w.read(0, u64::MAX)
            .unwrap()
            .iter()
            .map(|e| (e.log_id.leader_id.term, e.log_id.index))
            .collect()
    }

    fn wal_files(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    }

    fn cut_tail(path: &Path, bytes: u64) {
        let f = OpenOptions::new().write(true).open(path).unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len - bytes).unwrap();
    }

    /// Entries 1..=`n` of term 1, one file each from entry `own_files_from` on (a rotation per
    /// entry), the ones before in the first file.
    fn rotated(dir: &Path, n: u64, own_files_from: u64) {
        let mut w = open(dir).unwrap();
        w.append((1..own_files_from).map(|i| entry(1, i))).unwrap();
        w.file_bytes = 1;
        w.append((own_files_from..=n).map(|i| entry(1, i))).unwrap();
    }

    #[test]
    fn corruption_followed_by_valid_entries_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = open(dir.path()).unwrap();
        w.append((1..=10).map(|i| entry(1, i))).unwrap();
        let (_, pos, len, _) = w.locate(3, 4)[0].clone();
        drop(w);
        let path = path_of(dir.path(), 1);
        let mut bytes = fs::read(&path).unwrap();
        bytes[(pos + len as u64 - 2) as usize] ^= 0x40; // bit rot inside entry 3
        fs::write(&path, &bytes).unwrap();
        let err = open(dir.path()).err().expect("must refuse");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("valid entries follow it"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), bytes, "nothing was cut");
    }

    #[test]
    fn a_checksummed_entry_that_does_not_decode_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = open(dir.path()).unwrap();
        w.append((1..=3).map(|i| entry(1, i))).unwrap();
        drop(w);
        let payload = [0xffu8; 24];
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
        frame.extend_from_slice(&payload);
        let path = path_of(dir.path(), 1);
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(&frame);
        fs::write(&path, bytes).unwrap();
        let err = open(dir.path()).err().expect("must refuse");
        assert!(err.to_string().contains("does not decode"), "{err}");
    }

    #[test]
    fn a_torn_rotation_with_an_empty_new_file_is_repaired() {
        let dir = tempfile::tempdir().unwrap();
        rotated(dir.path(), 6, 6);
        let files = wal_files(dir.path());
        assert_eq!(files.len(), 2);
        // the crash hit while the rotation wrote: the old file's tail torn, the new one empty
        cut_tail(&files[0], 3);
        fs::write(&files[1], b"").unwrap();
        let w = open(dir.path()).unwrap();
        assert_eq!(indexes(&w), (1..=4).map(|i| (1, i)).collect::<Vec<_>>());
        assert_eq!(wal_files(dir.path()), vec![files[0].clone()]);
        drop(w);
        let mut w = open(dir.path()).unwrap();
        w.append((5..=7).map(|i| entry(2, i))).unwrap();
        assert_eq!(w.last_log_id().unwrap().index, 7);
    }

    #[test]
    fn a_torn_rotation_drops_the_newer_file_that_follows_the_torn_entry() {
        let dir = tempfile::tempdir().unwrap();
        rotated(dir.path(), 6, 6);
        let files = wal_files(dir.path());
        cut_tail(&files[0], 3); // entry 5 torn; entry 6 in the new file was never acknowledged
        let w = open(dir.path()).unwrap();
        assert_eq!(w.last_log_id().unwrap().index, 4);
        assert_eq!(wal_files(dir.path()).len(), 1);
    }

    #[test]
    fn a_torn_entry_in_an_older_file_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        rotated(dir.path(), 8, 6);
        let files = wal_files(dir.path());
        assert_eq!(files.len(), 4);
        cut_tail(&files[0], 3);
        let err = open(dir.path()).err().expect("must refuse");
        assert!(err.to_string().contains("newer files follow it"), "{err}");
    }

    #[test]
    fn files_a_truncation_removed_coming_back_are_dropped() {
        for rewritten_to in [9, 5] {
            let dir = tempfile::tempdir().unwrap();
            rotated(dir.path(), 10, 6);
            let saved: Vec<(PathBuf, Vec<u8>)> = wal_files(dir.path())[1..]
                .iter()
                .map(|p| (p.clone(), fs::read(p).unwrap()))
                .collect();
            let mut w = open(dir.path()).unwrap();
            w.truncate(4).unwrap();
            w.append((4..=rewritten_to).map(|i| entry(2, i))).unwrap();
            drop(w);
            // power lost before the directory was synced: the removed files are back
            for (p, b) in &saved {
                fs::write(p, b).unwrap();
            }
            let w = open(dir.path()).unwrap();
            let want: Vec<(u64, u64)> = (1..=3)
                .map(|i| (1, i))
                .chain((4..=rewritten_to).map(|i| (2, i)))
                .collect();
            assert_eq!(indexes(&w), want, "rewritten up to {rewritten_to}");
            assert_eq!(wal_files(dir.path()).len(), 1);
        }
    }

    #[test]
    fn entries_missing_between_files_refuse_to_open() {
        let dir = tempfile::tempdir().unwrap();
        rotated(dir.path(), 10, 6);
        fs::remove_file(path_of(dir.path(), 7)).unwrap();
        let err = open(dir.path()).err().expect("must refuse");
        assert!(
            err.to_string().contains("entries 7..7 are missing"),
            "{err}"
        );
    }

    #[test]
    fn a_zero_filled_tail_is_torn_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = open(dir.path()).unwrap();
        w.append((1..=3).map(|i| entry(1, i))).unwrap();
        drop(w);
        let path = path_of(dir.path(), 1);
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len + 4096)
            .unwrap();
        let w = open(dir.path()).unwrap();
        assert_eq!(w.last_log_id().unwrap().index, 3);
        assert_eq!(fs::metadata(&path).unwrap().len(), len);
    }

    #[test]
    fn append_replaces_entries_it_overlaps_and_refuses_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = open(dir.path()).unwrap();
        w.append((1..=5).map(|i| entry(1, i))).unwrap();
        w.append((4..=6).map(|i| entry(2, i))).unwrap();
        let want: Vec<(u64, u64)> = vec![(1, 1), (1, 2), (1, 3), (2, 4), (2, 5), (2, 6)];
        assert_eq!(indexes(&w), want);
        let err = w.append([entry(2, 9)]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(indexes(&w), want);
    }

    #[test]
    fn purge_forgets_entries_and_reopen_skips_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Wal::open(dir.path().to_path_buf(), None).unwrap();
        w.append((1..=20).map(|i| entry(1, i))).unwrap();
        w.purge(15);
        assert_eq!(w.read(1, 100).unwrap().first().unwrap().log_id.index, 16);
        drop(w);
        let w = Wal::open(dir.path().to_path_buf(), Some(15)).unwrap();
        let idx: Vec<u64> = w
            .read(0, 100)
            .unwrap()
            .iter()
            .map(|e| e.log_id.index)
            .collect();
        assert_eq!(idx, (16..=20).collect::<Vec<_>>());
    }
}

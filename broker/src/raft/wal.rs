//! The Raft log on disk: append-only files of length-prefixed, checksummed entries.
//!
//! ```text
//!  <state-dir>/raft/<first index, 20 digits>.wal     frames: u32 len | u32 crc32 | bincode(Entry)
//! ```
//!
//! Appends are plain writes; the fsync thread ([`super::flusher`]) syncs the dirty files before
//! openraft hears the entries are stored. Truncation cuts the file holding the first removed
//! entry (and drops later files); purging deletes files whose entries are all purged. A new file
//! starts once the current one passes `FILE_BYTES`. On open, a torn frame at the tail of the last
//! file (a crash mid-write) is cut off.
//!
//! In memory: the position of each entry still in the log — bounded by the snapshot policy, which
//! purges the log after every checkpoint — and an open handle per file.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::RaftLogId;

use super::{Entry, LogId};

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
}

fn path_of(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.wal"))
}

fn corrupt(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl Wal {
    /// Open the log in `dir`, skipping entries at or below `purged`.
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
        let mut wal = Wal {
            dir,
            files: BTreeMap::new(),
            entries: VecDeque::new(),
            dirty: BTreeMap::new(),
            dir_dirty: false,
        };
        let last_file = firsts.last().copied();
        for first in firsts {
            let path = path_of(&wal.dir, first);
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            let bytes = fs::read(&path)?;
            let mut pos = 0usize;
            while pos < bytes.len() {
                match frame_at(&bytes[pos..]) {
                    Ok(Some((entry, n))) => {
                        let id = *entry.get_log_id();
                        if purged.is_none_or(|p| id.index > p) {
                            if let Some(prev) = wal.entries.back() {
                                if id.index != prev.log_id.index + 1 {
                                    return Err(corrupt(format!(
                                        "{}: entry {} follows {}",
                                        path.display(),
                                        id.index,
                                        prev.log_id.index
                                    )));
                                }
                            }
                            wal.entries.push_back(Slot {
                                log_id: id,
                                file: first,
                                pos: pos as u64,
                                len: n as u32,
                            });
                        }
                        pos += n;
                    }
                    // A torn write at the very end of the log: the entry was never acknowledged.
                    Ok(None) | Err(_) if Some(first) == last_file => {
                        tracing::warn!(file = %path.display(), at = pos, "cutting a torn entry off the end of the Raft log");
                        file.set_len(pos as u64)?;
                        file.sync_all()?;
                        break;
                    }
                    Ok(None) => {
                        return Err(corrupt(format!(
                            "{}: truncated entry at {pos} in the middle of the log",
                            path.display()
                        )))
                    }
                    Err(e) => return Err(corrupt(format!("{}: {e} at {pos}", path.display()))),
                }
            }
            let len = AtomicU64::new(file.metadata()?.len());
            wal.files
                .insert(first, Arc::new(WalFile { first, file, len }));
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
        let mut file = self.active_for_append(first)?;
        for entry in entries {
            if buf.len() as u64 + file.len() >= FILE_BYTES && !buf.is_empty() {
                self.write(&file, &buf)?;
                buf.clear();
                self.entries.extend(slots.drain(..));
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
        }
        if !buf.is_empty() {
            self.write(&file, &buf)?;
            self.entries.extend(slots);
        }
        Ok(())
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
            Some(f) if f.len() < FILE_BYTES => Ok(f.clone()),
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
    pub fn locate(&self, from: u64, to: u64) -> Vec<(Arc<WalFile>, u64, u32, u64)> {
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
pub fn read_slots(slots: Vec<(Arc<WalFile>, u64, u32, u64)>) -> io::Result<Vec<Entry>> {
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

fn frame_at(buf: &[u8]) -> Result<Option<(Entry, usize)>, String> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let len = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes"));
    if len == 0 || len > MAX_FRAME {
        return Err(format!("bad entry length {len}"));
    }
    let total = 8 + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let crc = u32::from_be_bytes(buf[4..8].try_into().expect("4 bytes"));
    if crc32fast::hash(&buf[8..total]) != crc {
        return Err("checksum mismatch".into());
    }
    let entry =
        bincode::deserialize(&buf[8..total]).map_err(|e| format!("undecodable entry: {e}"))?;
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

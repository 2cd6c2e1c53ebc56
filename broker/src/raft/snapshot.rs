//! Snapshot files. A snapshot is the state-machine tree at one applied log id, written as a
//! stream of key/value records to `<state-dir>/snapshots/`, so it can be streamed to a peer in
//! chunks and loaded without holding it in memory.
//!
//! ```text
//!  "JNSNAP01" | u32 len | bincode(SnapshotHeader) | { u32 klen | key | u32 vlen | value }* | u32::MAX
//! ```
//!
//! Capture is cheap and happens between two applies: the small keys (topics, consumers, producers,
//! cluster metadata) are copied, and for the message data only each topic's `[start, next)` range is
//! noted. Message records in that range never change (offsets only grow), and the background
//! deleter is paused while the file is written, so applies continue during the build.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{LogId, SnapshotMeta, StoredMembership};
use crate::topics::deleter::Deleter;
use crate::topics::{apply::decode, keys, TopicMeta};
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"JNSNAP01";
const END: u32 = u32::MAX;
const LOAD_BATCH: usize = 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotHeader {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    pub snapshot_id: String,
}

impl SnapshotHeader {
    pub fn meta(&self) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id: self.snapshot_id.clone(),
        }
    }
}

/// What a snapshot holds, captured between two applies.
pub struct Capture {
    pub header: SnapshotHeader,
    /// Every key outside `d/`, with its value.
    small: Vec<(Vec<u8>, Vec<u8>)>,
    /// (topic id, start, next) of every topic.
    ranges: Vec<(u64, u64, u64)>,
}

impl Capture {
    pub fn take(tree: &sled::Tree, header: SnapshotHeader) -> Result<Capture> {
        let mut small = Vec::new();
        let mut ranges = Vec::new();
        let data_end = keys::prefix_end(keys::DATA_PREFIX);
        for kv in tree
            .range(..keys::DATA_PREFIX.to_vec())
            .chain(tree.range(data_end..))
        {
            let (k, v) = kv?;
            if k.starts_with(keys::TOPIC_PREFIX) {
                let m: TopicMeta = decode(&v)?;
                ranges.push((m.id, m.start, m.next));
            }
            small.push((k.to_vec(), v.to_vec()));
        }
        Ok(Capture {
            header,
            small,
            ranges,
        })
    }

    /// Write the snapshot file into `dir`; returns its final path.
    pub fn write(self, tree: &sled::Tree, deleter: &Deleter, dir: &SnapshotDir) -> Result<PathBuf> {
        let _paused = deleter.pause();
        let tmp = dir
            .path
            .join(format!("building-{}.tmp", uuid::Uuid::new_v4()));
        let file =
            File::create(&tmp).map_err(|e| Error::io(format!("create {}", tmp.display()), e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let io = |e| Error::io("write snapshot", e);
        w.write_all(MAGIC).map_err(io)?;
        let header = bincode::serialize(&self.header).expect("header encodes");
        write_chunk(&mut w, &header).map_err(io)?;
        for (k, v) in &self.small {
            write_chunk(&mut w, k).map_err(io)?;
            write_chunk(&mut w, v).map_err(io)?;
        }
        for (id, start, next) in &self.ranges {
            for kv in tree.range(keys::message(*id, *start)..keys::message(*id, *next)) {
                let (k, v) = kv?;
                write_chunk(&mut w, &k).map_err(io)?;
                write_chunk(&mut w, &v).map_err(io)?;
            }
        }
        w.write_all(&END.to_be_bytes()).map_err(io)?;
        let file = w
            .into_inner()
            .map_err(|e| Error::io("flush snapshot", e.into_error()))?;
        file.sync_all().map_err(io)?;
        dir.promote(&tmp, &self.header.snapshot_id)
    }
}

fn write_chunk(w: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    w.write_all(&(bytes.len() as u32).to_be_bytes())?;
    w.write_all(bytes)
}

fn read_chunk(r: &mut impl Read, what: &str) -> Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)
        .map_err(|e| Error::io(format!("snapshot truncated before {what}"), e))?;
    let len = u32::from_be_bytes(len);
    if len == END {
        return Ok(None);
    }
    if len > 1 << 30 {
        return Err(Error::Raft(format!(
            "snapshot record of {len} bytes: corrupt snapshot"
        )));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)
        .map_err(|e| Error::io(format!("snapshot truncated in {what}"), e))?;
    Ok(Some(buf))
}

/// Read just the header of a snapshot file.
pub fn read_header(path: &Path) -> Result<SnapshotHeader> {
    let mut r = BufReader::new(
        File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?,
    );
    header_from(&mut r)
}

fn header_from(r: &mut impl Read) -> Result<SnapshotHeader> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)
        .map_err(|e| Error::io("snapshot header", e))?;
    if &magic != MAGIC {
        return Err(Error::Raft("not a jumpnet snapshot (bad magic)".into()));
    }
    let header =
        read_chunk(r, "header")?.ok_or_else(|| Error::Raft("snapshot without header".into()))?;
    bincode::deserialize(&header).map_err(|e| Error::decode("snapshot header", e))
}

/// Replace the whole state-machine tree with the snapshot in `path`; returns its header.
pub fn load(tree: &sled::Tree, deleter: &Deleter, path: &Path) -> Result<SnapshotHeader> {
    let _paused = deleter.pause();
    let mut r = BufReader::with_capacity(
        1 << 20,
        File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?,
    );
    let header = header_from(&mut r)?;
    tree.clear()?;
    let mut batch = sled::Batch::default();
    let mut n = 0;
    while let Some(k) = read_chunk(&mut r, "key")? {
        let v = read_chunk(&mut r, "value")?
            .ok_or_else(|| Error::Raft("snapshot ends inside a record".into()))?;
        batch.insert(k, v);
        n += 1;
        if n % LOAD_BATCH == 0 {
            tree.apply_batch(std::mem::take(&mut batch))?;
        }
    }
    tree.apply_batch(batch)?;
    Ok(header)
}

/// `<state-dir>/snapshots`: at most one current snapshot (`snap-<id>.bin`), plus files being
/// built or received.
#[derive(Clone)]
pub struct SnapshotDir {
    path: PathBuf,
}

impl SnapshotDir {
    pub fn open(path: PathBuf) -> Result<SnapshotDir> {
        fs::create_dir_all(&path)
            .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        // Leftovers of builds or transfers that a crash interrupted.
        for entry in fs::read_dir(&path)
            .map_err(|e| Error::io("list snapshots", e))?
            .flatten()
        {
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(SnapshotDir { path })
    }

    pub fn new_receive_path(&self) -> PathBuf {
        self.path
            .join(format!("receiving-{}.tmp", uuid::Uuid::new_v4()))
    }

    /// The current snapshot file, if any.
    pub fn current(&self) -> Option<PathBuf> {
        fs::read_dir(&self.path)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "bin"))
            .max_by_key(|p| fs::metadata(p).and_then(|m| m.modified()).ok())
    }

    /// Make `tmp` the current snapshot (durably) and remove the previous ones.
    pub fn promote(&self, tmp: &Path, snapshot_id: &str) -> Result<PathBuf> {
        let target = self.path.join(format!("snap-{snapshot_id}.bin"));
        fs::rename(tmp, &target).map_err(|e| Error::io("rename snapshot", e))?;
        File::open(&self.path)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("sync snapshot dir", e))?;
        for entry in fs::read_dir(&self.path)
            .map_err(|e| Error::io("list snapshots", e))?
            .flatten()
        {
            let p = entry.path();
            if p != target && p.extension().is_some_and(|x| x == "bin") {
                let _ = fs::remove_file(p);
            }
        }
        Ok(target)
    }
}

//! The segment files of every topic: appends from apply, reads, fsync at checkpoints, and the
//! deletion of segments retention or topic deletion made unreachable. Deletions wait until a
//! checkpoint made the change that caused them durable; a segment a snapshot is being streamed
//! from (pinned) waits until no snapshot pins it, while every other deletion goes ahead (one slow
//! snapshot must not stop retention on the leader).
//!
//! Memory per topic is a map of its segments (one entry per `segment_bytes` of data), never per
//! message.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::model::{Message, TopicMeta};
use super::segment;

#[derive(Debug, Default)]
struct Files {
    /// Segment base offset → length in bytes (the active one's length is in `TopicMeta`).
    segments: BTreeMap<u64, u64>,
    /// Where the active segment's next index entry is due.
    next_index_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Deletion {
    /// Segments holding only offsets below `start` (never the active one).
    Below {
        topic_id: u64,
        start: u64,
    },
    Topic {
        topic_id: u64,
    },
}

/// How many live [`Pinned`]s reference each segment, by (topic id, base offset).
type PinCounts = Arc<Mutex<HashMap<(u64, u64), usize>>>;

/// A consistent list of segment bytes to stream (a snapshot); these segments (and their topics'
/// directories) are not deleted while it lives.
pub struct Pinned {
    pub parts: Vec<Part>,
    pins: PinCounts,
}

#[derive(Debug, Clone)]
pub struct Part {
    pub topic_id: u64,
    pub base: u64,
    pub len: u64,
    pub path: PathBuf,
}

impl Pinned {
    /// Pins nothing (a snapshot without segment data).
    pub fn none() -> Pinned {
        Pinned {
            parts: Vec::new(),
            pins: PinCounts::default(),
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let mut pins = self.pins.lock().expect("pins lock");
        for p in &self.parts {
            if let Some(n) = pins.get_mut(&(p.topic_id, p.base)) {
                *n -= 1;
                if *n == 0 {
                    pins.remove(&(p.topic_id, p.base));
                }
            }
        }
    }
}

pub struct TopicLogs {
    root: PathBuf,
    segment_bytes: u64,
    files: Mutex<HashMap<u64, Files>>,
    dirty: Mutex<HashSet<(u64, u64)>>,
    deferred: Mutex<Vec<Deletion>>,
    /// Lock order: `files`, then `pins`.
    pins: PinCounts,
}

fn bad(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl TopicLogs {
    /// Open `root`, bringing every topic's files back to what `metas` (the last checkpoint) says:
    /// files of unknown topics and segments written after the checkpoint go, the active segment
    /// is cut back to the checkpointed length.
    pub fn open(root: PathBuf, segment_bytes: u64, metas: &[TopicMeta]) -> io::Result<TopicLogs> {
        std::fs::create_dir_all(&root)?;
        let by_id: HashMap<u64, &TopicMeta> = metas.iter().map(|m| (m.id, m)).collect();
        let mut files = HashMap::new();
        for entry in std::fs::read_dir(&root)?.flatten() {
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let Some(meta) = by_id.get(&id) else {
                std::fs::remove_dir_all(entry.path())?;
                continue;
            };
            files.insert(id, recover(&entry.path(), meta)?);
        }
        for m in metas {
            if m.active_pos > 0 && !files.contains_key(&m.id) {
                return Err(bad(format!(
                    "topic {} has {} bytes checkpointed but no segment files",
                    m.id, m.active_pos
                )));
            }
        }
        Ok(TopicLogs {
            root,
            segment_bytes,
            files: Mutex::new(files),
            dirty: Mutex::default(),
            deferred: Mutex::default(),
            pins: PinCounts::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self, topic_id: u64) -> PathBuf {
        self.root.join(topic_id.to_string())
    }

    /// Append encoded frames (offsets `meta.next..`) to the topic's active segment, rolling to a
    /// new segment first when the active one is full; updates `meta`'s position fields.
    pub fn append(
        &self,
        meta: &mut TopicMeta,
        bytes: &[u8],
        frames: &[(u64, usize)],
    ) -> io::Result<()> {
        let Some(&(first, _)) = frames.first() else {
            return Ok(());
        };
        let dir = self.dir(meta.id);
        let mut all = self.files.lock().expect("files lock");
        let files = all.entry(meta.id).or_default();
        if files.segments.is_empty() {
            std::fs::create_dir_all(&dir)?;
            meta.active_base = first;
            meta.active_pos = 0;
            files.next_index_at = 0;
        } else if meta.active_pos >= self.segment_bytes {
            files.segments.insert(meta.active_base, meta.active_pos);
            meta.active_base = first;
            meta.active_pos = 0;
            files.next_index_at = 0;
        }
        segment::append(
            &dir,
            meta.active_base,
            meta.active_pos,
            bytes,
            frames,
            &mut files.next_index_at,
        )?;
        meta.active_pos += bytes.len() as u64;
        files.segments.insert(meta.active_base, meta.active_pos);
        self.dirty
            .lock()
            .expect("dirty lock")
            .insert((meta.id, meta.active_base));
        Ok(())
    }

    /// Messages of `meta`'s topic from `from`, up to `limit` and about `max_bytes` (at least one).
    pub fn read(
        &self,
        meta: &TopicMeta,
        from: u64,
        limit: usize,
        max_bytes: u64,
    ) -> io::Result<Vec<Message>> {
        let from = from.max(meta.start);
        let mut out = Vec::new();
        if from >= meta.next || limit == 0 {
            return Ok(out);
        }
        let segments: Vec<(u64, u64)> = {
            let all = self.files.lock().expect("files lock");
            let Some(files) = all.get(&meta.id) else {
                return Ok(out);
            };
            let first = files
                .segments
                .range(..=from)
                .next_back()
                .map_or(0, |(b, _)| *b);
            files
                .segments
                .range(first..=meta.active_base)
                .map(|(b, l)| {
                    (
                        *b,
                        if *b == meta.active_base {
                            meta.active_pos
                        } else {
                            *l
                        },
                    )
                })
                .collect()
        };
        let dir = self.dir(meta.id);
        let mut bytes = 0u64;
        for (base, end) in segments {
            let start = if from > base {
                segment::seek_position(&dir, base, from)?
            } else {
                0
            };
            let mut full = false;
            let scanned = segment::scan(
                &segment::log_path(&dir, base),
                start,
                end,
                |offset, record, _| {
                    if offset < from {
                        return true;
                    }
                    if offset >= meta.next {
                        full = true;
                        return false;
                    }
                    bytes += record.size();
                    if !out.is_empty() && bytes > max_bytes {
                        full = true;
                        return false;
                    }
                    out.push(Message { offset, record });
                    full = out.len() >= limit;
                    !full
                },
            );
            match scanned {
                Ok(_) => {}
                // Deleted under us by retention: the caller's view was older than the trim.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            if full {
                break;
            }
        }
        Ok(out)
    }

    /// Write back every segment written since the last [`TopicLogs::sync_dirty`] without taking
    /// them off its list: that fsync, which the checkpoint makes while applies wait, then finds
    /// little left to write. Called off the apply path.
    pub fn start_writeback(&self) {
        let dirty: Vec<(u64, u64)> = self
            .dirty
            .lock()
            .expect("dirty lock")
            .iter()
            .copied()
            .collect();
        for (id, base) in dirty {
            if let Err(e) = segment::write_back(&self.dir(id), base) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::debug!(topic_id = id, base, error = %e, "segment writeback failed");
                }
            }
        }
    }

    /// fsync every segment written since the last call (and the topic directories).
    pub fn sync_dirty(&self) -> io::Result<()> {
        let dirty: Vec<(u64, u64)> = self.dirty.lock().expect("dirty lock").drain().collect();
        let mut dirs = HashSet::new();
        for (id, base) in dirty {
            match segment::sync(&self.dir(id), base) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            dirs.insert(id);
        }
        for id in dirs {
            if let Ok(d) = std::fs::File::open(self.dir(id)) {
                d.sync_all()?;
            }
        }
        if let Ok(d) = std::fs::File::open(&self.root) {
            d.sync_all()?;
        }
        Ok(())
    }

    /// Retention moved `topic_id`'s start: its segments below it go after the next checkpoint.
    pub fn defer_trim(&self, topic_id: u64, start: u64) {
        self.deferred
            .lock()
            .expect("deferred lock")
            .push(Deletion::Below { topic_id, start });
    }

    pub fn defer_topic_delete(&self, topic_id: u64) {
        self.deferred
            .lock()
            .expect("deferred lock")
            .push(Deletion::Topic { topic_id });
    }

    /// After a checkpoint: delete what the checkpointed state no longer references. What a live
    /// snapshot still pins stays deferred (the next checkpoint tries again); the rest goes now.
    pub fn run_deferred(&self) -> io::Result<()> {
        let work: Vec<Deletion> =
            std::mem::take(&mut *self.deferred.lock().expect("deferred lock"));
        let mut kept = Vec::new();
        let mut result = Ok(());
        for d in work {
            if result.is_err() {
                kept.push(d);
                continue;
            }
            // Under the files lock, so no pin can be taken between the check and the removal.
            let mut all = self.files.lock().expect("files lock");
            let pins = self.pins.lock().expect("pins lock");
            match d {
                Deletion::Topic { topic_id } => {
                    if pins.keys().any(|(id, _)| *id == topic_id) {
                        kept.push(d);
                        continue;
                    }
                    all.remove(&topic_id);
                    match std::fs::remove_dir_all(self.dir(topic_id)) {
                        Err(e) if e.kind() != io::ErrorKind::NotFound => result = Err(e),
                        _ => {}
                    }
                }
                Deletion::Below { topic_id, start } => {
                    let Some(files) = all.get_mut(&topic_id) else {
                        continue;
                    };
                    let bases: Vec<u64> = files.segments.keys().copied().collect();
                    // A segment is wholly below `start` when the next one begins at or before it.
                    let doomed = bases.windows(2).filter(|w| w[1] <= start).map(|w| w[0]);
                    let mut pinned = false;
                    for base in doomed {
                        if pins.contains_key(&(topic_id, base)) {
                            pinned = true;
                            continue;
                        }
                        if let Err(e) = segment::remove(&self.dir(topic_id), base) {
                            result = Err(e);
                            break;
                        }
                        files.segments.remove(&base);
                    }
                    if pinned || result.is_err() {
                        kept.push(d);
                    }
                }
            }
        }
        if !kept.is_empty() {
            let mut deferred = self.deferred.lock().expect("deferred lock");
            kept.append(&mut deferred);
            *deferred = kept;
        }
        result
    }

    /// The segment bytes holding `metas`' retained messages, pinned until dropped.
    pub fn pin(&self, metas: &[TopicMeta]) -> Pinned {
        let all = self.files.lock().expect("files lock");
        let mut parts = Vec::new();
        for m in metas {
            let Some(files) = all.get(&m.id) else {
                continue;
            };
            let bases: Vec<(u64, u64)> = files
                .segments
                .range(..=m.active_base)
                .map(|(b, l)| (*b, *l))
                .collect();
            for (i, (base, len)) in bases.iter().enumerate() {
                let next_base = bases.get(i + 1).map_or(u64::MAX, |(b, _)| *b);
                if next_base <= m.start {
                    continue;
                }
                let len = if *base == m.active_base {
                    m.active_pos
                } else {
                    *len
                };
                parts.push(Part {
                    topic_id: m.id,
                    base: *base,
                    len,
                    path: segment::log_path(&self.dir(m.id), *base),
                });
            }
        }
        let mut pins = self.pins.lock().expect("pins lock");
        for p in &parts {
            *pins.entry((p.topic_id, p.base)).or_default() += 1;
        }
        Pinned {
            parts,
            pins: self.pins.clone(),
        }
    }
}

/// Bring one topic directory back to its checkpointed state.
fn recover(dir: &Path, meta: &TopicMeta) -> io::Result<Files> {
    let mut files = Files::default();
    for base in segment::list(dir)? {
        let path = segment::log_path(dir, base);
        if base > meta.active_base
            || (meta.active_pos == 0 && base == meta.active_base && meta.next == meta.active_base)
        {
            segment::remove(dir, base)?;
            continue;
        }
        if base == meta.active_base {
            let len = std::fs::metadata(&path)?.len();
            if len < meta.active_pos {
                return Err(bad(format!(
                    "{} has {len} bytes, the checkpoint needs {}",
                    path.display(),
                    meta.active_pos
                )));
            }
            segment::truncate(dir, base, meta.active_pos)?;
            files.next_index_at = segment::next_index_at(dir, base)?;
            files.segments.insert(base, meta.active_pos);
        } else {
            files.segments.insert(base, std::fs::metadata(&path)?.len());
        }
    }
    // Segments wholly below the start that a deferred deletion had not removed yet.
    let bases: Vec<u64> = files.segments.keys().copied().collect();
    for w in bases.windows(2) {
        if w[1] <= meta.start {
            segment::remove(dir, w[0])?;
            files.segments.remove(&w[0]);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests;

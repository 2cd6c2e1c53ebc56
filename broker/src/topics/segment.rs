//! Segment files: a topic's messages live in append-only files of consecutive offsets, Kafka-style,
//! so memory does not grow with the data and retention frees disk by deleting whole files.
//!
//! ```text
//!  data/<topic id>/<base offset, 20 digits>.log    frames: u32 len | u32 crc32 | u64 offset | record
//!  data/<topic id>/<base offset, 20 digits>.idx    sparse index: (u32 offset - base, u32 position),
//!                                                  one entry every INDEX_EVERY bytes of the .log
//! ```
//!
//! Files are written with plain `write` (visible to readers at once) and fsynced at checkpoints;
//! recovery truncates them back to what the last checkpoint recorded.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::model::{MessageRecord, RecordRef};

/// Bytes between two sparse index entries.
pub const INDEX_EVERY: u64 = 32 * 1024;
const FRAME_HEADER: usize = 16;
/// A frame larger than this is corruption, not a message.
const MAX_FRAME: u32 = 300 * 1024 * 1024;

pub fn log_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

pub fn idx_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.idx"))
}

/// Base offsets of the segments in a topic directory, ascending.
pub fn list(dir: &Path) -> io::Result<Vec<u64>> {
    let mut bases: Vec<u64> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".log"))
                    .and_then(|n| n.parse().ok())
            })
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    bases.sort_unstable();
    Ok(bases)
}

/// Append `record` at `offset` to `buf` as one frame.
pub fn encode_frame<'a>(buf: &mut Vec<u8>, offset: u64, record: impl Into<RecordRef<'a>>) {
    let record = record.into();
    let start = buf.len();
    buf.extend_from_slice(&[0u8; FRAME_HEADER]);
    buf[start + 8..start + 16].copy_from_slice(&offset.to_be_bytes());
    bincode::serialize_into(&mut *buf, &record).expect("record encodes");
    let len = (buf.len() - start - 8) as u32;
    let crc = crc32fast::hash(&buf[start + 8..]);
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
}

/// One decoded frame: (offset, record, frame length).
pub fn decode_frame(buf: &[u8]) -> Result<Option<(u64, MessageRecord, usize)>, String> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let len = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes"));
    if !(8..=MAX_FRAME).contains(&len) {
        return Err(format!("bad frame length {len}"));
    }
    let total = 8 + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let crc = u32::from_be_bytes(buf[4..8].try_into().expect("4 bytes"));
    let body = &buf[8..total];
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch".into());
    }
    let offset = u64::from_be_bytes(body[..8].try_into().expect("8 bytes"));
    let record =
        bincode::deserialize(&body[8..]).map_err(|e| format!("undecodable record: {e}"))?;
    Ok(Some((offset, record, total)))
}

/// Index entries of a segment: (offset - base, position).
pub fn read_index(dir: &Path, base: u64) -> io::Result<Vec<(u32, u32)>> {
    let bytes = match fs::read(idx_path(dir, base)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(bytes
        .chunks_exact(8)
        .map(|c| {
            (
                u32::from_be_bytes(c[..4].try_into().expect("4")),
                u32::from_be_bytes(c[4..].try_into().expect("4")),
            )
        })
        .collect())
}

/// The byte position to start scanning for `offset` in segment `base`.
pub fn seek_position(dir: &Path, base: u64, offset: u64) -> io::Result<u64> {
    let rel = (offset - base) as u32;
    let index = read_index(dir, base)?;
    let i = index.partition_point(|(o, _)| *o <= rel);
    Ok(if i == 0 { 0 } else { index[i - 1].1 as u64 })
}

/// Read frames from `pos` in a segment file, calling `f` for each until it returns false or the
/// file (up to `end`) is exhausted. Returns the position after the last frame `f` accepted.
pub fn scan(
    path: &Path,
    mut pos: u64,
    end: u64,
    mut f: impl FnMut(u64, MessageRecord, u64) -> bool,
) -> io::Result<u64> {
    let file = File::open(path)?;
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_pos = pos; // file position of buf[0]
    let mut chunk = 64 * 1024;
    loop {
        let have = (pos - buf_pos) as usize;
        match decode_frame(&buf[have..]).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e} at {pos}", path.display()),
            )
        })? {
            Some((offset, record, len)) => {
                if !f(offset, record, pos) {
                    return Ok(pos);
                }
                pos += len as u64;
            }
            None => {
                let file_pos = buf_pos + buf.len() as u64;
                if file_pos >= end {
                    return Ok(pos);
                }
                buf.drain(..have);
                buf_pos = pos;
                let want = chunk.min((end - file_pos) as usize);
                let old = buf.len();
                buf.resize(old + want, 0);
                let n = file.read_at(&mut buf[old..], file_pos)?;
                buf.truncate(old + n);
                if n == 0 {
                    return Ok(pos);
                }
                // A frame bigger than the buffer: grow the next read.
                if buf.len() >= 8 {
                    let need = 8 + u32::from_be_bytes(buf[..4].try_into().expect("4")) as usize;
                    chunk = chunk.max(need.min(MAX_FRAME as usize + 8));
                }
            }
        }
    }
}

/// Append `bytes` (whole frames) to a segment file at `at`, and an index entry for each frame
/// that starts at or after `*next_index_at` (which then moves on by `INDEX_EVERY`). `frames` holds
/// (offset, position within `bytes`) of each frame.
pub fn append(
    dir: &Path,
    base: u64,
    at: u64,
    bytes: &[u8],
    frames: &[(u64, usize)],
    next_index_at: &mut u64,
) -> io::Result<()> {
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(log_path(dir, base))?;
    file.write_all_at(bytes, at)?;
    let mut idx = Vec::new();
    for &(offset, rel) in frames {
        let pos = at + rel as u64;
        if pos >= *next_index_at {
            idx.extend_from_slice(&((offset - base) as u32).to_be_bytes());
            idx.extend_from_slice(&(pos as u32).to_be_bytes());
            *next_index_at = pos + INDEX_EVERY;
        }
    }
    if !idx.is_empty() {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(idx_path(dir, base))?
            .write_all(&idx)?;
    }
    Ok(())
}

/// Where the next index entry of a segment is due, from its index file.
pub fn next_index_at(dir: &Path, base: u64) -> io::Result<u64> {
    Ok(read_index(dir, base)?
        .last()
        .map_or(0, |(_, p)| *p as u64 + INDEX_EVERY))
}

/// Cut a segment back to `len` bytes (and its index to entries below it).
pub fn truncate(dir: &Path, base: u64, len: u64) -> io::Result<()> {
    let f = OpenOptions::new().write(true).open(log_path(dir, base))?;
    if f.metadata()?.len() > len {
        f.set_len(len)?;
    }
    let keep: Vec<u8> = read_index(dir, base)?
        .into_iter()
        .filter(|(_, p)| (*p as u64) < len)
        .flat_map(|(o, p)| o.to_be_bytes().into_iter().chain(p.to_be_bytes()))
        .collect();
    let tmp = dir.join(format!("{base:020}.idx.tmp"));
    fs::write(&tmp, &keep)?;
    fs::rename(&tmp, idx_path(dir, base))
}

/// Write a segment's data to disk ahead of the checkpoint, on a thread no apply waits for
/// (`TopicStore`'s writeback thread); durability still comes from [`sync`] at the checkpoint.
pub fn write_back(dir: &Path, base: u64) -> io::Result<()> {
    File::open(log_path(dir, base))?.sync_data()
}

/// fsync a segment and its index.
pub fn sync(dir: &Path, base: u64) -> io::Result<()> {
    File::open(log_path(dir, base))?.sync_all()?;
    match File::open(idx_path(dir, base)) {
        Ok(f) => f.sync_all(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

pub fn remove(dir: &Path, base: u64) -> io::Result<()> {
    for p in [log_path(dir, base), idx_path(dir, base)] {
        match fs::remove_file(p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(v: &str) -> MessageRecord {
        MessageRecord {
            ts_ms: 1,
            cum_bytes: 0,
            publisher: None,
            key: None,
            headers: None,
            value: v.into(),
        }
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode_frame(&bytes);
        }

        #[test]
        fn any_record_round_trips(offset: u64, value in ".{0,200}", key in proptest::option::of(".{0,20}"), ts: u64) {
            let r = MessageRecord { ts_ms: ts, cum_bytes: 7, publisher: None, key, headers: None, value: value.into_bytes() };
            let mut buf = Vec::new();
            encode_frame(&mut buf, offset, &r);
            let (o, got, n) = decode_frame(&buf).unwrap().unwrap();
            proptest::prop_assert_eq!((o, got, n), (offset, r, buf.len()));
        }
    }

    proptest::proptest! {
        /// Issue 18: the apply encodes frames from a borrowed view of the command: the bytes a
        /// `MessageRecord` encodes to, so segments written before and after read the same.
        #[test]
        fn a_borrowed_record_encodes_as_the_record(
            value in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            key in proptest::option::of(".{0,20}"),
            publisher in proptest::option::of("[a-z]{0,10}"),
            headers in proptest::option::of(proptest::collection::btree_map(".{0,8}", ".{0,8}", 0..4)),
            ts: u64,
            cum: u64,
        ) {
            let r = MessageRecord { ts_ms: ts, cum_bytes: cum, publisher, key, headers, value };
            let view = RecordRef::from(&r);
            proptest::prop_assert_eq!(bincode::serialize(&view).unwrap(), bincode::serialize(&r).unwrap());
            proptest::prop_assert_eq!(view.size(), r.size());
        }
    }

    #[test]
    fn frames_round_trip_and_corruption_is_detected() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, 42, &rec("hello"));
        let (o, r, n) = decode_frame(&buf).unwrap().unwrap();
        assert_eq!((o, r.value.as_slice(), n), (42, &b"hello"[..], buf.len()));
        assert_eq!(
            decode_frame(&buf[..buf.len() - 1]).unwrap(),
            None,
            "a torn frame is incomplete, not an error"
        );
        let last = buf.len() - 1;
        buf[last] ^= 1;
        assert!(decode_frame(&buf).is_err());
    }

    #[test]
    fn appended_frames_are_found_through_the_sparse_index() {
        let dir = tempfile::tempdir().unwrap();
        let big = "x".repeat(5000);
        let mut at = 0u64;
        let mut next_idx = 0;
        for batch in 0..20u64 {
            let mut bytes = Vec::new();
            let mut frames = Vec::new();
            for i in 0..10 {
                frames.push((100 + batch * 10 + i, bytes.len()));
                encode_frame(&mut bytes, 100 + batch * 10 + i, &rec(&big));
            }
            append(dir.path(), 100, at, &bytes, &frames, &mut next_idx).unwrap();
            at += bytes.len() as u64;
        }
        let index = read_index(dir.path(), 100).unwrap();
        // An entry at the first frame at or past every INDEX_EVERY bytes (frames here are ~5 KB).
        assert!(
            index.len() as u64 >= at / (INDEX_EVERY + 6000),
            "about one entry per {INDEX_EVERY} bytes: {}",
            index.len()
        );
        assert!(index.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        for target in [100u64, 101, 150, 299] {
            let pos = seek_position(dir.path(), 100, target).unwrap();
            let mut found = None;
            scan(&log_path(dir.path(), 100), pos, at, |o, _, _| {
                if o == target {
                    found = Some(o);
                    return false;
                }
                o < target
            })
            .unwrap();
            assert_eq!(found, Some(target));
        }
        truncate(dir.path(), 100, at / 2).unwrap();
        let mut last = 0;
        scan(&log_path(dir.path(), 100), 0, u64::MAX, |o, _, _| {
            last = o;
            true
        })
        .unwrap();
        assert!(last > 100 && last < 299);
        assert!(read_index(dir.path(), 100)
            .unwrap()
            .iter()
            .all(|(_, p)| (*p as u64) < at / 2));
    }
}

//! What a crash can leave in the Raft log files, told apart from what only corruption can.
//!
//! A crash (power loss included) loses or tears only what was written after the last fsync, and
//! nothing written after the last fsync was acknowledged. So, per file in index order:
//!
//! | found | verdict |
//! |---|---|
//! | a bad frame (cut short, bad length, bad checksum) with no valid frame after it in the file, in the last file | torn tail: cut it off |
//! | the same in the second-to-last file | torn rotation (the crash hit while a new file was being started): cut it, drop the newest file (its entries follow the torn one, so none was acknowledged) |
//! | the same in an older file | refuse: files after it hold entries that were acknowledged |
//! | a bad frame followed by a valid one in the same file | refuse: corruption of fsynced entries, not a torn write |
//! | a frame whose checksum holds but that does not decode | refuse: never a torn write (a bug or an incompatible upgrade) |
//! | a file whose entries start at or before the previous file's last entry, or in an older term | leftover of a truncation whose removal was never made durable (the entries were rewritten into the earlier file): delete it, and the files continuing it |
//! | entries missing between two files, no truncation leftover explaining it | refuse |
//!
//! Refusing is the safe answer where acknowledged entries may be at stake: the node stays down, its
//! peers keep the data, and an operator replaces it (remove the member, add it back empty).

use std::fs;
use std::io;
use std::path::Path;

use openraft::RaftLogId;

use super::{corrupt, frame_at, frame_len, FrameError, LogId};

pub(super) struct Frame {
    pub log_id: LogId,
    pub pos: u64,
    pub len: u32,
}

struct Bad {
    pos: u64,
    error: String,
    undecodable: bool,
    /// Where the next frame with a valid checksum starts, if any does in this file.
    valid_after: Option<u64>,
}

pub(super) struct Scan {
    pub first: u64,
    pub frames: Vec<Frame>,
    bad: Option<Bad>,
}

pub(super) enum Plan {
    Keep { cut_at: Option<u64> },
    Delete(String),
}

/// Where the next checksummed frame starts after `from` (the frame the length field of the bad
/// one points past is tried first: that is where it is when corruption hit only the payload).
fn next_valid_frame(bytes: &[u8], bad_at: usize) -> Option<usize> {
    let declared = bytes
        .get(bad_at..bad_at + 4)
        .map(|b| bad_at + 8 + u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize);
    let is_frame = |at: usize| at < bytes.len() && matches!(frame_len(&bytes[at..]), Ok(Some(_)));
    if let Some(at) = declared.filter(|&at| is_frame(at)) {
        return Some(at);
    }
    (bad_at + 1..bytes.len().saturating_sub(8)).find(|&at| is_frame(at))
}

/// Reads every frame of one file up to the first bad one.
pub(super) fn scan(path: &Path, first: u64) -> io::Result<Scan> {
    let bytes = fs::read(path)?;
    let mut frames = Vec::new();
    let mut pos = 0usize;
    let mut bad = None;
    while pos < bytes.len() {
        match frame_at(&bytes[pos..]) {
            Ok(Some((entry, n))) => {
                frames.push(Frame {
                    log_id: *entry.get_log_id(),
                    pos: pos as u64,
                    len: n as u32,
                });
                pos += n;
            }
            Ok(None) => {
                bad = Some(Bad {
                    pos: pos as u64,
                    error: "entry cut short".into(),
                    undecodable: false,
                    valid_after: None,
                });
                break;
            }
            Err(e) => {
                bad = Some(Bad {
                    pos: pos as u64,
                    undecodable: matches!(e, FrameError::Undecodable(_)),
                    error: e.to_string(),
                    valid_after: next_valid_frame(&bytes, pos).map(|p| p as u64),
                });
                break;
            }
        }
    }
    Ok(Scan { first, frames, bad })
}

/// What to do with each scanned file (same order), or why the log must not be opened.
pub(super) fn plan(scans: &[Scan], purged: Option<u64>, dir: &Path) -> io::Result<Vec<Plan>> {
    let name = |s: &Scan| super::path_of(dir, s.first).display().to_string();
    let live = |s: &Scan| -> Vec<LogId> {
        s.frames
            .iter()
            .map(|f| f.log_id)
            .filter(|id| purged.is_none_or(|p| id.index > p))
            .collect()
    };
    let mut plans = Vec::with_capacity(scans.len());
    let mut last: Option<LogId> = None;
    // last entry of the newest truncation leftover, so the files continuing it go too
    let mut stale_last: Option<u64> = None;
    let mut torn_in: Option<usize> = None;
    for (k, s) in scans.iter().enumerate() {
        if let Some(t) = torn_in {
            plans.push(Plan::Delete(format!(
                "it follows the torn tail of {}: none of its entries was acknowledged",
                name(&scans[t])
            )));
            continue;
        }
        let ids = live(s);
        for w in ids.windows(2) {
            if w[1].index != w[0].index + 1 || w[1].leader_id < w[0].leader_id {
                return Err(corrupt(format!(
                    "{}: entry {} follows {} inside one file",
                    name(s),
                    w[1],
                    w[0]
                )));
            }
        }
        if let (Some(first), Some(prev)) = (ids.first(), last) {
            let (f, l) = (first.index, prev.index);
            // terms never decrease along a Raft log: an older term after a newer one is a
            // truncated tail, as is anything continuing a file already found to be one
            let leftover = f <= l
                || first.leader_id < prev.leader_id
                || stale_last.is_some_and(|st| f == st + 1);
            if leftover {
                stale_last = ids.last().map(|id| id.index);
                plans.push(Plan::Delete(format!(
                    "left over from a truncation whose removal was not durable: entry {f} after {l}"
                )));
                continue;
            }
            if f != l + 1 {
                return Err(corrupt(format!(
                    "{}: entries {}..{} are missing before it: refusing to start; \
                     replace this node (remove it from the cluster, add it back with an empty state dir)",
                    name(s),
                    l + 1,
                    f - 1
                )));
            }
        }
        if let Some(b) = &s.bad {
            let refuse = |why: &str| {
                corrupt(format!(
                    "{} at byte {}: {} ({why}): refusing to start rather than drop entries that \
                     were fsynced and acknowledged; replace this node (remove it from the cluster, \
                     add it back with an empty state dir)",
                    name(s),
                    b.pos,
                    b.error
                ))
            };
            if b.undecodable {
                return Err(refuse(
                    "a checksummed entry that does not decode is not a torn write",
                ));
            }
            if let Some(at) = b.valid_after {
                return Err(refuse(&format!("valid entries follow it, from byte {at}")));
            }
            if k + 2 < scans.len() {
                return Err(refuse(&format!(
                    "{} newer files follow it, so it is not the tail of the log",
                    scans.len() - k - 1
                )));
            }
            torn_in = Some(k);
            plans.push(Plan::Keep {
                cut_at: Some(b.pos),
            });
        } else {
            plans.push(Plan::Keep { cut_at: None });
        }
        if let Some(&l) = ids.last() {
            last = Some(l);
        }
    }
    Ok(plans)
}

//! The in-memory tail against the files: it only ever serves what the files hold.

use std::path::Path;

use super::*;
use crate::command::{Command, NewMessage, Op, Publish};

/// An entry whose message names its term and index, so a stale one cannot pass for another.
pub(crate) fn entry(term: u64, index: u64) -> Entry {
    openraft::Entry {
        log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(term, 1), index),
        payload: openraft::EntryPayload::Normal(Command {
            ts_ms: index,
            ops: vec![Op::Publish(Publish {
                topic: "t".into(),
                messages: vec![NewMessage::new(format!("term {term} index {index}"))],
                producer: None,
                publisher: None,
                partition: 0,
                kafka: None,
            })],
        }),
    }
}

fn open(dir: &Path) -> Wal {
    Wal::open(dir.to_path_buf(), None).unwrap()
}

/// The cached entries of `[from, to)`, which must be served from memory.
fn cached(w: &Wal, from: u64, to: u64) -> Vec<Entry> {
    w.cached(from, to)
        .expect("in the tail")
        .iter()
        .map(|e| Entry::clone(e))
        .collect()
}

fn terms(entries: &[Entry]) -> Vec<(u64, u64)> {
    entries
        .iter()
        .map(|e| (e.log_id.leader_id.term, e.log_id.index))
        .collect()
}

#[test]
fn the_tail_serves_what_the_files_hold() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = open(dir.path());
    w.append((1..=10).map(|i| entry(1, i))).unwrap();
    w.file_bytes = 1; // a file per entry from here on
    w.append((11..=30).map(|i| entry(1, i))).unwrap();
    for (from, to) in [(1, 31), (5, 9), (30, u64::MAX), (12, 12)] {
        assert_eq!(
            cached(&w, from, to),
            w.read(from, to).unwrap(),
            "{from}..{to}"
        );
    }
    assert!(cached(&w, 31, 40).is_empty(), "past the end: nothing");
}

#[test]
fn truncation_never_leaves_a_stale_entry_in_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = open(dir.path());
    w.append((1..=10).map(|i| entry(1, i))).unwrap();
    w.truncate(6).unwrap();
    assert_eq!(
        terms(&cached(&w, 1, u64::MAX)),
        terms(&w.read(1, 100).unwrap())
    );
    assert_eq!(cached(&w, 1, u64::MAX).len(), 5);
    assert!(
        cached(&w, 6, 11).is_empty(),
        "the truncated entries are gone"
    );

    // A new leader's entries at the same indexes.
    w.append((6..=8).map(|i| entry(2, i))).unwrap();
    // Overwriting without an explicit truncation (append truncates what it overlaps).
    w.append((4..=5).map(|i| entry(3, i))).unwrap();
    let want = vec![(1, 1), (1, 2), (1, 3), (3, 4), (3, 5)];
    assert_eq!(terms(&cached(&w, 1, u64::MAX)), want);
    assert_eq!(cached(&w, 1, u64::MAX), w.read(1, u64::MAX).unwrap());
    assert_eq!(cached(&w, 3, 10), w.read(3, 10).unwrap());

    // Truncating everything leaves nothing to serve.
    w.truncate(1).unwrap();
    assert!(w.cached(1, u64::MAX).is_none_or(|c| c.is_empty()));
    w.append((1..=2).map(|i| entry(4, i))).unwrap();
    assert_eq!(terms(&cached(&w, 1, u64::MAX)), vec![(4, 1), (4, 2)]);
}

#[test]
fn purge_cuts_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = open(dir.path());
    w.append((1..=10).map(|i| entry(1, i))).unwrap();
    w.purge(4);
    assert_eq!(cached(&w, 5, u64::MAX), w.read(5, u64::MAX).unwrap());
    assert_eq!(cached(&w, 5, u64::MAX).len(), 6);
    assert!(
        w.cached(3, u64::MAX).is_none(),
        "purged entries are not served"
    );
    w.purge(10);
    assert!(w.cached(10, u64::MAX).is_none());
    w.append([entry(1, 11)]).unwrap();
    assert_eq!(terms(&cached(&w, 11, 12)), vec![(1, 11)]);
}

#[test]
fn the_tail_is_bounded_and_a_range_older_than_it_is_read_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = open(dir.path());
    let one = tail::weight(&entry(1, 1), 64);
    w.set_tail_cap(one * 5);
    w.append((1..=50).map(|i| entry(1, i))).unwrap();
    let first_cached = (1..=51).find(|&i| w.cached(i, u64::MAX).is_some()).unwrap();
    let held = 51 - first_cached;
    assert!((1..=6).contains(&held), "holds {held} entries");
    assert_eq!(
        cached(&w, first_cached, u64::MAX),
        w.read(first_cached, u64::MAX).unwrap()
    );
    // Partly older than the tail: not served from it.
    assert!(w.cached(first_cached - 1, u64::MAX).is_none());
    assert!(w.cached(1, 51).is_none());
    // The newest entry always fits when it alone is under the cap.
    w.append([entry(1, 51)]).unwrap();
    assert_eq!(terms(&cached(&w, 51, 52)), vec![(1, 51)]);
}

#[test]
fn a_reopened_log_starts_with_an_empty_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = open(dir.path());
    w.append((1..=10).map(|i| entry(1, i))).unwrap();
    drop(w);
    let mut w = open(dir.path());
    assert!(w.cached(1, u64::MAX).is_none());
    w.append((11..=12).map(|i| entry(2, i))).unwrap();
    assert_eq!(terms(&cached(&w, 11, u64::MAX)), vec![(2, 11), (2, 12)]);
    assert!(
        w.cached(10, u64::MAX).is_none(),
        "entry 10 is only in the files"
    );
    assert_eq!(w.read(10, 11).unwrap(), vec![entry(1, 10)]);
}

#[test]
fn a_range_partly_older_than_the_tail_is_split_between_the_files_and_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = open(dir.path());
    w.set_tail_cap(tail::weight(&entry(1, 1), 64) * 5);
    w.append((1..=40).map(|i| entry(1, i))).unwrap();
    w.truncate(30).unwrap();
    w.append((30..=50).map(|i| entry(2, i))).unwrap();
    let first_cached = (1..=51).find(|&i| w.cached(i, u64::MAX).is_some()).unwrap();
    for (from, to) in [
        (1, 51),
        (20, 48),
        (first_cached - 1, 51),
        (first_cached, 51),
        (1, 10),
        (49, 100),
        (51, 60),
    ] {
        let (slots, cached) = w.locate_or_cached(from, to);
        let cached_from = cached.first().map(|e| e.log_id.index);
        assert!(cached_from.is_none_or(|i| i >= first_cached));
        let mut got = read_slots(slots).unwrap();
        got.extend(cached.iter().map(|e| Entry::clone(e)));
        assert_eq!(got, w.read(from, to).unwrap(), "{from}..{to}");
    }
    let (slots, cached) = w.locate_or_cached(1, 51);
    assert_eq!(
        slots.len() as u64,
        first_cached - 1,
        "only the older entries are read"
    );
    assert_eq!(cached.len() as u64, 51 - first_cached);
}

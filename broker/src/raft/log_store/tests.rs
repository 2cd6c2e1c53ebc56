//! Reads through openraft's reader: from the in-memory tail, or from the files when a range
//! starts before it.

use openraft::storage::RaftLogReader;

use super::*;
use crate::raft::wal::tail_tests::entry;

#[tokio::test]
async fn a_range_partly_older_than_the_tail_reads_every_entry_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path().join("db"))
        .open()
        .unwrap();
    let (mut log, _flusher) = LogStore::open(
        &db,
        dir.path().join("db"),
        dir.path().join("raft"),
        Metrics::new(),
    )
    .unwrap();
    log.wal().set_tail_cap(4096);
    log.wal().append((1..=200).map(|i| entry(1, i))).unwrap();
    log.wal().truncate(150).unwrap();
    log.wal().append((150..=210).map(|i| entry(2, i))).unwrap();
    let want: Vec<Entry> = (1..150)
        .map(|i| entry(1, i))
        .chain((150..=210).map(|i| entry(2, i)))
        .collect();
    assert!(
        log.wal().cached(1, 211).is_none(),
        "the tail holds the newest only"
    );
    assert!(log.wal().cached(205, 211).is_some());

    assert_eq!(log.try_get_log_entries(1..=210).await.unwrap(), want);
    assert_eq!(log.try_get_log_entries(100..).await.unwrap(), want[99..]);
    assert_eq!(
        log.try_get_log_entries(205..211).await.unwrap(),
        want[204..]
    );
    assert_eq!(
        log.try_get_log_entries(208..300).await.unwrap(),
        want[207..]
    );
    assert!(log.try_get_log_entries(211..300).await.unwrap().is_empty());
}

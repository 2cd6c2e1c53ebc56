//! Deferred deletions against snapshot pins.

use super::*;
use crate::topics::model::MessageRecord;

/// A topic of `n` messages in segments of about two messages each.
fn topic_of(logs: &TopicLogs, id: u64, n: u64) -> TopicMeta {
    let mut meta = TopicMeta {
        id,
        ..TopicMeta::default()
    };
    for offset in 0..n {
        let mut buf = Vec::new();
        let record = MessageRecord {
            ts_ms: 1,
            cum_bytes: 0,
            publisher: None,
            key: None,
            headers: None,
            value: "x".repeat(40).into_bytes(),
        };
        segment::encode_frame(&mut buf, offset, &record);
        logs.append(&mut meta, &buf, &[(offset, 0)]).unwrap();
        meta.next = offset + 1;
    }
    meta
}

fn bases(logs: &TopicLogs, id: u64) -> Vec<u64> {
    segment::list(&logs.dir(id)).unwrap()
}

#[test]
fn a_pinned_segment_waits_but_the_other_deletions_go_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let logs = TopicLogs::open(dir.path().join("data"), 100, &[]).unwrap();
    let a = topic_of(&logs, 1, 8);
    let b = topic_of(&logs, 2, 8);
    let all_a = bases(&logs, 1);
    assert!(all_a.len() >= 4, "{all_a:?}");
    // A snapshot streams topic 1 as it was (start 0); topic 2 is not in it.
    let pinned = logs.pin(std::slice::from_ref(&a));
    assert_eq!(pinned.parts.len(), all_a.len());
    // Retention then moves both starts to the last segment.
    logs.defer_trim(1, a.active_base);
    logs.defer_trim(2, b.active_base);
    logs.run_deferred().unwrap();
    assert_eq!(bases(&logs, 1), all_a, "a pinned segment was deleted");
    assert_eq!(
        bases(&logs, 2),
        [b.active_base],
        "one pin blocked another topic's retention"
    );

    // Once the snapshot is done, the next checkpoint deletes what waited.
    drop(pinned);
    logs.run_deferred().unwrap();
    assert_eq!(bases(&logs, 1), [a.active_base]);
}

#[test]
fn only_the_segments_a_pin_references_wait() {
    let dir = tempfile::tempdir().unwrap();
    let logs = TopicLogs::open(dir.path().join("data"), 100, &[]).unwrap();
    let mut a = topic_of(&logs, 1, 8);
    let all = bases(&logs, 1);
    // The snapshot was taken after a first trim: it pins only the segments from the second on.
    a.start = all[1];
    let pinned = logs.pin(std::slice::from_ref(&a));
    assert_eq!(pinned.parts[0].base, all[1]);
    logs.defer_trim(1, a.active_base);
    logs.run_deferred().unwrap();
    assert_eq!(
        bases(&logs, 1),
        all[1..],
        "the unpinned first segment is still there"
    );
    drop(pinned);
    logs.run_deferred().unwrap();
    assert_eq!(bases(&logs, 1), [a.active_base]);
}

#[test]
fn a_deleted_topic_a_snapshot_streams_is_removed_once_the_snapshot_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let logs = TopicLogs::open(dir.path().join("data"), 100, &[]).unwrap();
    let a = topic_of(&logs, 1, 4);
    let b = topic_of(&logs, 2, 4);
    let pinned = logs.pin(std::slice::from_ref(&a));
    let other = logs.pin(std::slice::from_ref(&b));
    drop(other);
    logs.defer_topic_delete(1);
    logs.defer_topic_delete(2);
    logs.run_deferred().unwrap();
    assert!(logs.dir(1).exists(), "a pinned topic's files were deleted");
    assert!(!logs.dir(2).exists(), "a released pin still blocks");
    drop(pinned);
    logs.run_deferred().unwrap();
    assert!(!logs.dir(1).exists());
}

#[test]
fn the_early_writeback_leaves_every_segment_to_the_checkpoint_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let logs = TopicLogs::open(dir.path().join("data"), 100, &[]).unwrap();
    topic_of(&logs, 1, 8);
    let dirty = |logs: &TopicLogs| {
        let mut d: Vec<_> = logs.dirty.lock().unwrap().iter().copied().collect();
        d.sort();
        d
    };
    let before = dirty(&logs);
    assert!(before.len() >= 4, "{before:?}");
    // The writeback thread's pass makes nothing durable by contract: the checkpoint still
    // fsyncs (and only then forgets) every segment written since the last one.
    logs.start_writeback();
    assert_eq!(dirty(&logs), before);
    logs.sync_dirty().unwrap();
    assert!(dirty(&logs).is_empty());
    // A segment deleted under it (retention) is no error.
    logs.dirty.lock().unwrap().insert((1, 999_999));
    logs.start_writeback();
}

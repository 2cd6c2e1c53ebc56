//! openraft's storage test suite against the sled log store and state machine.

use jumpnet_broker::metrics::Metrics;
use jumpnet_broker::raft::log_store::LogStore;
use jumpnet_broker::raft::state_machine::StateMachine;
use jumpnet_broker::raft::{StorageError, TypeConfig};
use jumpnet_broker::topics::TopicStore;
use openraft::testing::{StoreBuilder, Suite};

struct SledBuilder;

/// A node's storage in a fresh temp dir: the log, the topic store, its state machine.
async fn open_storage() -> (tempfile::TempDir, LogStore, TopicStore, StateMachine) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = sled::Config::new()
        .path(dir.path().join("db"))
        .open()
        .expect("open sled");
    let (log, flusher) = LogStore::open(
        &db,
        dir.path().join("db"),
        dir.path().join("raft"),
        Metrics::new(),
    )
    .expect("log store");
    let store = TopicStore::open(&db, dir.path(), 1 << 20).expect("topic store");
    let sm = StateMachine::open(store.clone(), flusher, dir.path().join("snapshots"))
        .await
        .expect("state machine");
    (dir, log, store, sm)
}

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for SledBuilder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let (dir, log, _store, sm) = open_storage().await;
        Ok((dir, log, sm))
    }
}

#[test]
fn sled_store_passes_the_openraft_storage_suite() {
    Suite::test_all(SledBuilder).expect("storage suite");
}

/// A leader's committed vote reads back uncommitted after a restart: openraft would otherwise
/// resume the leader in its own term at once, although a power loss may have taken entries from
/// its log that a quorum of followers acknowledged (it sends entries before its own fsync).
#[tokio::test]
async fn a_committed_vote_reads_back_uncommitted_so_a_leader_never_resumes_its_term() {
    use openraft::storage::RaftLogStorage;
    let (_dir, mut log, _sm) = SledBuilder.build().await.expect("store");
    let vote = jumpnet_broker::raft::Vote::new_committed(3, 1);
    log.save_vote(&vote).await.expect("save vote");
    let back = log.read_vote().await.expect("read vote").expect("a vote");
    assert_eq!(back.leader_id, vote.leader_id, "same term and candidate");
    assert!(!back.committed, "must not resume leadership: {back:?}");
}

/// The snapshot openraft is handed is durable: after a restart the state machine re-applies the
/// log past its last checkpoint, and openraft then asks for the current snapshot and takes its
/// log id as stored (the log is purged up to it). Before, that id was only in memory: a node
/// killed again before its next checkpoint came back with its log purged past its state and
/// could not start (`bench/failover.sh kill`, "Failed to get log entries").
#[tokio::test]
async fn the_current_snapshot_is_a_checkpoint_even_past_the_last_one() {
    use jumpnet_broker::raft::{Entry, LogId, StoredMembership};
    use openraft::entry::RaftEntry;
    use openraft::storage::RaftStateMachine;

    let (_dir, _log, store, mut sm) = open_storage().await;
    let durable = || {
        store
            .raft_state::<Option<LogId>, StoredMembership>()
            .expect("raft state")
            .0
            .flatten()
    };
    let entries = |from: u64, to: u64| -> Vec<Entry> {
        (from..=to)
            .map(|i| {
                Entry::new_blank(openraft::LogId::new(
                    openraft::CommittedLeaderId::new(1, 1),
                    i,
                ))
            })
            .collect()
    };

    sm.apply(entries(1, 10)).await.expect("apply");
    assert_eq!(durable(), None, "applied, not yet checkpointed");
    let snapshot = sm
        .get_current_snapshot()
        .await
        .expect("current snapshot")
        .expect("a snapshot");
    assert_eq!(snapshot.meta.last_log_id.map(|l| l.index), Some(10));
    assert_eq!(
        durable(),
        snapshot.meta.last_log_id,
        "handed out, so stored"
    );

    // Asked again with nothing new applied: the same, still stored.
    sm.apply(entries(11, 12)).await.expect("apply");
    let again = sm
        .get_current_snapshot()
        .await
        .expect("current snapshot")
        .expect("a snapshot");
    assert_eq!(again.meta.last_log_id.map(|l| l.index), Some(12));
    assert_eq!(durable(), again.meta.last_log_id);
}

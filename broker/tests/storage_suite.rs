//! openraft's storage test suite against the sled log store and state machine.

use jumpnet_broker::metrics::Metrics;
use jumpnet_broker::raft::log_store::LogStore;
use jumpnet_broker::raft::state_machine::StateMachine;
use jumpnet_broker::raft::{StorageError, TypeConfig};
use jumpnet_broker::topics::TopicStore;
use openraft::testing::{StoreBuilder, Suite};

struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for SledBuilder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::Config::new()
            .path(dir.path().join("db"))
            .open()
            .expect("open sled");
        let (log, flusher) =
            LogStore::open(&db, dir.path().join("raft"), Metrics::new()).expect("log store");
        let store = TopicStore::open(&db, dir.path(), 1 << 20).expect("topic store");
        let sm = StateMachine::open(store, flusher, dir.path().join("snapshots"))
            .await
            .expect("state machine");
        Ok((dir, log, sm))
    }
}

#[test]
fn sled_store_passes_the_openraft_storage_suite() {
    Suite::test_all(SledBuilder).expect("storage suite");
}

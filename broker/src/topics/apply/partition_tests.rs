//! Partitions through the apply code and the store: independent offsets, raise-only counts,
//! per-partition consumers, retention and deletion, and partitions surviving a restart.

use super::*;
use crate::command::{
    AdvanceConsumer, CommitOffset, DeleteConsumer, DeleteTopic, NewMessage, OpError, Publish,
    Published, PutTopic, TopicPut, Trim,
};

struct Fixture {
    dir: tempfile::TempDir,
    db: Option<sled::Db>,
    store: TopicStore,
    index: u64,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path().join("db")).unwrap();
        let store = TopicStore::open(&db, dir.path(), 256).unwrap();
        Fixture {
            dir,
            db: Some(db),
            store,
            index: 0,
        }
    }

    fn entry(&mut self, ops: Vec<Op>) -> Vec<OpResult> {
        self.index += 1;
        let mut a = Applier::new(&self.store);
        let at = At {
            index: self.index,
            ts_ms: 1000 + self.index,
        };
        let r = ops.into_iter().map(|op| a.apply(op, at).unwrap()).collect();
        self.store.publish(a.finish().unwrap());
        r
    }

    fn one(&mut self, op: Op) -> OpResult {
        self.entry(vec![op]).pop().unwrap()
    }

    fn values(&self, topic: &str, partition: u32) -> Vec<String> {
        let m = self.store.partition(topic, partition).unwrap().unwrap();
        self.store
            .read(&m, 0, 1000, u64::MAX)
            .unwrap()
            .into_iter()
            .map(|m| m.record.value_text().into_owned())
            .collect()
    }

    /// Checkpoint, close and reopen the store on the same state dir (a restart).
    async fn restart(&mut self) {
        self.store
            .checkpoint(&self.index, &(), async { Ok(()) })
            .await
            .unwrap();
        self.db.as_ref().unwrap().flush().unwrap();
        let path = self.dir.path().to_path_buf();
        // Let go of the database (the store holds it) before opening it again.
        let placeholder = tempfile::tempdir().unwrap();
        let tmp = sled::Config::new().temporary(true).open().unwrap();
        self.store = TopicStore::open(&tmp, placeholder.path(), 256).unwrap();
        self.store = {
            drop(self.db.take());
            let db = sled::open(path.join("db")).unwrap();
            let store = TopicStore::open(&db, &path, 256).unwrap();
            self.db = Some(db);
            store
        };
    }
}

fn put(topic: &str, partitions: Option<u32>) -> Op {
    PutTopic {
        topic: topic.into(),
        retention: None,
        create_only: false,
        partitions,
    }
    .into()
}

fn publish(topic: &str, partition: u32, values: &[&str]) -> Op {
    Op::Publish(Publish {
        topic: topic.into(),
        messages: values.iter().map(|v| NewMessage::new(*v)).collect(),
        producer: None,
        publisher: None,
        partition,
        kafka: None,
    })
}

fn base(r: OpResult) -> u64 {
    match r {
        OpResult::Published(Published { base_offset, .. }) => base_offset,
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_partition_counts_its_own_offsets_and_a_partition_out_of_range_is_refused() {
    let mut f = Fixture::new();
    f.one(put("t", Some(3)));
    assert_eq!(f.store.partitions("t").unwrap(), 3);
    assert_eq!(base(f.one(publish("t", 0, &["a", "b"]))), 0);
    assert_eq!(base(f.one(publish("t", 2, &["c"]))), 0);
    assert_eq!(base(f.one(publish("t", 2, &["d"]))), 1);
    assert_eq!(f.values("t", 0), ["a", "b"]);
    assert_eq!(f.values("t", 1), Vec::<String>::new());
    assert_eq!(f.values("t", 2), ["c", "d"]);
    let metas = f.store.partition_metas("t").unwrap();
    assert_eq!(metas.len(), 3);
    let ids: std::collections::HashSet<u64> = metas.iter().map(|m| m.id).collect();
    assert_eq!(ids.len(), 3, "every partition has a log of its own");
    let r = f.one(publish("t", 3, &["x"]));
    assert!(
        matches!(
            r,
            OpResult::Error(OpError::PartitionNotFound {
                partition: 3,
                partitions: 3,
                ..
            })
        ),
        "{r:?}"
    );
    // A topic created by a publish has one partition.
    let r = f.one(publish("fresh", 1, &["x"]));
    assert!(
        matches!(r, OpResult::Error(OpError::PartitionNotFound { .. })),
        "{r:?}"
    );
    assert_eq!(f.store.partitions("fresh").unwrap(), 1);
}

#[test]
fn the_partition_count_can_only_be_raised() {
    let mut f = Fixture::new();
    f.one(publish("t", 0, &["a"]));
    assert_eq!(f.store.partitions("t").unwrap(), 1);
    // Same count, no count: nothing changes.
    assert_eq!(
        f.one(put("t", Some(1))),
        OpResult::Topic(TopicPut { created: false })
    );
    f.one(put("t", Some(4)));
    assert_eq!(f.store.partitions("t").unwrap(), 4);
    let r = f.one(put("t", Some(2)));
    assert!(
        matches!(
            r,
            OpResult::Error(OpError::InvalidPartitions {
                partitions: 4,
                requested: 2,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(matches!(f.one(put("t", Some(0))), OpResult::Error(_)));
    f.one(put("t", None));
    assert_eq!(f.store.partitions("t").unwrap(), 4);
    // Raising keeps what partition 0 had.
    assert_eq!(f.values("t", 0), ["a"]);
    assert_eq!(base(f.one(publish("t", 3, &["z"]))), 0);
}

/// v1 publishes route by the cached count (no storage read per request): it must follow every
/// change of the count, and a deleted and recreated topic.
#[test]
fn the_cached_partition_count_follows_raises_and_deletes() {
    let mut f = Fixture::new();
    assert_eq!(f.store.cached_partitions("t"), None);
    f.one(put("t", Some(2)));
    assert_eq!(f.store.cached_partitions("t"), None, "nothing read yet");
    assert_eq!(f.store.partitions("t").unwrap(), 2);
    assert_eq!(f.store.cached_partitions("t"), Some(2));
    f.one(put("t", Some(5)));
    assert_eq!(
        f.store.cached_partitions("t"),
        None,
        "the raise emptied the cache"
    );
    assert_eq!(f.store.partitions("t").unwrap(), 5);
    assert_eq!(f.store.cached_partitions("t"), Some(5));
    // A publish changes no count: the cache stays.
    f.one(publish("t", 4, &["a"]));
    assert_eq!(f.store.cached_partitions("t"), Some(5));
    f.one(DeleteTopic { topic: "t".into() }.into());
    assert_eq!(f.store.partitions("t").unwrap(), 1);
    f.one(put("t", Some(3)));
    assert_eq!(f.store.partitions("t").unwrap(), 3);
    assert_eq!(f.store.cached_partitions("t"), Some(3));
}

#[test]
fn named_consumers_have_a_position_per_partition_and_delete_forgets_them_all() {
    let mut f = Fixture::new();
    f.one(put("t", Some(2)));
    f.one(publish("t", 0, &["a", "b", "c"]));
    f.one(publish("t", 1, &["x"]));
    let commit = |partition, offset| -> Op {
        CommitOffset {
            consumer: "w".into(),
            topic: "t".into(),
            offset,
            partition,
        }
        .into()
    };
    f.one(commit(0, 2));
    f.one(commit(1, 1));
    assert!(matches!(
        f.one(commit(1, 2)),
        OpResult::Error(OpError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        f.one(commit(5, 0)),
        OpResult::Error(OpError::PartitionNotFound { .. })
    ));
    assert_eq!(f.store.consumer_offset_at("t", 0, "w").unwrap(), Some(2));
    assert_eq!(f.store.consumer_offset_at("t", 1, "w").unwrap(), Some(1));
    let advance = AdvanceConsumer {
        consumer: "v".into(),
        topic: "t".into(),
        from: 0,
        to: 1,
        partition: 1,
    };
    f.one(advance.into());
    assert_eq!(f.store.consumer_offset_at("t", 1, "v").unwrap(), Some(1));
    assert_eq!(f.store.consumer_offset_at("t", 0, "v").unwrap(), None);
    let lags = f.store.consumer_lags(Some("t")).unwrap();
    let mut seen: Vec<(u32, String, u64)> = lags
        .iter()
        .map(|l| (l.partition, l.consumer.clone(), l.lag))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![(0, "w".into(), 1), (1, "v".into(), 0), (1, "w".into(), 0)]
    );
    assert_eq!(f.store.consumer_count("t").unwrap(), 3);
    f.one(
        DeleteConsumer {
            consumer: "w".into(),
            topic: "t".into(),
        }
        .into(),
    );
    assert_eq!(f.store.consumer_offset_at("t", 0, "w").unwrap(), None);
    assert_eq!(f.store.consumer_offset_at("t", 1, "w").unwrap(), None);
    assert_eq!(f.store.consumer_count("t").unwrap(), 1);
}

#[test]
fn retention_trims_each_partition_by_its_own_id_and_delete_removes_every_partition() {
    let mut f = Fixture::new();
    f.one(put("t", Some(2)));
    f.one(publish("t", 0, &["a", "b"]));
    f.one(publish("t", 1, &["x", "y", "z"]));
    let p1 = f.store.partition("t", 1).unwrap().unwrap();
    let r = f.one(
        Trim {
            topic: "t".into(),
            topic_id: p1.id,
            new_start: 2,
        }
        .into(),
    );
    assert!(matches!(r, OpResult::Trimmed(_)), "{r:?}");
    assert_eq!(f.store.partition("t", 1).unwrap().unwrap().start, 2);
    assert_eq!(f.store.topic("t").unwrap().unwrap().start, 0);
    assert_eq!(f.values("t", 1), ["z"]);

    // Per-partition retention: every partition over the limit is cut on its own.
    let default = crate::command::Retention {
        max_messages: Some(1),
        ..Default::default()
    };
    let mut trims = crate::topics::retention::due_trims(&f.store, default, 5000).unwrap();
    trims.sort_by_key(|t| t.topic_id);
    assert_eq!(trims.len(), 1, "{trims:?}");
    assert_eq!(trims[0].new_start, 1);

    f.one(DeleteTopic { topic: "t".into() }.into());
    assert_eq!(f.store.partition("t", 1).unwrap(), None);
    assert_eq!(f.store.partitions("t").unwrap(), 1);
    // Recreated: one fresh partition, nothing of the old ones.
    f.one(publish("t", 0, &["new"]));
    assert_eq!(f.store.partition_metas("t").unwrap().len(), 1);
}

/// State written before partitions existed (a `t/` meta, no count) reads as one partition.
#[test]
fn a_topic_stored_without_a_partition_count_has_one_partition() {
    let mut f = Fixture::new();
    let mut a = Applier::new(&f.store);
    a.put(
        &keys::topic("old"),
        &TopicMeta {
            id: 7,
            ..Default::default()
        },
    );
    f.store.publish(a.finish().unwrap());
    assert_eq!(f.store.partitions("old").unwrap(), 1);
    assert_eq!(f.store.partition_metas("old").unwrap().len(), 1);
    assert_eq!(base(f.one(publish("old", 0, &["a"]))), 0);
}

#[tokio::test]
async fn partitions_and_their_messages_survive_a_restart_and_are_pinned_for_snapshots() {
    let mut f = Fixture::new();
    f.one(put("t", Some(3)));
    // Enough to roll segments (256 bytes each here).
    for i in 0..20 {
        f.one(publish(
            "t",
            i % 3,
            &[&format!("value-{i:02}-{}", "x".repeat(30))],
        ));
    }
    let before: Vec<Vec<String>> = (0..3).map(|p| f.values("t", p)).collect();
    assert!(before.iter().all(|v| !v.is_empty()));
    let pinned = f.store.pin().unwrap();
    let metas = f.store.partition_metas("t").unwrap();
    for m in &metas {
        assert!(
            pinned.parts.iter().any(|p| p.topic_id == m.id),
            "partition log {} not in the snapshot",
            m.id
        );
    }
    drop(pinned);
    f.restart().await;
    assert_eq!(f.store.partitions("t").unwrap(), 3);
    let after: Vec<Vec<String>> = (0..3).map(|p| f.values("t", p)).collect();
    assert_eq!(after, before);
    assert_eq!(
        base(f.one(publish("t", 2, &["next"]))),
        before[2].len() as u64
    );
}

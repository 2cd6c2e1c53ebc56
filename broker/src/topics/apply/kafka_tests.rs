//! Publishes from the Kafka listener: Kafka's sequence rules, the records' own timestamps, and
//! the replicated producer-id counter.

use super::*;
use crate::command::{
    AllocateProducerId, KafkaPublish, NewMessage, OpError, ProducerIdAllocated, ProducerSeq,
    Publish, Published, PutTopic,
};

struct Fixture {
    _dir: tempfile::TempDir,
    _db: sled::Db,
    store: TopicStore,
    index: u64,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path().join("db")).unwrap();
        let store = TopicStore::open(&db, dir.path(), 1 << 20).unwrap();
        let mut f = Fixture {
            _dir: dir,
            _db: db,
            store,
            index: 0,
        };
        f.one(
            PutTopic {
                topic: "t".into(),
                retention: None,
                create_only: true,
                partitions: Some(2),
            }
            .into(),
        );
        f
    }

    fn one(&mut self, op: Op) -> OpResult {
        self.index += 1;
        let mut a = Applier::new(&self.store);
        let r = a
            .apply(
                op,
                At {
                    index: self.index,
                    ts_ms: 5_000_000 + self.index,
                },
            )
            .unwrap();
        self.store.publish(a.finish().unwrap());
        r
    }

    /// A Kafka batch of `count` records from producer 7 at `epoch`, first sequence `seq`.
    fn batch(&mut self, partition: u32, epoch: u64, seq: u64, count: usize) -> OpResult {
        self.one(Op::Publish(Publish {
            topic: "t".into(),
            messages: (0..count)
                .map(|i| NewMessage::new(format!("v{i}")))
                .collect(),
            producer: Some(ProducerSeq::scoped(None, "kafka-7".into(), epoch, seq)),
            publisher: None,
            partition,
            kafka: Some(KafkaPublish {
                timestamps: (0..count).map(|i| 1_000 + i as u64).collect(),
            }),
        }))
    }
}

fn stored(base_offset: u64, count: u64, duplicate: bool) -> OpResult {
    OpResult::Published(Published {
        base_offset,
        count,
        duplicate,
    })
}

fn out_of_order(r: &OpResult, expected: u64) -> bool {
    matches!(r, OpResult::Error(OpError::OutOfOrderSequence { expected: e, .. }) if *e == expected)
}

#[test]
fn kafka_batches_continue_their_sequence_exactly_or_are_refused() {
    let mut f = Fixture::new();
    // An unknown producer starts anywhere (its state may have been forgotten).
    assert_eq!(f.batch(0, 0, 0, 3), stored(0, 3, false));
    assert_eq!(f.batch(0, 0, 3, 2), stored(3, 2, false));
    // A retry of a recent batch answers its first offsets, stores nothing.
    assert_eq!(f.batch(0, 0, 0, 3), stored(0, 3, true));
    // A gap (a batch lost before it) and a reorder are refused, so the producer resends in order.
    assert!(out_of_order(&f.batch(0, 0, 9, 1), 5));
    assert!(out_of_order(&f.batch(0, 0, 4, 1), 5));
    assert_eq!(f.batch(0, 0, 5, 1), stored(5, 1, false));
    // Sequences are per partition: partition 1 knows nothing of partition 0's.
    assert_eq!(f.batch(1, 0, 0, 1), stored(0, 1, false));
    // A new epoch starts at 0; an older one is fenced.
    assert!(out_of_order(&f.batch(0, 1, 6, 1), 0));
    assert_eq!(f.batch(0, 1, 0, 1), stored(6, 1, false));
    let r = f.batch(0, 0, 6, 1);
    assert!(
        matches!(r, OpResult::Error(OpError::ProducerFenced { .. })),
        "{r:?}"
    );
    assert_eq!(f.store.partition("t", 0).unwrap().unwrap().next, 7);
}

#[test]
fn kafka_records_keep_their_timestamps_and_http_ones_the_leaders_clock() {
    let mut f = Fixture::new();
    f.batch(0, 0, 0, 2);
    f.one(Op::Publish(Publish {
        topic: "t".into(),
        messages: vec![NewMessage::new("http")],
        producer: None,
        publisher: None,
        partition: 0,
        kafka: None,
    }));
    let meta = f.store.partition("t", 0).unwrap().unwrap();
    let ts: Vec<u64> = f
        .store
        .read(&meta, 0, 10, u64::MAX)
        .unwrap()
        .into_iter()
        .map(|m| m.record.ts_ms)
        .collect();
    // The producer's times (in 1970) do not drag the broker's clock back for HTTP publishes.
    assert_eq!(ts, vec![1_000, 1_001, 5_000_000 + f.index]);
}

#[test]
fn producer_ids_are_never_handed_out_twice() {
    let mut f = Fixture::new();
    let ids: Vec<OpResult> = (0..3).map(|_| f.one(AllocateProducerId.into())).collect();
    assert_eq!(
        ids,
        [1000, 1001, 1002]
            .map(|producer_id| OpResult::ProducerIdAllocated(ProducerIdAllocated { producer_id }))
    );
}

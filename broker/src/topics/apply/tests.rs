//! The apply code against a model of the topic log.

use proptest::prelude::*;

use super::*;
use crate::command::{DeleteTopic, NewMessage, Publish, Published, Trim};

#[derive(Debug, Clone)]
enum Step {
    Publish(Vec<String>),
    Trim(u64),
    Delete,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => proptest::collection::vec("[a-z]{0,40}", 1..8).prop_map(Step::Publish),
        2 => (0u64..80).prop_map(Step::Trim),
        1 => Just(Step::Delete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Offsets are dense from 0, trims only move the start forward, byte counts match what is
    /// retained, and reads return exactly the retained messages — across apply calls and
    /// segment rolls (tiny segments here).
    #[test]
    fn offsets_and_byte_counts_follow_a_simple_model(steps in proptest::collection::vec(step(), 1..40), per_call in 1usize..5) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let store = TopicStore::open(&db, dir.path(), 256).unwrap();
        // The model: every value ever published in the current incarnation of the topic, and the start.
        let mut model: Vec<String> = Vec::new();
        let mut start = 0u64;
        let mut index = 1;
        for chunk in steps.chunks(per_call) {
            let mut a = Applier::new(&store);
            for s in chunk {
                let id = a.topic("t").unwrap().map(|m| m.id);
                let op = match s {
                    Step::Publish(vals) => Op::Publish(Publish {
                        topic: "t".into(),
                        messages: vals.iter().map(|v| NewMessage::new(v.clone())).collect(),
                        producer: None,
                        publisher: None, partition: 0, kafka: None,
                    }),
                    Step::Trim(to) => Trim { topic: "t".into(), topic_id: id.unwrap_or(0), new_start: *to }.into(),
                    Step::Delete => DeleteTopic { topic: "t".into() }.into(),
                };
                let r = a.apply(op, At { index, ts_ms: 1000 + index }).unwrap();
                index += 1;
                match (s, r) {
                    (Step::Publish(vals), OpResult::Published(Published { base_offset, count, .. })) => {
                        prop_assert_eq!(base_offset, model.len() as u64);
                        prop_assert_eq!(count, vals.len() as u64);
                        model.extend(vals.iter().cloned());
                    }
                    (Step::Trim(to), OpResult::Trimmed(_)) => {
                        if id.is_some() && *to > start {
                            start = (*to).min(model.len() as u64);
                        }
                    }
                    (Step::Delete, OpResult::Deleted(_)) => {
                        model.clear();
                        start = 0;
                    }
                    (s, r) => prop_assert!(false, "{:?} gave {:?}", s, r),
                }
            }
            let applied = a.finish().unwrap();
            store.publish(applied);
        }
        match store.topic("t").unwrap() {
            None => prop_assert!(model.is_empty()),
            Some(m) => {
                prop_assert_eq!((m.start, m.next), (start, model.len() as u64));
                let retained = &model[start as usize..];
                prop_assert_eq!(m.bytes(), retained.iter().map(|v| v.len() as u64).sum::<u64>());
                let read: Vec<String> = store.read(&m, 0, 10_000, u64::MAX).unwrap().into_iter().map(|x| x.record.value_text().into_owned()).collect();
                prop_assert_eq!(&read[..], retained);
                if let Some(first) = retained.first() {
                    prop_assert_eq!(&store.record(&m, start).unwrap().unwrap().value, first.as_bytes());
                }
            }
        }
    }
}

/// M2: a named consumer's position moves only from where the claim saw it, and never past the log.
#[test]
fn advance_consumer_is_a_compare_and_set_of_the_position() {
    use crate::command::{AdvanceConsumer, ConsumerAdvanced, OpError};
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TopicStore::open(&db, dir.path(), 4096).unwrap();
    let mut a = Applier::new(&store);
    let at = |index| At { index, ts_ms: 1000 };
    let claim = |from, to| -> Op {
        AdvanceConsumer {
            consumer: "w".into(),
            topic: "jobs".into(),
            from,
            to,
            partition: 0,
        }
        .into()
    };
    let r = a.apply(claim(0, 1), at(1)).unwrap();
    assert!(
        matches!(r, OpResult::Error(OpError::TopicNotFound { .. })),
        "{r:?}"
    );
    let publish = Publish {
        topic: "jobs".into(),
        messages: (0..5).map(|i| NewMessage::new(format!("v{i}"))).collect(),
        producer: None,
        publisher: None,
        partition: 0,
        kafka: None,
    };
    a.apply(Op::Publish(publish), at(2)).unwrap();
    assert_eq!(
        a.apply(claim(0, 3), at(3)).unwrap(),
        OpResult::ConsumerAdvanced(ConsumerAdvanced { offset: 3 })
    );
    // A second claim from the same old position loses: the values 0..3 went to the first one.
    let r = a.apply(claim(0, 2), at(4)).unwrap();
    assert!(
        matches!(r, OpResult::Error(OpError::ConsumerMoved { offset: 3, .. })),
        "{r:?}"
    );
    let r = a.apply(claim(3, 6), at(5)).unwrap();
    assert!(
        matches!(r, OpResult::Error(OpError::OffsetOutOfRange { .. })),
        "{r:?}"
    );
    assert_eq!(
        a.apply(claim(3, 5), at(6)).unwrap(),
        OpResult::ConsumerAdvanced(ConsumerAdvanced { offset: 5 })
    );
    store.publish(a.finish().unwrap());
    assert_eq!(store.consumer_offset("jobs", "w").unwrap(), Some(5));
}

/// Issue 16: deleting a named consumer's position forgets that position only, says whether it
/// existed, refuses an unknown topic; deleting the topic forgets all of its positions.
#[test]
fn delete_consumer_forgets_one_position_and_delete_topic_all_of_them() {
    use crate::command::{CommitOffset, ConsumerDeleted, DeleteConsumer, OpError};
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TopicStore::open(&db, dir.path(), 4096).unwrap();
    let at = |index| At { index, ts_ms: 1000 };
    let delete = |consumer: &str, topic: &str| -> Op {
        DeleteConsumer {
            consumer: consumer.into(),
            topic: topic.into(),
        }
        .into()
    };
    let commit = |consumer: &str, topic: &str, offset| -> Op {
        CommitOffset {
            consumer: consumer.into(),
            topic: topic.into(),
            offset,
            partition: 0,
        }
        .into()
    };
    let mut a = Applier::new(&store);
    let r = a.apply(delete("w", "jobs"), at(1)).unwrap();
    assert!(
        matches!(r, OpResult::Error(OpError::TopicNotFound { .. })),
        "{r:?}"
    );
    for topic in ["jobs", "jobs2"] {
        let publish = Publish {
            topic: topic.into(),
            messages: (0..5).map(|i| NewMessage::new(format!("v{i}"))).collect(),
            producer: None,
            publisher: None,
            partition: 0,
            kafka: None,
        };
        a.apply(Op::Publish(publish), at(2)).unwrap();
    }
    for (c, t, o) in [("w", "jobs", 2), ("x", "jobs", 4), ("w", "jobs2", 1)] {
        a.apply(commit(c, t, o), at(3)).unwrap();
    }
    store.publish(a.finish().unwrap());

    let mut a = Applier::new(&store);
    assert_eq!(
        a.apply(delete("w", "jobs"), at(4)).unwrap(),
        OpResult::ConsumerDeleted(ConsumerDeleted { existed: true })
    );
    // Within the same apply call the position is already gone.
    assert_eq!(
        a.apply(delete("w", "jobs"), at(5)).unwrap(),
        OpResult::ConsumerDeleted(ConsumerDeleted { existed: false })
    );
    store.publish(a.finish().unwrap());
    assert_eq!(store.consumer_offset("jobs", "w").unwrap(), None);
    assert_eq!(store.consumer_offset("jobs", "x").unwrap(), Some(4));
    assert_eq!(store.consumer_offset("jobs2", "w").unwrap(), Some(1));
    assert_eq!(
        store.consumer_positions(None).unwrap(),
        vec![
            ("jobs".to_string(), "x".to_string(), 4),
            ("jobs2".to_string(), "w".to_string(), 1)
        ]
    );

    let mut a = Applier::new(&store);
    a.apply(
        DeleteTopic {
            topic: "jobs".into(),
        }
        .into(),
        at(6),
    )
    .unwrap();
    store.publish(a.finish().unwrap());
    assert_eq!(
        store.consumer_positions(None).unwrap(),
        vec![("jobs2".to_string(), "w".to_string(), 1)]
    );
    assert_eq!(store.consumer_positions(Some("jobs")).unwrap(), vec![]);
}

/// M8: producer epochs. A higher epoch starts the producer's sequences over and fences the older
/// ones; within an epoch the dedup rules are unchanged; the epoch is in the state a snapshot
/// carries and a node that installed it applies by it.
#[tokio::test]
async fn a_higher_producer_epoch_starts_over_and_fences_the_older_ones() {
    use crate::command::{OpError, ProducerSeq};
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TopicStore::open(&db, dir.path(), 4096).unwrap();
    let mut index = 0;
    let mut send = |store: &TopicStore, epoch: u64, sequence: u64| -> OpResult {
        index += 1;
        let mut a = Applier::new(store);
        let op = Op::Publish(Publish {
            topic: "t".into(),
            messages: vec![NewMessage::new(format!("{epoch}/{sequence}"))],
            producer: Some(ProducerSeq::scoped(
                Some("alice"),
                "p".into(),
                epoch,
                sequence,
            )),
            publisher: Some("alice".into()),
            partition: 0,
            kafka: None,
        });
        let r = a.apply(op, At { index, ts_ms: 1000 }).unwrap();
        store.publish(a.finish().unwrap());
        r
    };
    let published = |base_offset, duplicate| {
        OpResult::Published(Published {
            base_offset,
            count: 1,
            duplicate,
        })
    };
    let fenced = |r: &OpResult, e, c| matches!(r, OpResult::Error(OpError::ProducerFenced { epoch, current, .. }) if *epoch == e && *current == c);

    // Epoch 0 (the default): today's rules.
    assert_eq!(send(&store, 0, 5), published(0, false));
    assert_eq!(send(&store, 0, 6), published(1, false));
    assert_eq!(send(&store, 0, 5), published(0, true), "a retry");
    let r = send(&store, 0, 0);
    assert!(
        matches!(r, OpResult::Error(OpError::SequenceTooOld { last: 6, .. })),
        "{r:?}"
    );
    // A restarted producer: epoch 1 from sequence 0 is accepted (its window starts over).
    assert_eq!(send(&store, 1, 0), published(2, false));
    assert_eq!(send(&store, 1, 0), published(2, true), "same-epoch dedup");
    assert_eq!(send(&store, 1, 1), published(3, false));
    // The old instance is fenced, with a sequence it used as with a new one.
    for seq in [6, 7] {
        let r = send(&store, 0, seq);
        assert!(fenced(&r, 0, 1), "{r:?}");
    }
    // Another jump of epochs; then the one before is fenced too.
    assert_eq!(send(&store, 5, 9), published(4, false));
    assert!(fenced(&send(&store, 1, 2), 1, 5));
    assert_eq!(
        store.topic("t").unwrap().unwrap().next,
        5,
        "nothing refused was stored"
    );
    // The fenced instance stored nothing, and the producer is still counted once.
    assert_eq!(store.get::<u64>(keys::PRODUCER_COUNT).unwrap(), Some(1));

    // A snapshot of this state, installed on another node, keeps the epoch.
    let dir2 = tempfile::tempdir().unwrap();
    let db2 = sled::Config::new().temporary(true).open().unwrap();
    let other = TopicStore::open(&db2, dir2.path(), 4096).unwrap();
    let (name, path) = other.new_data_dir();
    copy_dir(&dir.path().join("data"), &path);
    other
        .install_snapshot(
            store.snapshot_metadata().unwrap(),
            (name, path),
            &(),
            &(),
            || async { Ok(()) },
        )
        .await
        .unwrap();
    assert!(fenced(&send(&other, 1, 3), 1, 5));
    assert_eq!(send(&other, 5, 9), published(4, true));
    assert_eq!(send(&other, 5, 10), published(5, false));
    assert_eq!(send(&other, 6, 0), published(6, false));
}

/// M8: producer state stored before epochs existed (no trailing epoch) decodes at epoch 0, and
/// today's layout is the old one plus the epoch (so older nodes still read it).
#[test]
fn producer_state_from_before_epochs_decodes_at_epoch_0() {
    use crate::topics::model::ProducerState;
    let old = bincode::serialize(&(
        std::collections::VecDeque::from([(4u64, 10u64, 2u64)]),
        77u64,
    ))
    .unwrap();
    let state = ProducerState::decode(&old).unwrap();
    assert_eq!(
        (state.find(4), state.last_index, state.epoch),
        (Some((10, 2)), 77, 0)
    );
    let new = ProducerState { epoch: 3, ..state };
    let bytes = super::encode(&new);
    assert_eq!(&bytes[..old.len()], &old[..]);
    assert_eq!(ProducerState::decode(&bytes).unwrap(), new);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

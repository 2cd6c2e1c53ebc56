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
                        publisher: None,
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

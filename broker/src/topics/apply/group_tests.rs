//! Consumer groups through the apply code and the store: dead letters, deletion with the topic,
//! and the group state in a snapshot.

use super::*;
use crate::command::{
    AckMessages, ConfigureGroup, DeleteTopic, GroupConfig, GroupStart, LeaseMessages, Leased,
    MessageRef, NewMessage, Publish,
};
use crate::topics::group::MAX_OUTSTANDING;

struct Fixture {
    _dir: tempfile::TempDir,
    store: TopicStore,
    index: u64,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let store = TopicStore::open(&db, dir.path(), 4096).unwrap();
        Fixture {
            _dir: dir,
            store,
            index: 0,
        }
    }

    /// Apply `ops` as one entry at `ts_ms`.
    fn entry(&mut self, ts_ms: u64, ops: Vec<Op>) -> Vec<OpResult> {
        self.index += 1;
        let mut a = Applier::new(&self.store);
        let r = ops
            .into_iter()
            .map(|op| {
                a.apply(
                    op,
                    At {
                        index: self.index,
                        ts_ms,
                    },
                )
                .unwrap()
            })
            .collect();
        self.store.publish(a.finish().unwrap());
        r
    }

    fn lease(&mut self, ts_ms: u64, max: u32) -> Leased {
        let op = LeaseMessages {
            topic: "t".into(),
            group: "g".into(),
            max,
        };
        match self.entry(ts_ms, vec![op.into()]).pop() {
            Some(OpResult::Leased(l)) => l,
            other => panic!("{other:?}"),
        }
    }
}

fn publish(topic: &str, values: &[&str]) -> Op {
    Op::Publish(Publish {
        topic: topic.into(),
        messages: values
            .iter()
            .map(|v| NewMessage {
                headers: Some([("own".to_string(), "h".to_string())].into()),
                ..NewMessage::new(*v)
            })
            .collect(),
        producer: None,
        publisher: Some("alice".into()),
        partition: 0,
        kafka: None,
    })
}

fn configure(dlq: Option<&str>) -> Op {
    ConfigureGroup {
        topic: "t".into(),
        group: "g".into(),
        config: GroupConfig {
            ack_wait_ms: 100,
            max_deliveries: 1,
            dead_letter_topic: dlq.map(Into::into),
        },
        start: GroupStart::Earliest,
    }
    .into()
}

#[test]
fn a_message_out_of_deliveries_goes_to_the_dead_letter_topic_with_its_origin() {
    let mut f = Fixture::new();
    f.entry(1, vec![publish("t", &["a", "b"]), configure(Some("dead"))]);
    assert_eq!(f.lease(10, 10).leases.len(), 2);
    f.entry(
        20,
        vec![AckMessages {
            topic: "t".into(),
            group: "g".into(),
            messages: vec![MessageRef {
                partition: 0,
                offset: 1,
            }],
        }
        .into()],
    );
    // Offset 0's only delivery ran out: dead-lettered by the next lease, not delivered.
    assert!(f.lease(110, 10).leases.is_empty());
    let g = f.store.group("t", "g").unwrap().unwrap();
    assert_eq!((g.dead_lettered, g.dropped), (1, 0));
    assert_eq!(g.partitions[&0].floor, 2);
    let meta = f
        .store
        .topic("dead")
        .unwrap()
        .expect("dead-letter topic created");
    let m = f.store.read(&meta, 0, 10, u64::MAX).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].record.value, b"a");
    assert_eq!(m[0].record.publisher.as_deref(), Some("alice"));
    let h = m[0].record.headers.clone().unwrap();
    assert_eq!(h[ORIGIN_TOPIC], "t");
    assert_eq!(h[ORIGIN_PARTITION], "0");
    assert_eq!(h[ORIGIN_OFFSET], "0");
    assert_eq!(h[ORIGIN_GROUP], "g");
    assert_eq!(h[DELIVERIES], "1");
    assert_eq!(h["own"], "h");
}

/// Issue 16: a group over a partitioned topic dead-letters from any partition, reading the
/// message from its own partition, and the headers name that partition; a group created with
/// `latest` starts at every partition's end.
#[test]
fn a_dead_letter_from_another_partition_names_it_and_latest_starts_every_partition_at_its_end() {
    let mut f = Fixture::new();
    let put = crate::command::PutTopic {
        topic: "t".into(),
        retention: None,
        create_only: false,
        partitions: Some(3),
    };
    let mut on_2 = publish("t", &["x", "y"]);
    if let Op::Publish(p) = &mut on_2 {
        p.partition = 2;
    }
    f.entry(1, vec![put.into(), on_2.clone(), configure(Some("dead"))]);
    let latest = ConfigureGroup {
        topic: "t".into(),
        group: "late".into(),
        config: GroupConfig::default(),
        start: GroupStart::Latest,
    };
    f.entry(2, vec![latest.into()]);
    let late = f.store.group("t", "late").unwrap().unwrap();
    assert_eq!(late.partitions[&2].floor, 2);
    assert_eq!(late.partitions[&0].floor, 0);
    let l = f.lease(10, 10);
    let got: Vec<(u32, u64)> = l.leases.iter().map(|l| (l.partition, l.offset)).collect();
    assert_eq!(got, vec![(2, 0), (2, 1)]);
    // Both run out; the next lease dead-letters them from partition 2.
    assert!(f.lease(110, 10).leases.is_empty());
    let meta = f.store.topic("dead").unwrap().expect("dead-letter topic");
    let m = f.store.read(&meta, 0, 10, u64::MAX).unwrap();
    let values: Vec<&[u8]> = m.iter().map(|m| m.record.value.as_slice()).collect();
    assert_eq!(values, vec![b"x".as_slice(), b"y".as_slice()]);
    let h = m[1].record.headers.clone().unwrap();
    assert_eq!(h[ORIGIN_PARTITION], "2");
    assert_eq!(h[ORIGIN_OFFSET], "1");
    let g = f.store.group("t", "g").unwrap().unwrap();
    assert_eq!((g.dead_lettered, g.partitions[&2].floor), (2, 2));
}

/// The topics an entry of `ops` at `ts_ms` wakes (long-polls look again).
fn wakes(f: &mut Fixture, ts_ms: u64, ops: Vec<Op>) -> Vec<String> {
    f.index += 1;
    let mut a = Applier::new(&f.store);
    for op in ops {
        a.apply(
            op,
            At {
                index: f.index,
                ts_ms,
            },
        )
        .unwrap();
    }
    let applied = a.finish().unwrap();
    let touched = applied.touched.iter().cloned().collect();
    f.store.publish(applied);
    touched
}

fn ack(offsets: &[u64]) -> Op {
    AckMessages {
        topic: "t".into(),
        group: "g".into(),
        messages: offsets
            .iter()
            .map(|&offset| MessageRef {
                partition: 0,
                offset,
            })
            .collect(),
    }
    .into()
}

#[test]
fn an_ack_that_makes_room_under_the_outstanding_cap_wakes_the_group_s_fetches() {
    let mut f = Fixture::new();
    let values: Vec<String> = (0..MAX_OUTSTANDING + 5).map(|i| i.to_string()).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    f.entry(1, vec![publish("t", &refs), configure(None)]);
    let mut leased = 0;
    while leased < MAX_OUTSTANDING {
        leased += f.lease(10, 1_000).leases.len();
    }
    // At the cap: nothing more is leased although messages wait.
    assert!(f.lease(10, 1_000).leases.is_empty());
    assert_eq!(
        wakes(&mut f, 11, vec![ack(&[0])]),
        vec!["t".to_string()],
        "room made"
    );
    // Below the cap an ack wakes nobody (a fetch would have leased already).
    assert!(wakes(&mut f, 12, vec![ack(&[1])]).is_empty());
    assert_eq!(f.lease(13, 1_000).leases.len(), 2);
}

#[test]
fn without_a_dead_letter_topic_a_message_out_of_deliveries_is_dropped_and_counted() {
    let mut f = Fixture::new();
    f.entry(1, vec![publish("t", &["a"]), configure(None)]);
    f.lease(10, 10);
    assert!(f.lease(110, 10).leases.is_empty());
    let g = f.store.group("t", "g").unwrap().unwrap();
    assert_eq!((g.dead_lettered, g.dropped), (0, 1));
    assert_eq!(f.store.topics().unwrap().len(), 1);
}

#[test]
fn a_first_lease_creates_the_group_and_deleting_the_topic_removes_it() {
    let mut f = Fixture::new();
    f.entry(1, vec![publish("t", &["a"])]);
    let l = f.lease(5, 10);
    assert_eq!(l.deadline_ms, 5 + 30_000);
    let g = f.store.group("t", "g").unwrap().unwrap();
    assert_eq!(g.config, GroupConfig::default());
    f.entry(6, vec![DeleteTopic { topic: "t".into() }.into()]);
    assert!(f.store.groups("t").unwrap().is_empty());
    // Created and deleted in one entry: nothing left either.
    f.entry(
        7,
        vec![
            publish("t", &["a"]),
            configure(None),
            DeleteTopic { topic: "t".into() }.into(),
        ],
    );
    assert!(f.store.all_groups().unwrap().is_empty());
}

#[test]
fn group_ops_on_an_unknown_topic_or_group_are_refused() {
    let mut f = Fixture::new();
    let r = f.entry(1, vec![configure(None)]);
    assert!(matches!(
        r[0],
        OpResult::Error(crate::command::OpError::TopicNotFound { .. })
    ));
    f.entry(2, vec![publish("t", &["a"])]);
    let ack = AckMessages {
        topic: "t".into(),
        group: "nope".into(),
        messages: vec![],
    };
    let r = f.entry(3, vec![ack.into()]);
    assert!(matches!(
        r[0],
        OpResult::Error(crate::command::OpError::GroupNotFound { .. })
    ));
}

/// The group state is state-machine state: a snapshot carries it and a fresh node that installs
/// the snapshot leases exactly where the old one would.
#[tokio::test]
async fn group_state_survives_a_snapshot_round_trip() {
    let mut f = Fixture::new();
    f.entry(1, vec![publish("t", &["a", "b", "c"])]);
    f.lease(10, 2);
    let kvs = f.store.snapshot_metadata().unwrap();
    assert!(kvs.iter().any(|(k, _)| k.starts_with(keys::GROUP_PREFIX)));
    // The group part of it (the topic's segment files are another test's business).
    let kvs: Vec<_> = kvs
        .into_iter()
        .filter(|(k, _)| !k.starts_with(keys::TOPIC_PREFIX))
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().temporary(true).open().unwrap();
    let other = TopicStore::open(&db, dir.path(), 4096).unwrap();
    let (name, path) = other.new_data_dir();
    std::fs::create_dir_all(&path).unwrap();
    other
        .install_snapshot(kvs, (name, path), &1u64, &(), || async { Ok(()) })
        .await
        .unwrap();
    assert_eq!(
        other.group("t", "g").unwrap(),
        f.store.group("t", "g").unwrap()
    );
    let mut g = other.group("t", "g").unwrap().unwrap();
    let part = crate::topics::group::PartLog {
        partition: 0,
        start: 0,
        next: 3,
    };
    let next = g.lease(&[part], 10, 20, 0);
    assert_eq!(
        next.leases.iter().map(|l| l.offset).collect::<Vec<_>>(),
        vec![2]
    );
}

//! The encoding is the Raft log on disk and the peers' wire protocol: it must not change.

use super::*;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn every_op() -> Command {
    Command {
        ts_ms: 1_700_000_000_123,
        ops: vec![
            Op::Publish(Publish {
                topic: "t".into(),
                messages: vec![NewMessage {
                    value: "v".into(),
                    key: Some("k".into()),
                    headers: Some([("h".to_string(), "x".to_string())].into()),
                }],
                producer: Some(ProducerSeq {
                    producer_id: "p".into(),
                    sequence: 7,
                    epoch: 0,
                }),
                publisher: Some("me".into()),
            }),
            CommitOffset {
                consumer: "c".into(),
                topic: "t".into(),
                offset: 3,
            }
            .into(),
            ConsumeNext {
                consumer: "c".into(),
                topic: "t".into(),
                limit: 10,
                max_bytes: 99,
            }
            .into(),
            PutTopic {
                topic: "t".into(),
                retention: Some(Retention {
                    max_messages: Some(1),
                    max_bytes: None,
                    max_age_ms: Some(2),
                }),
                create_only: true,
            }
            .into(),
            DeleteTopic { topic: "t".into() }.into(),
            Trim {
                topic: "t".into(),
                topic_id: 4,
                new_start: 5,
            }
            .into(),
            SetClusterId {
                cluster_id: "id".into(),
            }
            .into(),
            AssignNodeId {
                raft_addr: "a:1".into(),
            }
            .into(),
        ],
    }
}

pub(crate) fn every_result() -> Vec<OpResult> {
    vec![
        Published {
            base_offset: 1,
            count: 2,
            duplicate: true,
        }
        .into(),
        OffsetCommitted { offset: 3 }.into(),
        Consumed {
            values: vec!["v".into()],
            next_offset: 4,
        }
        .into(),
        TopicPut { created: true }.into(),
        TopicDeleted { existed: false }.into(),
        Trimmed {
            log_start_offset: 5,
        }
        .into(),
        ClusterIdSet {
            cluster_id: "id".into(),
        }
        .into(),
        NodeIdAssigned { node_id: 6 }.into(),
        OpResult::Error(OpError::TopicNotFound { topic: "t".into() }),
        OpResult::Error(OpError::TopicExists { topic: "t".into() }),
        OpResult::Error(OpError::OffsetOutOfRange {
            offset: 1,
            log_start_offset: 2,
            high_watermark: 3,
        }),
        OpResult::Error(OpError::SequenceTooOld {
            producer_id: "p".into(),
            sequence: 1,
            last: 2,
        }),
    ]
}

/// Bytes written by the encoding before commands became types of their own (8db6018), and
/// before producer epochs (M8).
const EVERY_OP_HEX: &str = "7b68e5cf8b01000008000000000000000000000001000000000000007401000000000000000100000000000000760101000000000000006b0101000000000000000100000000000000680100000000000000780101000000000000007007000000000000000102000000000000006d65010000000100000000000000630100000000000000740300000000000000020000000100000000000000630100000000000000740a0000006300000000000000030000000100000000000000740101010000000000000000010200000000000000010400000001000000000000007405000000010000000000000074040000000000000005000000000000000600000002000000000000006964070000000300000000000000613a31";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn log_entries_encode_as_the_log_on_disk_holds_them() {
    assert_eq!(hex(&bincode::serialize(&every_op()).unwrap()), EVERY_OP_HEX);
    let decoded: Command = bincode::deserialize(&bincode::serialize(&every_op()).unwrap()).unwrap();
    assert_eq!(decoded, every_op());
}

#[test]
fn results_encode_as_peers_expect_them() {
    let expected = "010000000c000000000000000000000001000000000000000200000000000000010100000003000000000000000200000001000000000000000100000000000000760400000000000000030000000104000000000500000005000000000000000600000002000000000000006964070000000600000000000000080000000000000001000000000000007408000000010000000100000000000000740800000002000000010000000000000002000000000000000300000000000000080000000300000001000000000000007001000000000000000200000000000000";
    assert_eq!(
        hex(&bincode::serialize(&Response::Ops(every_result())).unwrap()),
        expected
    );
}

#[test]
fn each_command_takes_only_its_own_reply() {
    let published = OpResult::from(Published {
        base_offset: 1,
        count: 1,
        duplicate: false,
    });
    assert_eq!(
        Publish::reply(published.clone()),
        Ok(Published {
            base_offset: 1,
            count: 1,
            duplicate: false
        })
    );
    assert_eq!(CommitOffset::reply(published.clone()), Err(published));
    let refused: OpResult = Err::<TopicPut, _>(OpError::TopicExists { topic: "t".into() }).into();
    assert_eq!(
        refused,
        OpResult::Error(OpError::TopicExists { topic: "t".into() })
    );
}

/// M8: an entry written before producer epochs decodes, its publish at epoch 0.
#[test]
fn an_entry_from_before_producer_epochs_decodes_at_epoch_0() {
    let decoded: Command = bincode::deserialize(&unhex(EVERY_OP_HEX)).unwrap();
    let Op::Publish(p) = &decoded.ops[0] else {
        panic!("{decoded:?}")
    };
    assert_eq!(p.producer.as_ref().map(|ps| ps.epoch), Some(0));
    assert_eq!(decoded, every_op());
}

/// M8: a publish with an epoch is a variant appended after the others (old variants keep their
/// numbers), and round-trips; without a producer or at epoch 0 it keeps variant 0.
#[test]
fn a_publish_with_an_epoch_is_a_new_variant_and_the_old_ones_keep_their_numbers() {
    let variant = |op: &Op| -> u32 {
        let b = bincode::serialize(op).unwrap();
        u32::from_le_bytes(b[..4].try_into().unwrap())
    };
    let numbers: Vec<u32> = every_op().ops.iter().map(variant).collect();
    assert_eq!(numbers, (0..8).collect::<Vec<u32>>());
    let advance: Op = AdvanceConsumer {
        consumer: "c".into(),
        topic: "t".into(),
        from: 1,
        to: 2,
    }
    .into();
    assert_eq!(variant(&advance), 8);

    let Op::Publish(mut p) = every_op().ops[0].clone() else {
        unreachable!()
    };
    p.producer.as_mut().unwrap().epoch = 3;
    let with_epoch = Op::Publish(p.clone());
    assert_eq!(variant(&with_epoch), 9);
    let bytes = bincode::serialize(&with_epoch).unwrap();
    assert_eq!(bincode::deserialize::<Op>(&bytes).unwrap(), with_epoch);
    p.producer = None;
    assert_eq!(variant(&Op::Publish(p)), 0);
}

/// Issue 16: deleting a named consumer's position is wire variant 10 (after `PublishWithEpoch`),
/// its reply the `OpResult` variant after `ConsumerAdvanced`; the bytes are fixed here so a
/// reordering shows up as a failing test, not as a log that decodes into other commands.
#[test]
fn delete_consumer_is_appended_after_every_older_variant_and_round_trips() {
    let op: Op = DeleteConsumer {
        consumer: "c".into(),
        topic: "t".into(),
    }
    .into();
    let bytes = bincode::serialize(&op).unwrap();
    assert_eq!(hex(&bytes), "0a000000010000000000000063010000000000000074");
    assert_eq!(bincode::deserialize::<Op>(&bytes).unwrap(), op);

    let reply: OpResult = ConsumerDeleted { existed: true }.into();
    let bytes = bincode::serialize(&reply).unwrap();
    assert_eq!(hex(&bytes), "0a00000001");
    assert_eq!(bincode::deserialize::<OpResult>(&bytes).unwrap(), reply);
    assert_eq!(
        DeleteConsumer::reply(reply.clone()),
        Ok(ConsumerDeleted { existed: true })
    );
    assert_eq!(CommitOffset::reply(reply.clone()), Err(reply));
}

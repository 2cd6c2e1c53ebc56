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
                partition: 0,
                kafka: None,
            }),
            CommitOffset {
                consumer: "c".into(),
                topic: "t".into(),
                offset: 3,
                partition: 0,
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
                partitions: None,
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
        partition: 0,
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

/// Issue 16: the group commands are variants appended after `DeleteConsumer` (old entries keep
/// their numbers and decode as before), and round-trip with their results.
#[test]
fn group_commands_are_appended_variants_and_round_trip() {
    let variant = |op: &Op| -> u32 {
        let b = bincode::serialize(op).unwrap();
        u32::from_le_bytes(b[..4].try_into().unwrap())
    };
    let (topic, group) = (String::from("t"), String::from("g"));
    let refs = vec![MessageRef {
        partition: 0,
        offset: 4,
    }];
    let ops: Vec<Op> = vec![
        ConfigureGroup {
            topic: topic.clone(),
            group: group.clone(),
            config: GroupConfig {
                ack_wait_ms: 1,
                max_deliveries: 2,
                dead_letter_topic: Some("d".into()),
            },
            start: GroupStart::Offset(3),
        }
        .into(),
        LeaseMessages {
            topic: topic.clone(),
            group: group.clone(),
            max: 5,
        }
        .into(),
        AckMessages {
            topic: topic.clone(),
            group: group.clone(),
            messages: refs.clone(),
        }
        .into(),
        NackMessages {
            topic: topic.clone(),
            group: group.clone(),
            messages: refs,
            delay_ms: 6,
        }
        .into(),
        DeleteGroup { topic, group }.into(),
    ];
    assert_eq!(
        ops.iter().map(variant).collect::<Vec<_>>(),
        (11..16).collect::<Vec<u32>>()
    );
    let entry = Command { ts_ms: 1, ops };
    let bytes = bincode::serialize(&entry).unwrap();
    assert_eq!(bincode::deserialize::<Command>(&bytes).unwrap(), entry);

    let results: Vec<OpResult> = vec![
        GroupConfigured { created: true }.into(),
        Leased {
            leases: vec![Lease {
                partition: 0,
                offset: 1,
                delivery: 2,
            }],
            deadline_ms: 3,
        }
        .into(),
        Acked { count: 1 }.into(),
        Nacked { count: 1 }.into(),
        GroupDeleted { existed: true }.into(),
        OpResult::Error(OpError::GroupNotFound {
            topic: "t".into(),
            group: "g".into(),
        }),
    ];
    let bytes = bincode::serialize(&Response::Ops(results.clone())).unwrap();
    assert_eq!(
        bytes[12..16],
        [11, 0, 0, 0],
        "GroupConfigured follows ConsumerDeleted"
    );
    assert_eq!(
        bincode::deserialize::<Response>(&bytes).unwrap(),
        Response::Ops(results)
    );
    // Entries from before groups still decode unchanged.
    let old: Command = bincode::deserialize(&unhex(EVERY_OP_HEX)).unwrap();
    assert_eq!(old, every_op());
}

/// Issue 15: a partition other than 0 (and a partition count) are variants appended after the
/// group commands, carrying the partition before the unchanged struct; partition 0 keeps the old
/// variants and bytes, so entries written before partitions decode as partition 0.
#[test]
fn partitioned_ops_are_appended_variants_and_partition_0_keeps_the_old_bytes() {
    let variant = |op: &Op| -> u32 {
        let b = bincode::serialize(op).unwrap();
        u32::from_le_bytes(b[..4].try_into().unwrap())
    };
    let ops = every_op().ops;
    let Op::Publish(mut p) = ops[0].clone() else {
        unreachable!()
    };
    let Op::CommitOffset(mut c) = ops[1].clone() else {
        unreachable!()
    };
    let Op::PutTopic(mut t) = ops[3].clone() else {
        unreachable!()
    };
    let mut a = AdvanceConsumer {
        consumer: "c".into(),
        topic: "t".into(),
        from: 1,
        to: 2,
        partition: 0,
    };
    let old: Vec<Vec<u8>> = [
        Op::Publish(p.clone()),
        c.clone().into(),
        t.clone().into(),
        a.clone().into(),
    ]
    .iter()
    .map(|op| bincode::serialize(op).unwrap())
    .collect();
    p.partition = 2;
    c.partition = 3;
    t.partitions = Some(4);
    a.partition = 5;
    let new = [Op::Publish(p.clone()), c.into(), t.into(), a.into()];
    assert_eq!(
        new.iter().map(variant).collect::<Vec<_>>(),
        vec![16, 18, 17, 19]
    );
    for (i, (op, old)) in new.iter().zip(&old).enumerate() {
        let bytes = bincode::serialize(op).unwrap();
        assert_eq!(&bincode::deserialize::<Op>(&bytes).unwrap(), op);
        // The partition (4 bytes) then the struct as its old variant encoded it (a publish: in
        // the layout with the epoch, `PublishWithEpoch`'s).
        if i > 0 {
            assert_eq!(&bytes[8..], &old[4..], "{op:?}");
        }
    }
    // With an epoch too: the partition variant keeps the epoch.
    p.producer.as_mut().unwrap().epoch = 9;
    let op = Op::Publish(p);
    assert_eq!(variant(&op), 16);
    assert_eq!(
        bincode::deserialize::<Op>(&bincode::serialize(&op).unwrap()).unwrap(),
        op
    );
    // Old entries: partition 0, no count.
    let decoded: Command = bincode::deserialize(&unhex(EVERY_OP_HEX)).unwrap();
    let Op::PutTopic(t) = &decoded.ops[3] else {
        unreachable!()
    };
    assert_eq!(t.partitions, None);
    let Op::Publish(p) = &decoded.ops[0] else {
        unreachable!()
    };
    assert_eq!(p.partition, 0);
}

/// Issue 15 stage 3: a publish from the Kafka listener is wire variant 20 whatever its partition
/// or epoch (carrying its records' timestamps), producer ids variant 21; both round-trip.
#[test]
fn kafka_publishes_and_producer_ids_are_appended_variants_and_round_trip() {
    let variant = |op: &Op| -> u32 {
        let b = bincode::serialize(op).unwrap();
        u32::from_le_bytes(b[..4].try_into().unwrap())
    };
    for (partition, epoch) in [(0, 0), (3, 0), (0, 2), (1, 1)] {
        let op = Op::Publish(Publish {
            topic: "t".into(),
            messages: vec![NewMessage::new("v")],
            producer: Some(ProducerSeq::scoped(None, "kafka-1".into(), epoch, 4)),
            publisher: None,
            partition,
            kafka: Some(super::KafkaPublish {
                timestamps: vec![42],
            }),
        });
        assert_eq!(variant(&op), 20);
        let bytes = bincode::serialize(&op).unwrap();
        assert_eq!(bincode::deserialize::<Op>(&bytes).unwrap(), op);
    }
    let op: Op = super::AllocateProducerId.into();
    assert_eq!(variant(&op), 21);
    assert_eq!(
        bincode::deserialize::<Op>(&bincode::serialize(&op).unwrap()).unwrap(),
        op
    );
    let reply: OpResult = super::ProducerIdAllocated { producer_id: 7 }.into();
    assert_eq!(
        bincode::deserialize::<OpResult>(&bincode::serialize(&reply).unwrap()).unwrap(),
        reply
    );
}

/// Issue 18: a message's value is `Bytes` now. It encodes exactly as the `String` of entries
/// written before binary values (8db6018) and the `serde_bytes` `Vec<u8>` after them (fa61cc4):
/// entries in the log before an upgrade decode, and nodes of both versions read each other's.
#[test]
fn values_as_bytes_keep_the_encoding_of_text_and_byte_vector_values() {
    use std::collections::BTreeMap;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct TextValue {
        value: String,
        key: Option<String>,
        headers: Option<BTreeMap<String, String>>,
    }
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct VecValue {
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
        key: Option<String>,
        headers: Option<BTreeMap<String, String>>,
    }
    let headers = Some(BTreeMap::from([("h".to_string(), "x".to_string())]));
    for text in ["", "v", "h\u{e9}llo \u{2713}", &"x".repeat(300)] {
        let old = TextValue {
            value: text.into(),
            key: Some("k".into()),
            headers: headers.clone(),
        };
        let new = NewMessage {
            value: bytes::Bytes::copy_from_slice(text.as_bytes()).into(),
            key: Some("k".into()),
            headers: headers.clone(),
        };
        let old_bytes = bincode::serialize(&old).unwrap();
        assert_eq!(bincode::serialize(&new).unwrap(), old_bytes, "{text:?}");
        assert_eq!(bincode::deserialize::<NewMessage>(&old_bytes).unwrap(), new);
        assert_eq!(
            bincode::deserialize::<TextValue>(&bincode::serialize(&new).unwrap()).unwrap(),
            old
        );
    }
    // Binary values (not UTF-8): as the byte vector of the previous version, both ways, and not
    // checked for UTF-8 when decoded.
    for value in [vec![0xff, 0x00, 0xc3], vec![0x80; 70], Vec::new()] {
        let old = VecValue {
            value: value.clone(),
            key: None,
            headers: None,
        };
        let new = NewMessage::new(value.clone());
        let old_bytes = bincode::serialize(&old).unwrap();
        assert_eq!(bincode::serialize(&new).unwrap(), old_bytes);
        assert_eq!(bincode::deserialize::<NewMessage>(&old_bytes).unwrap(), new);
        assert_eq!(
            bincode::deserialize::<VecValue>(&bincode::serialize(&new).unwrap()).unwrap(),
            old
        );
    }
    // A whole entry in every publish variant: what the previous version wrote decodes.
    let decoded: Command = bincode::deserialize(&unhex(EVERY_OP_HEX)).unwrap();
    assert_eq!(decoded, every_op());
    for (partition, epoch, kafka) in [(0, 0, false), (2, 0, false), (0, 3, false), (1, 1, true)] {
        let op = Op::Publish(Publish {
            topic: "t".into(),
            messages: vec![NewMessage::new(vec![0xfe, b'a']), NewMessage::new("text")],
            producer: Some(ProducerSeq::scoped(None, "p".into(), epoch, 4)),
            publisher: Some("me".into()),
            partition,
            kafka: kafka.then(|| KafkaPublish {
                timestamps: vec![1, 2],
            }),
        });
        let bytes = bincode::serialize(&op).unwrap();
        assert_eq!(bincode::deserialize::<Op>(&bytes).unwrap(), op);
    }
}

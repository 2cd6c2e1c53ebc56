//! Handler tests: each API over a real socket against the in-memory backend.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;
use kafka_protocol::ResponseError as E;

use super::test_support::*;
use super::{group_id, str_bytes, topic_name};
use crate::kafka::backend::{KafkaBackend, NewTopic, Principal, Retention};
use crate::kafka::KafkaConfig;

fn code(e: E) -> i16 {
    e.code()
}

async fn topic(h: &Harness, name: &str, partitions: u32) {
    h.backend
        .create_topic(NewTopic {
            name: name.into(),
            partitions,
            retention: Retention::default(),
        })
        .await
        .unwrap();
}

fn produce_req(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records)),
            ])])
}

fn first_partition(r: &ProduceResponse) -> &produce_response::PartitionProduceResponse {
    &r.responses[0].partition_responses[0]
}

fn fetch_req(
    topic: &str,
    partition: i32,
    offset: i64,
    wait_ms: i32,
    min_bytes: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])])
}

#[tokio::test]
async fn api_versions_advertises_the_table_and_answers_newer_versions_with_it() {
    let h = Harness::start(KafkaConfig::default(), None).await;
    let mut c = h.client().await;
    for v in [0, 3] {
        let r = c
            .call(
                &ApiVersionsRequest::default()
                    .with_client_software_name(str_bytes("t"))
                    .with_client_software_version(str_bytes("1")),
                v,
            )
            .await;
        assert_eq!(r.error_code, 0);
        assert_eq!(r.api_keys.len(), crate::kafka::versions::SUPPORTED.len());
        let produce = r
            .api_keys
            .iter()
            .find(|k| k.api_key == ApiKey::Produce as i16)
            .unwrap();
        assert_eq!((produce.min_version, produce.max_version), (3, 9));
    }
    // KIP-511: ApiVersions v9 is answered (as v0) with UNSUPPORTED_VERSION and the table.
    let mut raw = vec![0, 18, 0, 9, 0, 0, 0, 42, 0xff, 0xff, 0];
    raw.extend_from_slice(&[0, 0]);
    c.send_raw(&raw).await;
    let mut frame = c.read_frame().await.unwrap();
    let header = ResponseHeader::decode(&mut frame, 0).unwrap();
    assert_eq!(header.correlation_id, 42);
    let r = ApiVersionsResponse::decode(&mut frame, 0).unwrap();
    assert_eq!(r.error_code, code(E::UnsupportedVersion));
    assert!(!r.api_keys.is_empty());
}

use kafka_protocol::protocol::Decodable;

#[tokio::test]
async fn metadata_names_the_leader_and_creates_topics_only_when_allowed() {
    let h = Harness::start(KafkaConfig::default(), None).await;
    topic(&h, "orders", 3).await;
    let mut c = h.client().await;
    let all = c
        .call(&MetadataRequest::default().with_topics(None), 12)
        .await;
    assert_eq!(all.brokers.len(), 1);
    assert_eq!(all.brokers[0].port, i32::from(h.addr.port()));
    assert_eq!(all.controller_id.0, 1);
    let t = &all.topics[0];
    assert_eq!(
        (t.name.as_ref().unwrap().as_str(), t.partitions.len()),
        ("orders", 3)
    );
    assert!(t
        .partitions
        .iter()
        .all(|p| p.leader_id.0 == 1 && p.error_code == 0 && p.isr_nodes.len() == 1));

    let ask = |name: &str, auto: bool| {
        MetadataRequest::default()
            .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
            )
            .with_name(Some(topic_name(name)))]))
            .with_allow_auto_topic_creation(auto)
    };
    let r = c.call(&ask("nope", false), 9).await;
    assert_eq!(r.topics[0].error_code, code(E::UnknownTopicOrPartition));
    assert!(h.backend.topic("nope").is_none());
    let r = c.call(&ask("auto", true), 9).await;
    assert_eq!(
        (r.topics[0].error_code, r.topics[0].partitions.len()),
        (0, 1)
    );
    assert!(h.backend.topic("auto").is_some());
    // v0: an empty list means every topic.
    let r = c
        .call(&MetadataRequest::default().with_topics(Some(vec![])), 0)
        .await;
    assert_eq!(r.topics.len(), 2);
}

#[tokio::test]
async fn produce_in_every_codec_then_fetch_returns_the_records() {
    let h = Harness::start(KafkaConfig::default(), None).await;
    topic(&h, "t", 1).await;
    let mut c = h.client().await;
    let mut next = 0;
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let r = c
            .call(
                &produce_req("t", 0, batch(&[("k1", "a"), ("", "b")], codec, None), -1),
                9,
            )
            .await;
        let p = first_partition(&r);
        assert_eq!((p.error_code, p.base_offset), (0, next), "{codec:?}");
        next += 2;
    }
    let r = c.call(&fetch_req("t", 0, 0, 0, 0), 12).await;
    let p = &r.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 10));
    let got = fetched(&p.records);
    assert_eq!(got.len(), 10);
    assert_eq!(got[0], (0, "k1".into(), "a".into()));
    assert_eq!(got[9], (9, String::new(), "b".into()));
    let stored = h.backend.fetch("t", 0, 0, 1 << 20).await.unwrap();
    assert_eq!(
        stored.records[0].headers,
        vec![("origin".to_string(), Some(Bytes::from_static(b"unit")))]
    );
    // Older Fetch and Produce versions negotiate too.
    let r = c
        .call(
            &produce_req("t", 0, batch(&[("", "c")], Compression::None, None), 1),
            3,
        )
        .await;
    assert_eq!(first_partition(&r).base_offset, 10);
    let r = c.call(&fetch_req("t", 0, 10, 0, 0), 4).await;
    assert_eq!(
        fetched(&r.responses[0].partitions[0].records),
        vec![(10, String::new(), "c".into())]
    );
}

#[tokio::test]
async fn produce_errors_are_kafka_codes_per_partition() {
    let h = Harness::start(KafkaConfig::default(), None).await;
    topic(&h, "t", 1).await;
    let mut c = h.client().await;
    let r = c
        .call(
            &produce_req(
                "missing",
                0,
                batch(&[("", "x")], Compression::None, None),
                1,
            ),
            9,
        )
        .await;
    assert_eq!(
        first_partition(&r).error_code,
        code(E::UnknownTopicOrPartition)
    );
    let r = c
        .call(
            &produce_req("t", 7, batch(&[("", "x")], Compression::None, None), 1),
            9,
        )
        .await;
    assert_eq!(
        first_partition(&r).error_code,
        code(E::UnknownTopicOrPartition)
    );
    let mut corrupt = batch(&[("", "x")], Compression::None, None).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let r = c
        .call(&produce_req("t", 0, Bytes::from(corrupt), 1), 9)
        .await;
    assert_eq!(first_partition(&r).error_code, code(E::CorruptMessage));
    let r = c
        .call(
            &produce_req("t", 0, batch(&[("", "x")], Compression::None, None), 1)
                .with_transactional_id(Some(TransactionalId(str_bytes("tx")))),
            9,
        )
        .await;
    assert_eq!(
        first_partition(&r).error_code,
        code(E::TransactionalIdAuthorizationFailed)
    );
    assert_eq!(
        h.backend
            .fetch("t", 0, 0, 100)
            .await
            .unwrap()
            .high_watermark,
        0,
        "nothing was stored"
    );
}

#[tokio::test]
async fn acks_zero_is_not_answered_and_a_failed_one_closes_the_connection() {
    let h = Harness::start(KafkaConfig::default(), None).await;
    topic(&h, "t", 1).await;
    let mut c = h.client().await;
    c.send(
        &produce_req("t", 0, batch(&[("", "fire")], Compression::None, None), 0),
        9,
    )
    .await;
    // The next answer on the connection is the metadata's: the produce got none.
    let r = c
        .call(&MetadataRequest::default().with_topics(None), 9)
        .await;
    assert_eq!(r.topics.len(), 1);
    assert_eq!(
        h.backend.fetch("t", 0, 0, 100).await.unwrap().records.len(),
        1
    );
    c.send(
        &produce_req(
            "missing",
            0,
            batch(&[("", "fire")], Compression::None, None),
            0,
        ),
        9,
    )
    .await;
    assert!(c.closed().await);
}

#[tokio::test]
async fn fetch_long_polls_until_data_arrives_and_times_out_without() {
    let h = Harness::start(KafkaConfig::default(), None).await;
    topic(&h, "t", 1).await;
    let mut c = h.client().await;
    let t0 = Instant::now();
    let r = c.call(&fetch_req("t", 0, 0, 200, 1), 12).await;
    assert!(
        t0.elapsed() >= Duration::from_millis(190),
        "waited max_wait_ms for data"
    );
    assert!(fetched(&r.responses[0].partitions[0].records).is_empty());

    c.send(&fetch_req("t", 0, 0, 15_000, 1), 12).await;
    let mut p = h.client().await;
    tokio::time::sleep(Duration::from_millis(100)).await; // let the fetch park (its wake-up is what is tested)
    let t1 = Instant::now();
    p.call(
        &produce_req("t", 0, batch(&[("", "wake")], Compression::None, None), 1),
        9,
    )
    .await;
    let r = c.receive::<FetchRequest>(12).await.unwrap();
    assert!(
        t1.elapsed() < Duration::from_secs(10),
        "woken by the append, not by max_wait_ms"
    );
    assert_eq!(
        fetched(&r.responses[0].partitions[0].records),
        vec![(0, String::new(), "wake".into())]
    );
    let r = c.call(&fetch_req("t", 0, 5, 0, 0), 12).await;
    assert_eq!(
        r.responses[0].partitions[0].error_code,
        code(E::OffsetOutOfRange)
    );
}

#[tokio::test]
async fn list_offsets_finds_earliest_latest_and_by_time() {
    let h = Harness::start(KafkaConfig::default(), None).await;
    topic(&h, "t", 1).await;
    let mut c = h.client().await;
    c.call(
        &produce_req(
            "t",
            0,
            batch(&[("", "a"), ("", "b"), ("", "c")], Compression::None, None),
            1,
        ),
        9,
    )
    .await;
    let ask = |ts: i64| {
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(ts),
                ])])
    };
    let at = |r: &ListOffsetsResponse| {
        (
            r.topics[0].partitions[0].error_code,
            r.topics[0].partitions[0].offset,
        )
    };
    assert_eq!(at(&c.call(&ask(-2), 6).await), (0, 0));
    assert_eq!(at(&c.call(&ask(-1), 6).await), (0, 3));
    let by_time = c.call(&ask(1_700_000_000_001), 6).await;
    assert_eq!(at(&by_time), (0, 1));
    assert_eq!(by_time.topics[0].partitions[0].timestamp, 1_700_000_000_001);
    assert_eq!(at(&c.call(&ask(1_800_000_000_000), 1).await), (0, -1));
}

#[tokio::test]
async fn idempotent_retries_are_stored_once_and_sequence_gaps_refused() {
    let h = Harness::start(KafkaConfig::default(), None).await;
    topic(&h, "t", 1).await;
    let mut c = h.client().await;
    let init = c
        .call(
            &InitProducerIdRequest::default()
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
            4,
        )
        .await;
    assert_eq!((init.error_code, init.producer_epoch), (0, 0));
    let pid = init.producer_id.0;
    let send = |seq: i32, epoch: i16| {
        produce_req(
            "t",
            0,
            batch(
                &[("", "x"), ("", "y")],
                Compression::Lz4,
                Some((pid, epoch, seq)),
            ),
            -1,
        )
    };
    let first = c.call(&send(0, 0), 9).await;
    let retry = c.call(&send(0, 0), 9).await;
    assert_eq!(first_partition(&first).base_offset, 0);
    assert_eq!(
        (
            first_partition(&retry).error_code,
            first_partition(&retry).base_offset
        ),
        (0, 0),
        "a retry gets the first answer"
    );
    assert_eq!(
        first_partition(&c.call(&send(2, 0), 9).await).base_offset,
        2
    );
    assert_eq!(
        first_partition(&c.call(&send(9, 0), 9).await).error_code,
        code(E::OutOfOrderSequenceNumber)
    );
    assert_eq!(
        first_partition(&c.call(&send(3, 1), 9).await).error_code,
        code(E::OutOfOrderSequenceNumber),
        "a new epoch starts at 0"
    );
    assert_eq!(
        first_partition(&c.call(&send(0, 1), 9).await).base_offset,
        4
    );
    assert_eq!(
        first_partition(&c.call(&send(4, 0), 9).await).error_code,
        code(E::InvalidProducerEpoch),
        "a fenced epoch"
    );
    assert_eq!(
        h.backend
            .fetch("t", 0, 0, 1 << 20)
            .await
            .unwrap()
            .high_watermark,
        6,
        "no duplicate, no gap"
    );
    let other = c
        .call(
            &InitProducerIdRequest::default()
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
            0,
        )
        .await;
    assert_ne!(
        other.producer_id.0, pid,
        "producer ids are never handed out twice"
    );
}

#[tokio::test]
async fn transactions_are_refused_with_kafkas_code_not_a_hang() {
    let h = Harness::start(KafkaConfig::default(), None).await;
    let mut c = h.client().await;
    let r = c
        .call(
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(str_bytes("tx"))))
                .with_transaction_timeout_ms(1000),
            4,
        )
        .await;
    assert_eq!(r.error_code, code(E::TransactionalIdAuthorizationFailed));
    // The transaction coordinator is found (the leader), so clients reach InitProducerId's refusal
    // instead of retrying the lookup.
    let r = c
        .call(
            &FindCoordinatorRequest::default()
                .with_key(str_bytes("tx"))
                .with_key_type(1),
            3,
        )
        .await;
    assert_eq!((r.error_code, r.node_id.0), (0, 1));
    let r = c
        .call(
            &FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![str_bytes("tx")]),
            4,
        )
        .await;
    assert_eq!(
        (r.coordinators[0].error_code, r.coordinators[0].node_id.0),
        (0, 1)
    );
}

fn join_req(member: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(group_id("g"))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(str_bytes(member))
        .with_protocol_type(str_bytes("consumer"))
        .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
        )
        .with_name(str_bytes("range"))
        .with_metadata(Bytes::from_static(b"sub"))])
}

#[tokio::test]
async fn a_group_forms_commits_offsets_and_lists_itself() {
    let h = Harness::start(fast_config(), None).await;
    topic(&h, "t", 2).await;
    let mut c = h.client().await;
    let found = c
        .call(
            &FindCoordinatorRequest::default().with_key(str_bytes("g")),
            3,
        )
        .await;
    assert_eq!(
        (found.error_code, found.node_id.0, found.port),
        (0, 1, i32::from(h.addr.port()))
    );

    let first = c.call(&join_req(""), 9).await;
    assert_eq!(first.error_code, code(E::MemberIdRequired));
    let joined = c.call(&join_req(first.member_id.as_str()), 9).await;
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    assert_eq!(joined.leader, joined.member_id);
    assert_eq!(joined.members.len(), 1);
    let me = joined.member_id.clone();
    let sync = c
        .call(
            &SyncGroupRequest::default()
                .with_group_id(group_id("g"))
                .with_generation_id(1)
                .with_member_id(me.clone())
                .with_assignments(vec![
                    sync_group_request::SyncGroupRequestAssignment::default()
                        .with_member_id(me.clone())
                        .with_assignment(Bytes::from_static(b"both partitions")),
                ]),
            5,
        )
        .await;
    assert_eq!(
        (sync.error_code, &sync.assignment[..]),
        (0, &b"both partitions"[..])
    );
    let hb = c
        .call(
            &HeartbeatRequest::default()
                .with_group_id(group_id("g"))
                .with_generation_id(1)
                .with_member_id(me.clone()),
            4,
        )
        .await;
    assert_eq!(hb.error_code, 0);

    let commit = OffsetCommitRequest::default()
        .with_group_id(group_id("g"))
        .with_generation_id_or_member_epoch(1)
        .with_member_id(me.clone())
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(1)
                        .with_committed_offset(17)
                        .with_committed_metadata(Some(str_bytes("m"))),
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(9)
                        .with_committed_offset(1),
                ]),
        ]);
    let r = c.call(&commit, 8).await;
    assert_eq!(
        r.topics[0]
            .partitions
            .iter()
            .map(|p| p.error_code)
            .collect::<Vec<_>>(),
        vec![0, code(E::UnknownTopicOrPartition)]
    );
    let stale = c
        .call(&commit.clone().with_generation_id_or_member_epoch(0), 8)
        .await;
    assert_eq!(
        stale.topics[0].partitions[0].error_code,
        code(E::IllegalGeneration)
    );

    let fetch = c
        .call(
            &OffsetFetchRequest::default()
                .with_group_id(group_id("g"))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(topic_name("t"))
                        .with_partition_indexes(vec![0, 1]),
                ])),
            7,
        )
        .await;
    let offs: Vec<_> = fetch.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    assert_eq!(offs, vec![(0, -1), (1, 17)]);
    let v8 = c
        .call(
            &OffsetFetchRequest::default().with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(group_id("g"))
                    .with_topics(None),
            ]),
            8,
        )
        .await;
    assert_eq!(v8.groups[0].topics[0].partitions[0].committed_offset, 17);

    let listed = c.call(&ListGroupsRequest::default(), 4).await;
    assert_eq!(
        listed
            .groups
            .iter()
            .map(|g| (g.group_id.as_str(), g.group_state.as_str()))
            .collect::<Vec<_>>(),
        vec![("g", "Stable")]
    );
    let described = c
        .call(
            &DescribeGroupsRequest::default().with_groups(vec![group_id("g"), group_id("none")]),
            5,
        )
        .await;
    assert_eq!(described.groups[0].members.len(), 1);
    assert_eq!(
        &described.groups[0].members[0].member_assignment[..],
        b"both partitions"
    );
    assert_eq!(described.groups[1].group_state.as_str(), "Dead");

    let left = c
        .call(
            &LeaveGroupRequest::default()
                .with_group_id(group_id("g"))
                .with_members(vec![
                    leave_group_request::MemberIdentity::default().with_member_id(me.clone())
                ]),
            5,
        )
        .await;
    assert_eq!((left.error_code, left.members[0].error_code), (0, 0));
    let hb = c
        .call(
            &HeartbeatRequest::default()
                .with_group_id(group_id("g"))
                .with_generation_id(1)
                .with_member_id(me),
            4,
        )
        .await;
    assert_eq!(hb.error_code, code(E::UnknownMemberId));
    // Committed offsets outlive the members: the group is listed as Empty.
    let listed = c.call(&ListGroupsRequest::default(), 4).await;
    assert_eq!(listed.groups[0].group_state.as_str(), "Empty");
}

#[tokio::test]
async fn after_the_leader_moves_clients_are_told_not_coordinator_and_where_to_go() {
    let h = Harness::start(fast_config(), None).await;
    let mut c = h.client().await;
    let first = c.call(&join_req(""), 9).await;
    let joined = c.call(&join_req(first.member_id.as_str()), 9).await;
    assert_eq!(joined.error_code, 0);
    h.backend.set_cluster(|v| {
        v.brokers.push(crate::kafka::backend::BrokerInfo {
            id: 2,
            host: "127.0.0.2".into(),
            port: 9093,
            rack: None,
        });
        v.leader = Some(2);
        v.leader_epoch = 2;
    });
    let hb = c
        .call(
            &HeartbeatRequest::default()
                .with_group_id(group_id("g"))
                .with_generation_id(1)
                .with_member_id(joined.member_id.clone()),
            4,
        )
        .await;
    assert_eq!(hb.error_code, code(E::NotCoordinator));
    let found = c
        .call(
            &FindCoordinatorRequest::default().with_key(str_bytes("g")),
            3,
        )
        .await;
    assert_eq!((found.node_id.0, found.host.as_str()), (2, "127.0.0.2"));
    let md = c
        .call(&MetadataRequest::default().with_topics(None), 12)
        .await;
    assert_eq!(md.controller_id.0, 2);
    // Back as leader in a new term: the old membership is gone, clients rejoin.
    h.backend.set_cluster(|v| {
        v.leader = Some(1);
        v.leader_epoch = 3;
    });
    let hb = c
        .call(
            &HeartbeatRequest::default()
                .with_group_id(group_id("g"))
                .with_generation_id(1)
                .with_member_id(joined.member_id),
            4,
        )
        .await;
    assert_eq!(hb.error_code, code(E::UnknownMemberId));
}

#[tokio::test]
async fn a_member_waiting_in_join_is_answered_not_coordinator_when_leadership_is_lost() {
    let mut config = fast_config();
    config.groups.initial_rebalance_delay = Duration::from_secs(60);
    let h = Harness::start(config, None).await;
    let mut c = h.client().await;
    let first = c.call(&join_req(""), 9).await;
    c.send(&join_req(first.member_id.as_str()), 9).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.backend.set_cluster(|v| v.leader = None);
    let r = c.receive::<JoinGroupRequest>(9).await.unwrap();
    assert_eq!(r.error_code, code(E::NotCoordinator));
}

fn tokens() -> Option<Vec<(String, Principal)>> {
    Some(vec![
        (
            "s3cret".into(),
            Principal {
                name: "app".into(),
                publish: true,
                consume: true,
                admin: false,
            },
        ),
        (
            "reader".into(),
            Principal {
                name: "ro".into(),
                publish: false,
                consume: true,
                admin: false,
            },
        ),
    ])
}

async fn authenticate(c: &mut Client, token: &str) -> SaslAuthenticateResponse {
    let hs = c
        .call(
            &SaslHandshakeRequest::default().with_mechanism(str_bytes("PLAIN")),
            1,
        )
        .await;
    assert_eq!((hs.error_code, hs.mechanisms.len()), (0, 1));
    c.call(
        &SaslAuthenticateRequest::default()
            .with_auth_bytes(Bytes::from(format!("\0user\0{token}"))),
        2,
    )
    .await
}

/// SaslHandshake v0 for PLAIN, then the raw token in a bare frame (librdkafka before 2.10).
async fn handshake_v0_then_raw(c: &mut Client, raw: &[u8]) {
    let hs = c
        .call(
            &SaslHandshakeRequest::default().with_mechanism(str_bytes("PLAIN")),
            0,
        )
        .await;
    assert_eq!(hs.error_code, 0);
    c.send_raw(raw).await;
}

#[tokio::test]
async fn sasl_plain_admits_tokens_and_closes_on_anything_else() {
    let h = Harness::start(KafkaConfig::default(), tokens()).await;
    topic(&h, "t", 1).await;
    let mut c = h.client().await;
    c.send(&MetadataRequest::default().with_topics(None), 9)
        .await;
    assert!(c.closed().await, "no request before authentication");

    let mut c = h.client().await;
    assert_eq!(authenticate(&mut c, "s3cret").await.error_code, 0);
    let r = c
        .call(
            &produce_req("t", 0, batch(&[("", "x")], Compression::None, None), 1),
            9,
        )
        .await;
    assert_eq!(first_partition(&r).error_code, 0);
    let stored = h.backend.fetch("t", 0, 0, 100).await.unwrap();
    assert_eq!(stored.records.len(), 1);

    let mut ro = h.client().await;
    assert_eq!(authenticate(&mut ro, "reader").await.error_code, 0);
    let r = ro
        .call(
            &produce_req("t", 0, batch(&[("", "x")], Compression::None, None), 1),
            9,
        )
        .await;
    assert_eq!(
        first_partition(&r).error_code,
        code(E::TopicAuthorizationFailed)
    );
    let r = ro
        .call(
            &CreateTopicsRequest::default().with_topics(vec![
                create_topics_request::CreatableTopic::default()
                    .with_name(topic_name("n"))
                    .with_num_partitions(1)
                    .with_replication_factor(-1),
            ]),
            5,
        )
        .await;
    assert_eq!(r.topics[0].error_code, code(E::TopicAuthorizationFailed));

    let mut bad = h.client().await;
    let r = authenticate(&mut bad, "wrong").await;
    assert_eq!(r.error_code, code(E::SaslAuthenticationFailed));
    assert!(bad.closed().await);

    let mut scram = h.client().await;
    let hs = scram
        .call(
            &SaslHandshakeRequest::default().with_mechanism(str_bytes("SCRAM-SHA-256")),
            1,
        )
        .await;
    assert_eq!(hs.error_code, code(E::UnsupportedSaslMechanism));
}

#[tokio::test]
async fn sasl_handshake_v0_takes_the_raw_token_in_a_bare_frame() {
    // librdkafka before 2.10 (Debian's kcat) does SASL only with a broker that lists v0.
    let h = Harness::start(KafkaConfig::default(), tokens()).await;
    topic(&h, "t", 1).await;
    let mut c = h.client().await;
    handshake_v0_then_raw(&mut c, b"\0user\0s3cret").await;
    let answer = c.read_frame().await.expect("an answer to the raw token");
    assert!(answer.is_empty(), "success is an empty frame: {answer:?}");
    let meta = c
        .call(&MetadataRequest::default().with_topics(None), 9)
        .await;
    assert_eq!(meta.topics.len(), 1, "authenticated: requests are served");

    let mut bad = h.client().await;
    handshake_v0_then_raw(&mut bad, b"\0user\0wrong").await;
    assert!(
        bad.closed().await,
        "a wrong raw token closes the connection"
    );
}

#[tokio::test]
async fn a_raw_sasl_token_shorter_than_a_request_header_is_still_a_token() {
    // `\0u\0k1` is 5 bytes: less than a Kafka request header, which must not matter after v0.
    let short = Principal {
        name: "app".into(),
        publish: true,
        consume: true,
        admin: false,
    };
    let h = Harness::start(KafkaConfig::default(), Some(vec![("k1".into(), short)])).await;
    topic(&h, "t", 1).await;
    let mut c = h.client().await;
    handshake_v0_then_raw(&mut c, b"\0u\0k1").await;
    let answer = c.read_frame().await.expect("an answer to the short token");
    assert!(answer.is_empty(), "success is an empty frame: {answer:?}");
    let meta = c
        .call(&MetadataRequest::default().with_topics(None), 9)
        .await;
    assert_eq!(meta.topics.len(), 1, "authenticated: requests are served");
}

#[tokio::test]
async fn topic_admin_creates_raises_describes_and_deletes() {
    let h = Harness::start(KafkaConfig::default(), None).await;
    let mut c = h.client().await;
    let create = |name: &str, partitions: i32, configs: Vec<(&str, &str)>| {
        CreateTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![create_topics_request::CreatableTopic::default()
                .with_name(topic_name(name))
                .with_num_partitions(partitions)
                .with_replication_factor(1)
                .with_configs(
                    configs
                        .into_iter()
                        .map(|(k, v)| {
                            create_topics_request::CreatableTopicConfig::default()
                                .with_name(str_bytes(k))
                                .with_value(Some(str_bytes(v)))
                        })
                        .collect(),
                )])
    };
    let r = c
        .call(&create("events", 3, vec![("retention.ms", "60000")]), 7)
        .await;
    assert_eq!((r.topics[0].error_code, r.topics[0].num_partitions), (0, 3));
    assert_eq!(
        h.backend.topic("events").unwrap().retention.max_age_ms,
        Some(60_000)
    );
    assert_eq!(
        c.call(&create("events", 3, vec![]), 7).await.topics[0].error_code,
        code(E::TopicAlreadyExists)
    );
    assert_eq!(
        c.call(&create("x", 1, vec![("cleanup.policy", "compact")]), 7)
            .await
            .topics[0]
            .error_code,
        code(E::InvalidConfig)
    );
    assert_eq!(
        c.call(&create("x", 0, vec![]), 2).await.topics[0].error_code,
        code(E::InvalidPartitions)
    );
    assert_eq!(
        c.call(&create("bad name!", 1, vec![]), 7).await.topics[0].error_code,
        code(E::InvalidTopicException)
    );

    let raise = |n: i32| {
        CreatePartitionsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(topic_name("events"))
                    .with_count(n),
            ])
    };
    assert_eq!(c.call(&raise(5), 3).await.results[0].error_code, 0);
    assert_eq!(h.backend.topic("events").unwrap().partitions, 5);
    assert_eq!(
        c.call(&raise(2), 0).await.results[0].error_code,
        code(E::InvalidPartitions)
    );
    let capped = c.call(&raise(i32::MAX), 3).await;
    assert_eq!(
        capped.results[0].error_code,
        code(E::InvalidPartitions),
        "counts are capped"
    );
    let huge = c.call(&create("huge", i32::MAX, vec![]), 7).await;
    assert_eq!(
        huge.topics[0].error_code,
        code(E::InvalidPartitions),
        "counts are capped"
    );

    let described = c
        .call(
            &DescribeConfigsRequest::default().with_resources(vec![
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(str_bytes("events"))
                    .with_configuration_keys(Some(vec![
                        str_bytes("retention.ms"),
                        str_bytes("retention.bytes"),
                    ])),
            ]),
            4,
        )
        .await;
    let configs: Vec<_> = described.results[0]
        .configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                c.value.as_ref().unwrap().to_string(),
                c.config_source,
            )
        })
        .collect();
    assert_eq!(
        configs,
        vec![
            ("retention.ms".into(), "60000".into(), 1),
            ("retention.bytes".into(), "-1".into(), 5)
        ]
    );

    let r = c
        .call(
            &DeleteTopicsRequest::default()
                .with_topic_names(vec![topic_name("events"), topic_name("missing")]),
            5,
        )
        .await;
    assert_eq!(
        r.responses.iter().map(|t| t.error_code).collect::<Vec<_>>(),
        vec![0, code(E::UnknownTopicOrPartition)]
    );
    assert!(h.backend.topic("events").is_none());
}

#[tokio::test]
async fn bad_frames_close_only_their_connection_and_are_counted() {
    let h = Harness::start(
        KafkaConfig {
            max_frame_bytes: 4096,
            ..KafkaConfig::default()
        },
        None,
    )
    .await;
    let cases: Vec<Vec<u8>> = vec![
        // absurd size
        i32::MAX.to_be_bytes().to_vec(),
        // negative size
        (-1i32).to_be_bytes().to_vec(),
        // unknown API key 999
        [
            12i32.to_be_bytes().to_vec(),
            vec![0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0, 0],
        ]
        .concat(),
        // Produce v0 (removed in Kafka 4)
        [
            10i32.to_be_bytes().to_vec(),
            vec![0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff],
        ]
        .concat(),
        // Metadata v9 with a body of garbage
        [
            14i32.to_be_bytes().to_vec(),
            vec![0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0, 0xff, 0xff, 0xff],
        ]
        .concat(),
        // header truncated inside the client id
        [
            10i32.to_be_bytes().to_vec(),
            vec![0, 3, 0, 1, 0, 0, 0, 1, 0, 9],
        ]
        .concat(),
        // a frame that promises more than it sends, then the client goes away
        [100i32.to_be_bytes().to_vec(), vec![0, 3, 0, 1]].concat(),
    ];
    for case in &cases {
        let mut c = h.client().await;
        tokio::io::AsyncWriteExt::write_all(&mut c.stream, case)
            .await
            .unwrap();
        if case.len() == 8 {
            tokio::io::AsyncWriteExt::shutdown(&mut c.stream)
                .await
                .unwrap();
        }
        assert!(c.closed().await, "closed after {case:?}");
    }
    let mut c = h.client().await;
    assert_eq!(
        c.call(&MetadataRequest::default().with_topics(None), 9)
            .await
            .brokers
            .len(),
        1,
        "the listener still serves"
    );
    let closed = h.metric(
        "jumpnet_kafka_request_errors_total",
        Some(("api", "connection")),
    );
    assert!(closed >= 5.0, "closures counted: {closed}");
    assert!(h.metric("jumpnet_kafka_requests_total", Some(("api", "Metadata"))) >= 1.0);
    assert_eq!(h.metric("jumpnet_kafka_connections", None), 1.0);
}

/// Every API answers at every version it advertises (the generated encoders refuse a field a
/// version lacks, so a handler that sets one would close the connection instead).
#[tokio::test]
async fn every_api_answers_at_every_advertised_version() {
    use crate::kafka::versions::supported;
    let h = Harness::start(fast_config(), None).await;
    topic(&h, "t", 1).await;
    let mut c = h.client().await;
    let range = |api: ApiKey| {
        let r = supported(api as i16).unwrap();
        r.min..=r.max
    };
    for v in range(ApiKey::ApiVersions) {
        c.call(&ApiVersionsRequest::default(), v).await;
    }
    for v in range(ApiKey::Metadata) {
        let topics = if v == 0 { Some(vec![]) } else { None };
        assert_eq!(
            c.call(&MetadataRequest::default().with_topics(topics), v)
                .await
                .topics
                .len(),
            1,
            "v{v}"
        );
    }
    for v in range(ApiKey::Produce) {
        let r = c
            .call(
                &produce_req("t", 0, batch(&[("k", "v")], Compression::None, None), -1),
                v,
            )
            .await;
        assert_eq!(first_partition(&r).error_code, 0, "v{v}");
    }
    for v in range(ApiKey::Fetch) {
        let r = c.call(&fetch_req("t", 0, 0, 0, 0), v).await;
        assert_eq!(
            fetched(&r.responses[0].partitions[0].records).len(),
            range(ApiKey::Produce).count(),
            "v{v}"
        );
    }
    for v in range(ApiKey::ListOffsets) {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1),
                ])]);
        assert_eq!(
            c.call(&req, v).await.topics[0].partitions[0].offset,
            range(ApiKey::Produce).count() as i64,
            "v{v}"
        );
    }
    for v in range(ApiKey::FindCoordinator) {
        let req = if v >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![str_bytes("g")])
        } else {
            FindCoordinatorRequest::default().with_key(str_bytes("g"))
        };
        let r = c.call(&req, v).await;
        assert_eq!(
            if v >= 4 {
                r.coordinators[0].node_id.0
            } else {
                r.node_id.0
            },
            1,
            "v{v}"
        );
    }
    for v in range(ApiKey::JoinGroup) {
        let g = format!("g{v}");
        let req = |member: &str| {
            let mut r = join_req(member).with_group_id(group_id(&g));
            if v == 0 {
                r.rebalance_timeout_ms = -1;
            }
            r
        };
        let mut r = c.call(&req(""), v).await;
        if v >= 4 {
            assert_eq!(r.error_code, code(E::MemberIdRequired), "v{v}");
            r = c.call(&req(r.member_id.as_str()), v).await;
        }
        assert_eq!((r.error_code, r.generation_id), (0, 1), "v{v}");
        let me = r.member_id.clone();
        let sv = v.min(5);
        let sync = SyncGroupRequest::default()
            .with_group_id(group_id(&g))
            .with_generation_id(1)
            .with_member_id(me.clone());
        assert_eq!(c.call(&sync, sv).await.error_code, 0, "sync v{sv}");
        let hv = v.min(4);
        let hb = HeartbeatRequest::default()
            .with_group_id(group_id(&g))
            .with_generation_id(1)
            .with_member_id(me.clone());
        assert_eq!(c.call(&hb, hv).await.error_code, 0, "heartbeat v{hv}");
        let cv = (v + 2).min(8);
        let commit = OffsetCommitRequest::default()
            .with_group_id(group_id(&g))
            .with_generation_id_or_member_epoch(1)
            .with_member_id(me.clone())
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(topic_name("t"))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(3),
                    ]),
            ]);
        assert_eq!(
            c.call(&commit, cv).await.topics[0].partitions[0].error_code,
            0,
            "commit v{cv}"
        );
        let lv = v.min(5);
        let leave = if lv >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(group_id(&g))
                .with_members(vec![
                    leave_group_request::MemberIdentity::default().with_member_id(me)
                ])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(group_id(&g))
                .with_member_id(me)
        };
        assert_eq!(c.call(&leave, lv).await.error_code, 0, "leave v{lv}");
    }
    for v in range(ApiKey::OffsetFetch) {
        let r = if v >= 8 {
            let r = c
                .call(
                    &OffsetFetchRequest::default().with_groups(vec![
                        offset_fetch_request::OffsetFetchRequestGroup::default()
                            .with_group_id(group_id("g5"))
                            .with_topics(None),
                    ]),
                    v,
                )
                .await;
            r.groups[0].topics[0].partitions[0].committed_offset
        } else {
            let req = OffsetFetchRequest::default()
                .with_group_id(group_id("g5"))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(topic_name("t"))
                        .with_partition_indexes(vec![0]),
                ]));
            c.call(&req, v).await.topics[0].partitions[0].committed_offset
        };
        assert_eq!(r, 3, "v{v}");
    }
    for v in range(ApiKey::ListGroups) {
        assert!(
            !c.call(&ListGroupsRequest::default(), v)
                .await
                .groups
                .is_empty(),
            "v{v}"
        );
    }
    for v in range(ApiKey::DescribeGroups) {
        assert_eq!(
            c.call(
                &DescribeGroupsRequest::default().with_groups(vec![group_id("g5")]),
                v
            )
            .await
            .groups[0]
                .error_code,
            0,
            "v{v}"
        );
    }
    for v in range(ApiKey::InitProducerId) {
        let r = c
            .call(
                &InitProducerIdRequest::default().with_transactional_id(None),
                v,
            )
            .await;
        assert_eq!(r.error_code, 0, "v{v}");
    }
    for v in range(ApiKey::CreateTopics) {
        let req = CreateTopicsRequest::default().with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(topic_name(&format!("c{v}")))
                .with_num_partitions(1)
                .with_replication_factor(-1),
        ]);
        assert_eq!(c.call(&req, v).await.topics[0].error_code, 0, "v{v}");
    }
    for v in range(ApiKey::CreatePartitions) {
        let req = CreatePartitionsRequest::default().with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(topic_name(&format!("c{}", v + 2)))
                .with_count(2)
                .with_assignments(None),
        ]);
        assert_eq!(c.call(&req, v).await.results[0].error_code, 0, "v{v}");
    }
    for v in range(ApiKey::DescribeConfigs) {
        let req = DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(str_bytes("t"))
                .with_configuration_keys(None),
        ]);
        assert!(!c.call(&req, v).await.results[0].configs.is_empty(), "v{v}");
    }
    for v in range(ApiKey::DeleteTopics) {
        let name = format!("c{}", v + 1);
        let req = if v >= 6 {
            DeleteTopicsRequest::default()
                .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(topic_name(&name)))])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![topic_name(&name)])
        };
        assert_eq!(c.call(&req, v).await.responses[0].error_code, 0, "v{v}");
    }
    for v in range(ApiKey::SaslHandshake) {
        // (A fresh connection each: after v0 the next frame is the raw token.)
        assert_eq!(
            h.client()
                .await
                .call(
                    &SaslHandshakeRequest::default().with_mechanism(str_bytes("PLAIN")),
                    v
                )
                .await
                .error_code,
            0
        );
    }
    for v in range(ApiKey::SaslAuthenticate) {
        let mut fresh = h.client().await;
        fresh
            .call(
                &SaslHandshakeRequest::default().with_mechanism(str_bytes("PLAIN")),
                1,
            )
            .await;
        let r = fresh
            .call(
                &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\0u\0p")),
                v,
            )
            .await;
        assert_eq!(r.error_code, 0, "v{v}");
    }
}

#[test]
fn create_topics_round_trips_through_the_codec() {
    use kafka_protocol::protocol::Encodable;
    let req = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(topic_name("a"))
            .with_num_partitions(3)
            .with_replication_factor(1),
    ]);
    let mut buf = bytes::BytesMut::new();
    req.encode(&mut buf, 7).unwrap();
    let back = CreateTopicsRequest::decode(&mut buf.freeze(), 7).unwrap();
    assert_eq!(back, req);
}

/// Array lengths in request bodies are untrusted: a tiny frame claiming 2^31 elements is refused
/// without taking down the process.
#[tokio::test]
async fn huge_array_counts_in_tiny_frames_are_survived() {
    let h = Harness::start(KafkaConfig::default(), None).await;
    // Metadata v1 whose topics array claims i32::MAX entries; CreateTopics v2 likewise.
    for (key, version) in [(3i16, 1i16), (19, 2), (0, 3)] {
        let mut c = h.client().await;
        let mut body = vec![];
        body.extend_from_slice(&key.to_be_bytes());
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&1i32.to_be_bytes());
        body.extend_from_slice(&[0xff, 0xff]);
        if key == 0 {
            body.extend_from_slice(&[0xff, 0xff, 0, 1, 0, 0, 0, 0]); // no transactional id, acks 1, timeout
        }
        body.extend_from_slice(&i32::MAX.to_be_bytes());
        c.send_raw(&body).await;
        assert!(c.closed().await);
    }
    let mut c = h.client().await;
    assert_eq!(
        c.call(&MetadataRequest::default().with_topics(None), 9)
            .await
            .brokers
            .len(),
        1
    );
}

mod fuzz {
    use super::*;
    use crate::kafka::frame::parse_request;
    use crate::kafka::session::Session;
    use crate::kafka::versions::SUPPORTED;
    use proptest::prelude::*;

    /// Runs one raw request (header without client id) through parsing and dispatch.
    fn run_one(api: i16, version: i16, body: &[u8], header_tail: &[u8]) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let config = KafkaConfig {
                max_fetch_wait: Duration::from_millis(5),
                ..fast_config()
            };
            let h = Harness::start(config, None).await;
            topic(&h, "t", 1).await;
            let mut frame = vec![];
            frame.extend_from_slice(&api.to_be_bytes());
            frame.extend_from_slice(&version.to_be_bytes());
            frame.extend_from_slice(&7i32.to_be_bytes());
            frame.extend_from_slice(header_tail);
            frame.extend_from_slice(body);
            if let Ok(raw) = parse_request(Bytes::from(frame)) {
                let mut session = Session::new("127.0.0.1:1".parse().unwrap(), false);
                let _ = tokio::time::timeout(PATIENCE, async {
                    super::super::dispatch(&h.server, &mut session, raw)
                        .await?
                        .bytes()
                        .await
                })
                .await;
            }
        });
    }

    /// Valid requests of several APIs, encoded at the given versions (flexible ones: header v2).
    fn seeds() -> Vec<(ApiKey, i16, Bytes)> {
        use kafka_protocol::protocol::Encodable;
        fn enc<T: Encodable>(api: ApiKey, v: i16, req: T) -> (ApiKey, i16, Bytes) {
            let mut b = bytes::BytesMut::new();
            req.encode(&mut b, v).unwrap();
            (api, v, b.freeze())
        }
        let commit = OffsetCommitRequest::default()
            .with_group_id(group_id("g"))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(topic_name("t"))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1),
                    ]),
            ]);
        let create = CreateTopicsRequest::default().with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(topic_name("n"))
                .with_num_partitions(2)
                .with_replication_factor(-1),
        ]);
        let metadata = MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(topic_name("t"))),
        ]));
        vec![
            enc(
                ApiKey::Produce,
                9,
                produce_req(
                    "t",
                    0,
                    batch(&[("k", "v"), ("", "w")], Compression::Gzip, Some((1, 0, 0))),
                    -1,
                ),
            ),
            enc(
                ApiKey::Produce,
                9,
                produce_req("t", 0, batch(&[("k", "v")], Compression::None, None), 1),
            ),
            enc(ApiKey::Fetch, 12, fetch_req("t", 0, 0, 0, 0)),
            enc(ApiKey::Metadata, 12, metadata),
            enc(ApiKey::JoinGroup, 9, join_req("")),
            enc(ApiKey::OffsetCommit, 8, commit),
            enc(ApiKey::CreateTopics, 7, create),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Random bodies for every served API at every served version go through header parsing,
        /// the generated decoders and the handlers without a panic.
        #[test]
        fn random_requests_never_panic_the_dispatcher(api in 0..SUPPORTED.len(), v in 0i16..20, body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let (key, min, max) = SUPPORTED[api];
            run_one(key as i16, min + v % (max - min + 1), &body, &[0xff, 0xff]);
        }

        /// Valid requests with bytes flipped and cut go through the decoders and handlers without
        /// a panic (the answer may be an error code or a closed connection).
        #[test]
        fn mutated_requests_never_panic_the_dispatcher(
            seed in 0usize..7,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in proptest::option::of(any::<prop::sample::Index>()),
        ) {
            let (api, version, body) = seeds().swap_remove(seed);
            let mut body = body.to_vec();
            for (at, byte) in flips {
                let i = at.index(body.len());
                body[i] = byte;
            }
            if let Some(c) = cut {
                body.truncate(c.index(body.len()));
            }
            // Flexible header: no client id, no tagged fields.
            run_one(api as i16, version, &body, &[0xff, 0xff, 0]);
        }
    }
}

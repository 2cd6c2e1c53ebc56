//! The Kafka backend of a node (`kafka_node`), driven through the `KafkaBackend` trait on a
//! follower of a three-node cluster: writes forwarded and committed, reads from applied state,
//! Kafka's producer rules, replicated offsets and producer ids.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jumpnet_broker::auth::Auth;
use jumpnet_broker::kafka::backend::*;
use jumpnet_broker::kafka_node::NodeBackend;

use crate::harness::Cluster;

fn record(value: &str, ts: i64) -> NewRecord {
    NewRecord {
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers: vec![("h".into(), Some(Bytes::from_static(b"1")))],
        timestamp_ms: ts,
    }
}

fn batch(values: &[&str], producer: Option<(i16, i32)>) -> ProduceBatch {
    ProduceBatch {
        topic: "k".into(),
        partition: 1,
        records: values
            .iter()
            .enumerate()
            .map(|(i, v)| record(v, 10_000 + i as i64))
            .collect(),
        producer: producer.map(|(producer_epoch, base_sequence)| ProducerBatch {
            producer_id: 4242,
            producer_epoch,
            base_sequence,
        }),
        publisher: None,
        timeout: Duration::from_secs(10),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_followers_kafka_backend_writes_through_the_leader_and_reads_its_own_state() {
    let c = Cluster::three().await;
    let f = c.node(c.follower_index());
    let b = NodeBackend::new(f.node.clone(), f.writer.clone(), Arc::new(Auth::open()));

    let view = b.cluster();
    assert_eq!(view.brokers.len(), 3, "{view:?}");
    assert_eq!(view.leader, c.leader().map(|l| l as i32));
    assert!(!view.is_leader());

    let info = b
        .create_topic(NewTopic {
            name: "k".into(),
            partitions: 2,
            retention: Retention::default(),
        })
        .await
        .unwrap();
    assert_eq!(info.partitions, 2);
    assert_eq!(
        b.create_topic(NewTopic {
            name: "k".into(),
            partitions: 2,
            retention: Retention::default()
        })
        .await,
        Err(BackendError::TopicAlreadyExists)
    );

    // An idempotent producer: stored once, refused out of order or from an older epoch.
    let first = b.produce(batch(&["a", "b"], Some((1, 0)))).await.unwrap();
    assert_eq!(first.base_offset, 0);
    let retry = b.produce(batch(&["a", "b"], Some((1, 0)))).await.unwrap();
    assert_eq!(retry.base_offset, 0, "a retry answers the first offsets");
    assert_eq!(
        b.produce(batch(&["x"], Some((1, 5)))).await,
        Err(BackendError::OutOfOrderSequence)
    );
    assert_eq!(
        b.produce(batch(&["x"], Some((0, 2)))).await,
        Err(BackendError::InvalidProducerEpoch)
    );
    assert_eq!(
        b.produce(batch(&["c"], Some((1, 2))))
            .await
            .unwrap()
            .base_offset,
        2
    );
    assert_eq!(
        b.produce(ProduceBatch {
            topic: "missing".into(),
            ..batch(&["x"], None)
        })
        .await,
        Err(BackendError::UnknownTopicOrPartition)
    );

    // Read back on the follower: keys, headers and the producer's timestamps.
    let got = b.fetch("k", 1, 0, 1 << 20).await.unwrap();
    assert_eq!(got.high_watermark, 3);
    let values: Vec<_> = got
        .records
        .iter()
        .map(|r| r.value.clone().unwrap())
        .collect();
    assert_eq!(values, ["a", "b", "c"]);
    assert_eq!(
        got.records
            .iter()
            .map(|r| r.timestamp_ms)
            .collect::<Vec<_>>(),
        [10_000, 10_001, 10_000]
    );
    assert_eq!(got.records[0].key.as_deref(), Some(&b"k"[..]));
    assert_eq!(
        got.records[0].headers,
        vec![("h".to_string(), Some(Bytes::from_static(b"1")))]
    );
    assert!(matches!(
        b.fetch("k", 1, 4, 100).await,
        Err(BackendError::OffsetOutOfRange { .. })
    ));
    let by_time = b
        .list_offset("k", 1, OffsetSpec::Timestamp(10_001))
        .await
        .unwrap();
    assert_eq!((by_time.offset, by_time.timestamp_ms), (1, 10_001));
    let latest = b.list_offset("k", 1, OffsetSpec::Latest).await.unwrap();
    assert_eq!(latest.offset, 3);

    // Group offsets are replicated named-consumer positions.
    b.commit_offsets(
        "grp",
        vec![CommittedOffset {
            topic: "k".into(),
            partition: 1,
            offset: 2,
            metadata: None,
        }],
    )
    .await
    .unwrap();
    let committed = b.committed_offsets("grp").await.unwrap();
    assert_eq!(
        committed
            .iter()
            .map(|o| (o.partition, o.offset))
            .collect::<Vec<_>>(),
        [(1, 2)]
    );
    assert!(b
        .offset_groups()
        .await
        .unwrap()
        .contains(&"grp".to_string()));

    // Producer ids from every node never repeat.
    let l = c.node(c.leader_index());
    let lb = NodeBackend::new(l.node.clone(), l.writer.clone(), Arc::new(Auth::open()));
    let ids = [
        b.allocate_producer_id().await.unwrap(),
        lb.allocate_producer_id().await.unwrap(),
        b.allocate_producer_id().await.unwrap(),
    ];
    assert!(ids[0] < ids[1] && ids[1] < ids[2], "{ids:?}");

    // Partitions only grow; deleting removes the topic.
    assert_eq!(b.create_partitions("k", 3).await.unwrap().partitions, 3);
    assert!(matches!(
        b.create_partitions("k", 2).await,
        Err(BackendError::InvalidPartitions(_))
    ));
    b.delete_topic("k").await.unwrap();
    assert_eq!(b.topic("k"), None);
    assert_eq!(
        b.delete_topic("k").await,
        Err(BackendError::UnknownTopicOrPartition)
    );
    c.shutdown().await;
}

/// The operator adds members with the Kafka address their pod advertises (a broker cannot know
/// another pod's flags): Metadata then names that address; a malformed one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_added_with_a_kafka_address_is_advertised_at_it() {
    use axum::http::Method;
    use serde_json::json;

    let c = Cluster::three().await;
    let l = c.leader_index();
    let (status, v, _) = c
        .call(
            l,
            Method::POST,
            "/v1/cluster/members",
            &json!({"id": 9, "raft_addr": "127.0.0.1:1", "api_addr": "pod-9.fqdn.example:9090",
                    "kafka_addr": "bad address"})
            .to_string(),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("invalid_field")),
        "{v}"
    );
    let (status, v, _) = c
        .call(
            l,
            Method::POST,
            "/v1/cluster/members",
            &json!({"id": 9, "raft_addr": "127.0.0.1:1", "api_addr": "pod-9.fqdn.example:9090",
                    "kafka_addr": "pod-9.headless.ns.svc:9093"})
            .to_string(),
        )
        .await;
    assert_eq!(status, 200, "{v}");

    let f = c.node(c.follower_index());
    let b = NodeBackend::new(f.node.clone(), f.writer.clone(), Arc::new(Auth::open()));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let broker = loop {
        if let Some(broker) = b.cluster().brokers.into_iter().find(|b| b.id == 9) {
            break broker;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "member 9 never reached the follower"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        (broker.host.as_str(), broker.port),
        ("pod-9.headless.ns.svc", 9093)
    );
    c.shutdown().await;
}

/// What a pipelining Kafka connection relies on (`kafka::conn`): on the leader, batches queued one
/// after another, their commits awaited only later, are appended in queue order through the real
/// batcher and Raft; a follower says its queue order is not kept (its forwards race).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_the_leader_batches_queued_in_order_are_appended_in_that_order() {
    let c = Cluster::three().await;
    let l = c.node(c.leader_index());
    let lb = NodeBackend::new(l.node.clone(), l.writer.clone(), Arc::new(Auth::open()));
    let f = c.node(c.follower_index());
    let fb = NodeBackend::new(f.node.clone(), f.writer.clone(), Arc::new(Auth::open()));
    assert!(lb.produce_keeps_queue_order());
    assert!(!fb.produce_keeps_queue_order());
    lb.create_topic(NewTopic {
        name: "k".into(),
        partitions: 2,
        retention: Retention::default(),
    })
    .await
    .unwrap();
    let mut commits = Vec::new();
    for i in 0..40 {
        let (a, b) = (format!("{i}a"), format!("{i}b"));
        commits.push(lb.queue_produce(batch(&[&a, &b], None)).await.unwrap());
    }
    let mut offsets = Vec::new();
    for commit in commits {
        offsets.push(commit.await.unwrap().base_offset);
    }
    assert_eq!(offsets, (0..40).map(|i| 2 * i).collect::<Vec<i64>>());
    let got = lb.fetch("k", 1, 0, 1 << 20).await.unwrap();
    let values: Vec<String> = got
        .records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    let expected: Vec<String> = (0..40)
        .flat_map(|i| [format!("{i}a"), format!("{i}b")])
        .collect();
    assert_eq!(values, expected);
    c.shutdown().await;
}

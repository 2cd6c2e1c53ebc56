//! Several Produce requests in flight on one connection (`conn`): responses in request order,
//! records in request order, a failure confined to its request, the in-flight caps, the follower
//! path, and other requests waiting their turn.

use std::time::{Duration, Instant};

use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;
use kafka_protocol::ResponseError as E;

use super::backend::{KafkaBackend, NewTopic, Retention};
use super::conn::MAX_IN_FLIGHT;
use super::handlers::test_support::*;
use super::handlers::topic_name;
use super::KafkaConfig;

const V: i16 = 9;

async fn harness(config: KafkaConfig) -> Harness {
    let h = Harness::start(config, None).await;
    h.backend
        .create_topic(NewTopic {
            name: "t".into(),
            partitions: 2,
            retention: Retention::default(),
        })
        .await
        .unwrap();
    h
}

fn produce(partition: i32, value: &str, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(topic_name("t"))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch(&[("", value)], Compression::None, None))),
            ])])
}

/// Waits (polling) until `cond` holds.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The next response: its correlation id, error code and base offset.
async fn answer(c: &mut Client) -> (i32, i16, i64) {
    let (id, r) = c
        .receive_any::<ProduceRequest>(V)
        .await
        .expect("a response");
    let p = &r.responses[0].partition_responses[0];
    (id, p.error_code, p.base_offset)
}

async fn values(h: &Harness, partition: i32) -> Vec<String> {
    let got = h.backend.fetch("t", partition, 0, 1 << 20).await.unwrap();
    got.records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap_or_default().to_vec()).unwrap())
        .collect()
}

#[tokio::test]
async fn pipelined_produces_are_answered_in_request_order_whatever_order_they_commit() {
    let h = harness(KafkaConfig::default()).await;
    h.backend.hold_commits();
    let mut c = h.client().await;
    for i in 0..5 {
        c.send(&produce(0, &i.to_string(), 1), V).await;
    }
    // All five are queued at once: none waits for an earlier one's commit.
    until("five requests in flight", || h.backend.held() == 5).await;
    for i in (0..5).rev() {
        h.backend.release(i);
    }
    for i in 0..5 {
        assert_eq!(answer(&mut c).await, (i as i32 + 1, 0, i));
    }
    assert_eq!(values(&h, 0).await, ["0", "1", "2", "3", "4"]);
    assert_eq!(h.backend.max_outstanding(), 5);
}

#[tokio::test]
async fn a_failing_request_in_the_middle_fails_alone() {
    let h = harness(KafkaConfig::default()).await;
    h.backend.hold_commits();
    let mut c = h.client().await;
    c.send(&produce(0, "a", 1), V).await;
    c.send(&produce(0, &"x".repeat(1024 * 1024 + 1), 1), V)
        .await;
    c.send(&produce(7, "no such partition", 1), V).await;
    c.send(&produce(0, "d", 1), V).await;
    until("the two good requests queued", || h.backend.held() == 2).await;
    h.backend.release(1);
    h.backend.release(0);
    assert_eq!(answer(&mut c).await, (1, 0, 0));
    assert_eq!(answer(&mut c).await, (2, E::MessageTooLarge.code(), -1));
    assert_eq!(
        answer(&mut c).await,
        (3, E::UnknownTopicOrPartition.code(), -1)
    );
    assert_eq!(answer(&mut c).await, (4, 0, 1));
    assert_eq!(values(&h, 0).await, ["a", "d"]);

    // acks=0: a failed one closes the connection, after answering the requests before it.
    c.send(&produce(0, "e", 1), V).await;
    c.send(&produce(7, "fire and forget", 0), V).await;
    c.send(&produce(0, "f", 1), V).await;
    until("the request before it queued", || h.backend.held() >= 3).await;
    h.backend.release(2);
    assert_eq!(answer(&mut c).await, (5, 0, 2));
    assert!(
        c.closed().await,
        "no answer after the failed acks=0 request"
    );
    // A request read behind the failed one may have been queued: Kafka promises an acks=0
    // producer nothing about what follows a failure but the closed connection.
    assert_eq!(values(&h, 0).await[..3], ["a", "d", "e"]);
}

#[tokio::test]
async fn the_in_flight_cap_holds_and_no_further_frame_is_read() {
    let h = harness(KafkaConfig::default()).await;
    h.backend.hold_commits();
    let mut c = h.client().await;
    let n = 3 * MAX_IN_FLIGHT;
    for i in 0..n {
        c.send(&produce(i as i32 % 2, &i.to_string(), 1), V).await;
    }
    until("the cap reached", || h.backend.held() == MAX_IN_FLIGHT).await;
    for i in 0..n {
        h.backend.release(i);
        let (id, code, _) = answer(&mut c).await;
        assert_eq!((id, code), (i as i32 + 1, 0));
    }
    assert_eq!(h.backend.max_outstanding(), MAX_IN_FLIGHT);
    let expect = |p: usize| -> Vec<String> {
        (0..n)
            .filter(|i| i % 2 == p)
            .map(|i| i.to_string())
            .collect()
    };
    assert_eq!(values(&h, 0).await, expect(0));
    assert_eq!(values(&h, 1).await, expect(1));
}

#[tokio::test]
async fn request_frames_in_flight_stay_under_the_frame_limit() {
    let h = harness(KafkaConfig {
        max_frame_bytes: 2048,
        ..KafkaConfig::default()
    })
    .await;
    h.backend.hold_commits();
    let mut c = h.client().await;
    // Frames of more than 500 bytes: at most four read before 2048 bytes are in flight.
    let value = "v".repeat(500);
    for _ in 0..MAX_IN_FLIGHT {
        c.send(&produce(0, &value, 1), V).await;
    }
    until("some in flight", || h.backend.held() >= 2).await;
    for i in 0..MAX_IN_FLIGHT {
        h.backend.release(i);
        assert_eq!(answer(&mut c).await, (i as i32 + 1, 0, i as i64));
    }
    let most = h.backend.max_outstanding();
    assert!((2..=4).contains(&most), "{most} in flight");
}

#[tokio::test]
async fn where_queue_order_is_not_append_order_each_commit_is_awaited_first() {
    let h = harness(KafkaConfig::default()).await;
    h.backend.set_forwarding(true);
    h.backend.hold_commits();
    let mut c = h.client().await;
    for i in 0..3 {
        c.send(&produce(0, &i.to_string(), 1), V).await;
    }
    for i in 0..3 {
        until("the next request queued", || h.backend.held() == i + 1).await;
        h.backend.release(i);
        assert_eq!(answer(&mut c).await, (i as i32 + 1, 0, i as i64));
    }
    assert_eq!(h.backend.max_outstanding(), 1);
    assert_eq!(values(&h, 0).await, ["0", "1", "2"]);
}

#[tokio::test]
async fn other_requests_wait_for_the_produces_before_them_and_hold_back_those_after() {
    let h = harness(KafkaConfig::default()).await;
    h.backend.hold_commits();
    let mut c = h.client().await;
    c.send(&produce(0, "a", 1), V).await;
    c.send(&produce(0, "b", 0), V).await;
    let fetch = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(topic_name("t"))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    c.send(&fetch, 12).await;
    c.send(&produce(0, "c", 1), V).await;
    until("both produces queued", || h.backend.held() == 2).await;
    h.backend.release(1);
    h.backend.release(0);
    assert_eq!(answer(&mut c).await, (1, 0, 0));
    // The acks=0 produce is not answered; the fetch comes next, with both records.
    let (id, r) = c.receive_any::<FetchRequest>(12).await.unwrap();
    assert_eq!(id, 3);
    let records = fetched(&r.responses[0].partitions[0].records);
    let got: Vec<&str> = records.iter().map(|(_, _, v)| v.as_str()).collect();
    assert_eq!(got, ["a", "b"]);
    until("the produce after the fetch queued", || {
        h.backend.held() == 3
    })
    .await;
    h.backend.release(2);
    assert_eq!(answer(&mut c).await, (4, 0, 2));
}

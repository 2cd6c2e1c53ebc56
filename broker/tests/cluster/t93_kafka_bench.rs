//! The Kafka listener on a real cluster as `jumpnet bench --kafka` drives it (bounded runs,
//! counts asserted, no timing), and the members' Kafka addresses in `/v1/cluster`.

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{
    offset_commit_request, ApiKey, GroupId, OffsetCommitRequest, OffsetCommitResponse,
    RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{wait_until, Cluster, BIN};

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Three nodes, each with a Kafka listener; returns the cluster and the Kafka addresses.
async fn kafka_cluster() -> (Cluster, Vec<String>) {
    let kafka: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let mut c = Cluster::new();
    c.add(None, &["--kafka", &kafka[0]]);
    c.add(Some(0), &["--kafka", &kafka[1]]);
    c.add(Some(0), &["--kafka", &kafka[2]]);
    c.wait_voters(&[0, 1, 2], 3).await;
    (c, kafka)
}

fn bench(args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .arg("bench")
        .args(args)
        .output()
        .expect("run jumpnet bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("bench --output json prints JSON")
}

fn phase<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["phases"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no {name} phase in {doc}"))
}

/// `bench --kafka`: producers on two nodes (one forwards to the leader) with several Produce
/// requests in flight per connection send exactly --count records, all acknowledged and stored;
/// `--backlog` fills a topic over Kafka and drains it with Fetch, counting every record once.
/// Then the listener's metrics are on /metrics, and a Kafka group's commit shows in the lag gauge.
#[tokio::test(flavor = "multi_thread")]
async fn bench_kafka_produces_and_drains_a_backlog_through_the_listener() {
    let (c, kafka) = kafka_cluster().await;
    let two = format!("{},{}", kafka[0], kafka[1]);
    let doc = bench(&[
        "--kafka",
        &two,
        "--count",
        "2050",
        "--batch-size",
        "100",
        "--producers",
        "2",
        "--concurrency",
        "3",
        "--message-size",
        "64",
        "--output",
        "json",
    ]);
    let p = phase(&doc, "produce");
    assert_eq!(
        (
            p["messages"].as_u64(),
            p["requests"].as_u64(),
            p["errors"].as_u64()
        ),
        (Some(2050), Some(21), Some(0)),
        "{p}"
    );
    assert_eq!(doc["config"]["api"], "kafka");
    assert_eq!(doc["config"]["in_flight_per_connection"].as_u64(), Some(3));
    let topic = doc["topic"].as_str().unwrap();
    let path = format!("/v1/topics/{topic}");
    wait_until(
        "the topic holds what bench says it produced",
        Duration::from_secs(10),
        || async { (c.get(0, &path).await?.1["messages"].as_u64() == Some(2050)).then_some(()) },
    )
    .await
    .unwrap();

    let doc = bench(&[
        "--kafka",
        &kafka[2],
        "--server",
        &c.nodes[2].api(),
        "--topic",
        "kbacklog",
        "--backlog",
        "3000",
        "--fill-batch-size",
        "250",
        "--fetch-max-bytes",
        "20000",
        "--output",
        "json",
    ]);
    let fill = phase(&doc, "fill");
    assert_eq!(
        (fill["messages"].as_u64(), fill["errors"].as_u64()),
        (Some(3000), Some(0)),
        "{fill}"
    );
    let fetch = phase(&doc, "fetch");
    assert_eq!(
        (fetch["messages"].as_u64(), fetch["to_offset"].as_u64()),
        (Some(3000), Some(3000)),
        "{fetch}"
    );
    assert!(
        fetch["fetches"].as_u64().unwrap() > 1,
        "20 kB fetches take several: {fetch}"
    );
    assert!(
        fetch["memory"]["samples"].as_u64().unwrap_or(0) >= 1,
        "{fetch}"
    );
    // A second run, through node 0 once it applied the fill, finds the backlog full: no fill, the
    // same drain.
    wait_until(
        "node 0 holds the backlog",
        Duration::from_secs(10),
        || async {
            let (_, t) = c.get(0, "/v1/topics/kbacklog").await?;
            (t["messages"].as_u64() == Some(3000)).then_some(())
        },
    )
    .await
    .unwrap();
    let again = bench(&[
        "--kafka",
        &kafka[0],
        "--topic",
        "kbacklog",
        "--backlog",
        "3000",
        "--output",
        "json",
    ]);
    assert_eq!(again["phases"].as_array().unwrap().len(), 1, "{again}");
    assert_eq!(phase(&again, "fetch")["messages"].as_u64(), Some(3000));

    // The listener's metrics, with the names issue 15 gives them, on a node that served Produce.
    let page = metrics(&c, 0).await;
    for series in [
        r#"jumpnet_kafka_requests_total{api="Produce"}"#,
        r#"jumpnet_kafka_requests_total{api="Fetch"}"#,
        r#"jumpnet_kafka_request_duration_seconds_count{api="Produce"}"#,
    ] {
        assert!(value(&page, series) >= 1.0, "{series} on node 0:\n{page}");
    }
    assert!(
        page.lines()
            .any(|l| l.starts_with("jumpnet_kafka_connections ")),
        "{page}"
    );

    // A Kafka group's committed offset is a named consumer position: the lag gauges cover it.
    let leader = c.leader_seen_by(0).await.unwrap();
    let committed = commit_offset(&kafka[leader], "kgroup", "kbacklog", 1000).await;
    assert_eq!(committed, 0, "OffsetCommit error code");
    wait_until(
        "node 0 lists the group's position with its lag",
        Duration::from_secs(10),
        || async {
            let (status, pos) = c.get(0, "/v1/consumers/kgroup/topics/kbacklog").await?;
            (status == 200 && pos["lag"].as_u64() == Some(2000)).then_some(())
        },
    )
    .await
    .unwrap();
    wait_until(
        "node 1's lag gauge counts the Kafka group",
        Duration::from_secs(10),
        || async {
            let page = metrics(&c, 1).await;
            (value(&page, "jumpnet_consumer_lag_messages") == 2000.0).then_some(())
        },
    )
    .await
    .unwrap();
}

async fn metrics(c: &Cluster, i: usize) -> String {
    c.http
        .get(format!("{}/metrics", c.nodes[i].api()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the series `name{labels}` exactly as the page writes it (0 when absent).
fn value(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// A simple (group-less) OffsetCommit v2 of `offset` for partition 0, as `kcat` or an assigning
/// consumer sends it; returns the partition's error code.
async fn commit_offset(addr: &str, group: &str, topic: &str, offset: i64) -> i16 {
    const V: i16 = 2;
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.into())))
        .with_generation_id_or_member_epoch(-1)
        .with_retention_time_ms(-1)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.into())))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset),
                ]),
        ]);
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::OffsetCommit as i16)
        .with_request_api_version(V)
        .with_correlation_id(7);
    let mut body = BytesMut::new();
    header
        .encode(&mut body, ApiKey::OffsetCommit.request_header_version(V))
        .unwrap();
    req.encode(&mut body, V).unwrap();
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.put_slice(&body);
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(&frame).await.unwrap();
    let size = s.read_i32().await.unwrap();
    let mut buf = vec![0u8; size as usize];
    s.read_exact(&mut buf).await.unwrap();
    let mut buf = bytes::Bytes::from(buf);
    let h = ResponseHeader::decode(&mut buf, OffsetCommitResponse::header_version(V)).unwrap();
    assert_eq!(h.correlation_id, 7);
    let r = OffsetCommitResponse::decode(&mut buf, V).unwrap();
    r.topics[0].partitions[0].error_code
}

/// `/v1/cluster` names each member's Kafka address (the one its clients are told) on every node.
#[tokio::test(flavor = "multi_thread")]
async fn cluster_view_lists_each_members_kafka_address() {
    let (c, kafka) = kafka_cluster().await;
    for i in 0..3 {
        let v = c.view(i).await.unwrap();
        let members = v["members"].as_array().unwrap();
        assert_eq!(members.len(), 3, "{v}");
        for m in members {
            let api = m["api_addr"].as_str().unwrap();
            let n = (0..3)
                .find(|&n| api.ends_with(&format!(":{}", c.nodes[n].api_port)))
                .unwrap_or_else(|| panic!("no node serves {api}"));
            assert_eq!(
                m["kafka_addr"].as_str(),
                Some(kafka[n].as_str()),
                "node {i} on member {api}: {v}"
            );
        }
    }
}

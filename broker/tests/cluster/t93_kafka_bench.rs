//! The Kafka listener on a real cluster as `jumpnet bench --kafka` drives it (bounded runs,
//! counts asserted, no timing), and the members' Kafka addresses in `/v1/cluster`.

use std::net::TcpListener;
use std::process::Command;

use serde_json::Value;

use crate::harness::{Cluster, BIN};

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
    let t = c.get(0, &format!("/v1/topics/{topic}")).await.unwrap().1;
    assert_eq!(
        t["messages"].as_u64(),
        Some(2050),
        "the topic holds exactly what bench says it produced: {t}"
    );

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
    // A second run finds the backlog full: no fill, the same drain.
    let again = bench(&[
        "--kafka", &kafka[0], "--topic", "kbacklog", "--backlog", "3000", "--output", "json",
    ]);
    assert_eq!(again["phases"].as_array().unwrap().len(), 1, "{again}");
    assert_eq!(phase(&again, "fetch")["messages"].as_u64(), Some(3000));
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

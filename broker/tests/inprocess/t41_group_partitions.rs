//! Issue 16: consumer groups over HTTP span every partition of their topic (SPEC §8, §9):
//! concurrent fetchers share all partitions' messages, each delivered and acknowledged once;
//! leases run out and come back on any partition; the numbers are per partition and summed; a
//! partition's backlog does not starve the others (groups and the seed's named consumers).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::http::Method;
use futures::future::join_all;
use serde_json::{json, Value};

use crate::harness::Cluster;

async fn call(c: &Cluster, node: usize, method: Method, path: &str, body: Value) -> Value {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let (status, v, _) = c.call(node, method, path, &body).await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

async fn put_topic(c: &Cluster, topic: &str, partitions: u32) {
    let (status, v, _) = c
        .call(
            0,
            Method::PUT,
            &format!("/v1/topics/{topic}"),
            &json!({ "partitions": partitions }).to_string(),
        )
        .await;
    assert!(status == 200 || status == 201, "{v}");
}

async fn publish(c: &Cluster, topic: &str, body: Value) -> Value {
    call(
        c,
        0,
        Method::POST,
        &format!("/v1/topics/{topic}/messages"),
        body,
    )
    .await
}

async fn fetch(c: &Cluster, node: usize, path: &str, max: u32, wait_ms: u64) -> Vec<Value> {
    let v = call(
        c,
        node,
        Method::POST,
        &format!("{path}/fetch"),
        json!({"max_messages": max, "wait_ms": wait_ms}),
    )
    .await;
    v["messages"].as_array().unwrap().clone()
}

fn refs(ms: &[Value]) -> Vec<(u64, u64)> {
    ms.iter()
        .map(|m| {
            (
                m["partition"].as_u64().unwrap(),
                m["offset"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn ack_body(refs: &[(u64, u64)]) -> Value {
    let messages: Vec<Value> = refs
        .iter()
        .map(|(p, o)| json!({"partition": p, "offset": o}))
        .collect();
    json!({ "messages": messages })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_over_four_partitions_delivers_and_acks_every_message_once() {
    let c = Cluster::three().await;
    put_topic(&c, "orders", 4).await;
    // Keyed publishes: 20 keys, 6 messages each, spread by murmur2 over the partitions.
    let mut sent: BTreeMap<(u64, u64), String> = BTreeMap::new();
    for round in 0..6 {
        let messages: Vec<Value> = (0..20)
            .map(|k| json!({"key": format!("k{k}"), "value": format!("k{k}-{round}")}))
            .collect();
        // One batch per key (a batch goes to one partition).
        for m in messages {
            let r = publish(&c, "orders", json!({ "messages": [m.clone()] })).await;
            let at = (
                r["partition"].as_u64().unwrap(),
                r["base_offset"].as_u64().unwrap(),
            );
            sent.insert(at, m["value"].as_str().unwrap().to_string());
        }
    }
    let used: BTreeSet<u64> = sent.keys().map(|(p, _)| *p).collect();
    assert!(used.len() >= 3, "keys spread over partitions: {used:?}");
    let path = "/v1/topics/orders/groups/g";
    // Six fetchers, two per node, each acknowledging what it got, until nothing is left.
    let fetchers = (0..6).map(|i| {
        let c = &c;
        async move {
            let mut got = Vec::new();
            loop {
                let ms = fetch(c, i % 3, path, 7, 0).await;
                if ms.is_empty() {
                    return got;
                }
                for m in &ms {
                    assert_eq!(m["delivery"], 1, "{m}");
                }
                let r = refs(&ms);
                let v = call(c, i % 3, Method::POST, &format!("{path}/ack"), ack_body(&r)).await;
                assert_eq!(v["count"].as_u64(), Some(r.len() as u64), "{v}");
                got.extend(
                    ms.iter()
                        .map(|m| (refs(std::slice::from_ref(m))[0], m["value"].clone())),
                );
            }
        }
    });
    let all: Vec<((u64, u64), Value)> = join_all(fetchers).await.into_iter().flatten().collect();
    let distinct: BTreeMap<(u64, u64), String> = all
        .iter()
        .map(|(r, v)| (*r, v.as_str().unwrap().to_string()))
        .collect();
    assert_eq!(all.len(), distinct.len(), "a message leased twice");
    assert_eq!(distinct, sent, "every message of every partition, once");

    let v = call(&c, c.leader_index(), Method::GET, path, Value::Null).await;
    assert_eq!(
        (
            v["in_flight"].as_u64(),
            v["pending"].as_u64(),
            v["lag"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{v}"
    );
    let parts = v["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 4, "{v}");
    for p in parts {
        let n = p["partition"].as_u64().unwrap();
        let count = sent.keys().filter(|(q, _)| *q == n).count() as u64;
        assert_eq!(p["acked_floor"].as_u64(), Some(count), "{v}");
    }
    // Nothing comes back, on any partition, after the default lease would have run out either.
    assert!(fetch(&c, 1, path, 100, 0).await.is_empty());
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_on_a_later_partition_runs_out_and_comes_back() {
    let c = Cluster::three().await;
    put_topic(&c, "later", 3).await;
    let path = "/v1/topics/later/groups/g";
    call(
        &c,
        0,
        Method::PUT,
        path,
        json!({"ack_wait_ms": 300, "max_deliveries": 5}),
    )
    .await;
    publish(
        &c,
        "later",
        json!({"messages": [{"value": "x"}, {"value": "y"}], "partition": 2}),
    )
    .await;
    let f = c.follower_index();
    // A long-poll: the follower may not have applied the publish the leader answered yet.
    let first = fetch(&c, f, path, 10, 5_000).await;
    assert_eq!(refs(&first), vec![(2, 0), (2, 1)]);
    call(
        &c,
        f,
        Method::POST,
        &format!("{path}/ack"),
        ack_body(&[(2, 1)]),
    )
    .await;
    let v = call(&c, f, Method::GET, path, Value::Null).await;
    // One left (in flight, or pending once its 300 ms ran out on a slow machine).
    assert_eq!(v["lag"].as_u64(), Some(1), "{v}");
    assert_eq!(v["partitions"][2]["lag"].as_u64(), Some(1), "{v}");
    // Not acknowledged: back after ack_wait_ms (the long-poll waits for it), delivery 2.
    let again = fetch(&c, f, path, 10, 5_000).await;
    assert_eq!(refs(&again), vec![(2, 0)]);
    assert_eq!(again[0]["delivery"], 2);
    assert_eq!(again[0]["value"], "x");
    call(
        &c,
        f,
        Method::POST,
        &format!("{path}/ack"),
        ack_body(&[(2, 0)]),
    )
    .await;
    let v = call(&c, f, Method::GET, path, Value::Null).await;
    assert_eq!(
        (v["lag"].as_u64(), v["redelivered"].as_u64()),
        (Some(0), Some(1)),
        "{v}"
    );
    assert_eq!(v["partitions"][2]["acked_floor"], 2, "{v}");
    // An ack names a partition: the same offset on another partition was never delivered.
    let (status, e, _) = c
        .call(
            f,
            Method::POST,
            &format!("{path}/ack"),
            &ack_body(&[(1, 0)]).to_string(),
        )
        .await;
    assert_eq!(status, 400, "{e}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_with_a_backlog_does_not_starve_the_others() {
    let c = Cluster::one(|_| {}).await;
    put_topic(&c, "busy", 4).await;
    let backlog: Vec<Value> = (0..50).map(|i| json!({"value": format!("b{i}")})).collect();
    publish(&c, "busy", json!({"messages": backlog, "partition": 0})).await;
    publish(
        &c,
        "busy",
        json!({"messages": [{"value": "late"}], "partition": 3}),
    )
    .await;
    // Group: the first fetch of two already takes partition 3's message beside the backlog.
    let first = fetch(&c, 0, "/v1/topics/busy/groups/g", 2, 0).await;
    let parts: BTreeSet<u64> = refs(&first).into_iter().map(|(p, _)| p).collect();
    assert_eq!(parts, BTreeSet::from([0, 3]), "{first:?}");
    c.shutdown().await;
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The seed's `GET /<topic>?consumer=` answers from the partition whose next message is the
/// oldest: a message published after part of a backlog comes before the rest of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_consumer_serves_partitions_in_publish_order() {
    let c = Cluster::one(|_| {}).await;
    put_topic(&c, "seed", 2).await;
    let batch = |from: usize| -> Value {
        let ms: Vec<Value> = (from..from + 4)
            .map(|i| json!({"value": format!("a{i}")}))
            .collect();
        json!({"messages": ms, "partition": 0})
    };
    // Each publish a clock tick after the one before (timestamps order the partitions).
    let mut last = 0;
    for body in [
        batch(0),
        json!({"messages": [{"value": "b0"}], "partition": 1}),
        batch(4),
    ] {
        while now_ms() <= last {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        publish(&c, "seed", body).await;
        let v = call(
            &c,
            0,
            Method::GET,
            "/v1/topics/seed/messages?partition=0&offset=0&limit=100",
            Value::Null,
        )
        .await;
        let w = call(
            &c,
            0,
            Method::GET,
            "/v1/topics/seed/messages?partition=1",
            Value::Null,
        )
        .await;
        last = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .chain(w["messages"].as_array().unwrap())
            .map(|m| m["timestamp_ms"].as_u64().unwrap())
            .max()
            .unwrap();
    }
    let mut order = Vec::new();
    loop {
        let got = call(&c, 0, Method::GET, "/seed?consumer=x&limit=4", Value::Null).await;
        let got = got.as_array().unwrap().clone();
        if got.is_empty() {
            break;
        }
        order.extend(got.into_iter().map(|v| v.as_str().unwrap().to_string()));
    }
    assert_eq!(
        order,
        ["a0", "a1", "a2", "a3", "b0", "a4", "a5", "a6", "a7"],
        "{order:?}"
    );
    c.shutdown().await;
}

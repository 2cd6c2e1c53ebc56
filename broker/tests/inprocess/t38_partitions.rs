//! Issue 15, partitions (SPEC §8): a topic's partition count (raise only), publishes routed by
//! partition, key (Kafka's murmur2) or round-robin, v1 reads and named consumers per partition,
//! and the seed calls covering every partition.

use axum::http::Method;
use serde_json::{json, Value};

use crate::harness::Cluster;

async fn call(c: &Cluster, method: Method, path: &str, body: Value) -> (u16, Value) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let (status, resp, _) = c.call(0, method, path, &body).await;
    (status, resp)
}

async fn publish(c: &Cluster, topic: &str, body: Value) -> (u64, u64) {
    let (status, resp) = call(
        c,
        Method::POST,
        &format!("/v1/topics/{topic}/messages"),
        body,
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    (
        resp["partition"].as_u64().unwrap(),
        resp["base_offset"].as_u64().unwrap(),
    )
}

async fn values(c: &Cluster, path: &str) -> Vec<String> {
    let (status, resp) = call(c, Method::GET, path, Value::Null).await;
    assert_eq!(status, 200, "{path}: {resp}");
    resp.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn partitioned_topics_route_publishes_and_read_per_partition() {
    let c = Cluster::one(|_| {}).await;
    // Create with 3 partitions; a lower count is refused, the same or higher is fine.
    let (status, resp) = call(&c, Method::PUT, "/v1/topics/p", json!({"partitions": 3})).await;
    assert_eq!(status, 201, "{resp}");
    assert_eq!(resp["partitions"], 3);
    let (status, resp) = call(&c, Method::PUT, "/v1/topics/p", json!({"partitions": 2})).await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(resp["error"]["code"], "invalid_partitions");
    let (status, resp) = call(&c, Method::PUT, "/v1/topics/p", json!({"partitions": 0})).await;
    assert_eq!(status, 400, "{resp}");
    let (status, _) = call(&c, Method::GET, "/v1/topics/p", Value::Null).await;
    assert_eq!(status, 200);

    // Explicit partition; out of range is a 400.
    assert_eq!(
        publish(
            &c,
            "p",
            json!({"messages": [{"value": "a"}], "partition": 2})
        )
        .await,
        (2, 0)
    );
    let (status, resp) = call(
        &c,
        Method::POST,
        "/v1/topics/p/messages",
        json!({"messages": [{"value": "x"}], "partition": 3}),
    )
    .await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(resp["error"]["code"], "invalid_partition");

    // By key: toPositive(murmur2("foobar")) % 3, as the Java client places it.
    let want = ((-790332482i32 & 0x7fff_ffff) as u64) % 3;
    let (p1, _) = publish(
        &c,
        "p",
        json!({"messages": [{"value": "k1", "key": "foobar"}]}),
    )
    .await;
    let (p2, _) = publish(
        &c,
        "p",
        json!({"messages": [{"value": "k2", "key": "foobar"}]}),
    )
    .await;
    assert_eq!((p1, p2), (want, want));

    // Without either: round-robin covers every partition.
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..3 {
        let (p, _) = publish(&c, "p", json!({"messages": [{"value": format!("r{i}")}]})).await;
        seen.insert(p);
    }
    assert_eq!(seen.len(), 3, "{seen:?}");

    // Reads per partition; every message carries its partition.
    let (status, resp) = call(
        &c,
        Method::GET,
        "/v1/topics/p/messages?partition=2",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    let msgs = resp["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["value"], "a");
    assert!(msgs.iter().all(|m| m["partition"] == 2), "{resp}");
    let (status, resp) = call(
        &c,
        Method::GET,
        "/v1/topics/p/messages?partition=7",
        Value::Null,
    )
    .await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(resp["error"]["code"], "invalid_partition");
    let (_, resp) = call(&c, Method::GET, "/v1/topics/p/messages", Value::Null).await;
    assert!(resp["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["partition"] == 0));

    // The topic stats count every partition.
    let (_, info) = call(&c, Method::GET, "/v1/topics/p", Value::Null).await;
    assert_eq!(info["messages"], 6, "{info}");
    assert_eq!(info["partition_offsets"].as_array().unwrap().len(), 3);
    let (_, list) = call(&c, Method::GET, "/v1/topics", Value::Null).await;
    assert_eq!(list["topics"][0]["partitions"], 3, "{list}");

    // Seed calls cover every partition.
    let mut history = values(&c, "/history/p").await;
    history.sort();
    assert_eq!(history, ["a", "k1", "k2", "r0", "r1", "r2"]);
    let mut newest = values(&c, "/p?limit=100").await;
    newest.sort();
    assert_eq!(newest, history);
    let mut consumed = Vec::new();
    for _ in 0..6 {
        let got = values(&c, "/p?consumer=seed&limit=100").await;
        if got.is_empty() {
            break;
        }
        consumed.extend(got);
    }
    consumed.sort();
    assert_eq!(consumed, history);
    assert!(values(&c, "/p?consumer=seed").await.is_empty());

    // Named consumers: one position per partition.
    let (status, resp) = call(
        &c,
        Method::PUT,
        "/v1/consumers/w/topics/p?partition=2",
        json!({"offset": 1}),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(
        (resp["partition"].clone(), resp["offset"].clone()),
        (json!(2), json!(1))
    );
    let (_, resp) = call(&c, Method::GET, "/v1/consumers/w/topics/p", Value::Null).await;
    assert_eq!(resp["committed"], false, "{resp}");
    let (_, resp) = call(
        &c,
        Method::GET,
        "/v1/consumers/w/topics/p?partition=2",
        Value::Null,
    )
    .await;
    assert_eq!(resp["committed"], true, "{resp}");
    let (_, resp) = call(&c, Method::GET, "/v1/consumers?topic=p", Value::Null).await;
    let parts: Vec<(String, u64)> = resp["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["partition"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(parts.contains(&("w".to_string(), 2)), "{resp}");

    // Raising keeps the data; the new partition starts empty.
    let (status, resp) = call(&c, Method::PUT, "/v1/topics/p", json!({"partitions": 4})).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["partitions"], 4);
    assert_eq!(
        publish(
            &c,
            "p",
            json!({"messages": [{"value": "z"}], "partition": 3})
        )
        .await,
        (3, 0)
    );
    c.shutdown().await;
}

/// A topic from before partitions (created by a publish, no count) has one partition and the
/// seed calls answer as they always did.
#[tokio::test]
async fn a_producers_retry_without_key_reaches_the_partition_that_stored_it() {
    let c = Cluster::one(|_| {}).await;
    let (status, resp) = call(&c, Method::PUT, "/v1/topics/q", json!({"partitions": 4})).await;
    assert_eq!(status, 201, "{resp}");
    // Round-robin publishes in between move the node's rotation on; the retries must not follow it.
    for seq in 0..4u64 {
        let body = json!({"producer_id": "p1", "sequence": seq, "messages": [{"value": format!("v{seq}")}]});
        let (status, first) = call(&c, Method::POST, "/v1/topics/q/messages", body.clone()).await;
        assert_eq!(
            (status, &first["duplicate"]),
            (200, &json!(false)),
            "{first}"
        );
        publish(&c, "q", json!({"messages": [{"value": "other"}]})).await;
        let (status, again) = call(&c, Method::POST, "/v1/topics/q/messages", body).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(
            again["duplicate"], true,
            "a retry is stored once: {first} then {again}"
        );
        assert_eq!(
            (&again["partition"], &again["base_offset"]),
            (&first["partition"], &first["base_offset"]),
            "{again}"
        );
    }
    let mut stored = values(&c, "/history/q").await;
    stored.retain(|v| v != "other");
    stored.sort();
    assert_eq!(stored, vec!["v0", "v1", "v2", "v3"]);
}

#[tokio::test]
async fn a_single_partition_topic_behaves_as_before() {
    let c = Cluster::one(|_| {}).await;
    for v in ["a", "b", "c"] {
        let (status, _, _) = c
            .call(
                0,
                Method::PUT,
                "/",
                &json!({"Key": "one", "Value": v}).to_string(),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (_, info) = call(&c, Method::GET, "/v1/topics/one", Value::Null).await;
    assert_eq!(info["partitions"], 1, "{info}");
    assert_eq!(values(&c, "/history/one").await, ["a", "b", "c"]);
    assert_eq!(values(&c, "/one?limit=2").await, ["b", "c"]);
    assert_eq!(values(&c, "/one?consumer=x&limit=2").await, ["a", "b"]);
    assert_eq!(values(&c, "/one?consumer=x").await, ["c"]);
    assert_eq!(
        publish(
            &c,
            "one",
            json!({"messages": [{"value": "d", "key": "any"}]})
        )
        .await,
        (0, 3)
    );
    c.shutdown().await;
}

//! The v1 topic log: batches, offsets, reads, long-poll, SSE, consumer positions, topic admin,
//! linearizable reads.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{wait_until, Cluster};

async fn publish(c: &Cluster, i: usize, topic: &str, body: Value) -> Value {
    let (s, v) = c
        .send(
            Method::POST,
            i,
            &format!("/v1/topics/{topic}/messages"),
            &body.to_string(),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_get_dense_offsets_and_reads_page_by_offset() {
    let c = Cluster::three(&[]).await;
    let v = publish(
        &c,
        1,
        "orders",
        json!({"messages": [
            {"value": "a", "key": "k1", "headers": {"h": "1"}}, {"value": "b"}, {"value": "c"}
        ]}),
    )
    .await;
    assert_eq!(
        v,
        json!({"topic": "orders", "partition": 0, "base_offset": 0, "offsets": [0, 1, 2], "duplicate": false})
    );
    let v = publish(&c, 2, "orders", json!({"messages": [{"value": "d"}]})).await;
    assert_eq!(v["offsets"], json!([3]));

    let (s, r) = wait_until(
        "node 1 applied both batches",
        Duration::from_secs(5),
        || async {
            c.get(1, "/v1/topics/orders/messages?offset=0&limit=2")
                .await
                .filter(|(_, r)| r["high_watermark"] == 4)
        },
    )
    .await
    .unwrap();
    assert_eq!(s, 200);
    let msgs = r["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        (
            msgs[0]["offset"].as_u64(),
            msgs[0]["value"].as_str(),
            msgs[0]["key"].as_str()
        ),
        (Some(0), Some("a"), Some("k1"))
    );
    assert_eq!(msgs[0]["headers"], json!({"h": "1"}));
    assert!(msgs[0]["timestamp_ms"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(
        msgs[0]["timestamp_ms"], msgs[1]["timestamp_ms"],
        "one batch, one leader timestamp"
    );
    assert_eq!(
        (
            r["next_offset"].as_u64(),
            r["high_watermark"].as_u64(),
            r["log_start_offset"].as_u64()
        ),
        (Some(2), Some(4), Some(0))
    );

    // Every replica stores the same timestamps (assigned by the leader, not on apply).
    for i in 0..3 {
        let r = wait_until("replicated", Duration::from_secs(5), || async {
            c.get(i, "/v1/topics/orders/messages?offset=0")
                .await
                .filter(|(_, r)| r["high_watermark"] == 4)
                .map(|(_, r)| r)
        })
        .await
        .unwrap();
        assert_eq!(
            r["messages"],
            c.get(1, "/v1/topics/orders/messages?offset=0")
                .await
                .unwrap()
                .1["messages"],
            "node {i}"
        );
    }

    // max_bytes bounds the page but always returns at least one message.
    let (_, r) = c
        .get(0, "/v1/topics/orders/messages?offset=1&max_bytes=1")
        .await
        .unwrap();
    assert_eq!(r["messages"].as_array().unwrap().len(), 1);
    let (_, r) = c
        .get(0, "/v1/topics/orders/messages?offset=4")
        .await
        .unwrap();
    assert_eq!(
        (
            r["messages"].as_array().unwrap().len(),
            r["next_offset"].as_u64()
        ),
        (0, Some(4))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn long_poll_wakes_as_soon_as_the_message_exists() {
    let c = Cluster::three(&[]).await;
    publish(&c, 0, "lp", json!({"messages": [{"value": "first"}]})).await;
    for reader in 0..3 {
        let url = format!(
            "{}/v1/topics/lp/messages?offset={}&wait_ms=10000",
            c.nodes[reader].api(),
            reader + 1
        );
        let poll = tokio::spawn(async move {
            let r: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
            (Instant::now(), r)
        });
        // The poll is parked (nothing at its offset yet) before we publish.
        c.wait_one_request_parked(reader).await;
        let v = publish(
            &c,
            (reader + 1) % 3,
            "lp",
            json!({"messages": [{"value": format!("m{reader}")}]}),
        )
        .await;
        let acked = Instant::now();
        let (woke, r) = poll.await.unwrap();
        assert_eq!(r["messages"][0]["value"], format!("m{reader}"), "{r} {v}");
        let delay = woke.saturating_duration_since(acked);
        eprintln!("long-poll on node {reader} woke {delay:?} after the publish was acknowledged");
        // Woken by the apply, not by a timer.
        assert!(delay < WAKE_UP_BOUND, "woke {delay:?} after the publish");
    }
    // Without a message, wait_ms runs out and answers an empty page.
    let t = Instant::now();
    let (_, r) = c
        .get(0, "/v1/topics/lp/messages?offset=4&wait_ms=300")
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300) && r["messages"] == json!([]));
}

/// A parked long-poll answers within this of the publish's acknowledgement. Woken by the apply it
/// takes milliseconds; a timer-driven wake-up would take a heartbeat (75 ms) or more. Generous for
/// a loaded CI machine, still far below the 10 s the poll would otherwise wait.
const WAKE_UP_BOUND: Duration = Duration::from_millis(150);

/// Open an SSE stream (with an optional Last-Event-ID); the start offset is fixed once this returns.
async fn open_sse(url: &str, last_id: Option<u64>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(url);
    if let Some(id) = last_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    resp
}

/// Read `n` SSE events from `url`: (id, value) pairs.
async fn sse(url: &str, last_id: Option<u64>, n: usize) -> Vec<(u64, String)> {
    events(open_sse(url, last_id).await, n).await
}

async fn events(resp: reqwest::Response, n: usize) -> Vec<(u64, String)> {
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while out.len() < n {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("events in time")
            .expect("stream open")
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let id = event
                .lines()
                .find_map(|l| l.strip_prefix("id:"))
                .map(|s| s.trim().parse::<u64>().unwrap());
            let data = event.lines().find_map(|l| l.strip_prefix("data:"));
            if let (Some(id), Some(data)) = (id, data) {
                let m: Value = serde_json::from_str(data.trim()).unwrap();
                assert_eq!(m["offset"].as_u64(), Some(id));
                out.push((id, m["value"].as_str().unwrap().to_string()));
            }
        }
    }
    out.truncate(n);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_follows_a_fast_producer_and_resumes_without_gap_or_duplicate() {
    let c = Cluster::three(&[]).await;
    publish(&c, 0, "feed", json!({"messages": [{"value": "m0"}]})).await;
    wait_until("node 2 has the topic", Duration::from_secs(5), || async {
        c.get(2, "/v1/topics/feed").await.filter(|(s, _)| *s == 200)
    })
    .await
    .unwrap();
    let url = format!("{}/v1/topics/feed/stream?offset=0", c.nodes[2].api());
    let reader = {
        let url = url.clone();
        tokio::spawn(async move { sse(&url, None, 300).await })
    };
    // A fast producer: batches through another node while the stream is open.
    for b in 0..30 {
        let msgs: Vec<Value> = (0..10)
            .map(|i| json!({"value": format!("m{}", 1 + b * 10 + i)}))
            .collect();
        publish(&c, 1, "feed", json!({ "messages": msgs })).await;
    }
    let got = reader.await.unwrap();
    let expected: Vec<(u64, String)> = (0..300).map(|i| (i, format!("m{i}"))).collect();
    assert_eq!(got, expected);

    // The client went away after event 149; it resumes with Last-Event-ID: 149.
    let resumed = sse(&url, Some(149), 151).await;
    assert_eq!(
        resumed,
        (150..301).map(|i| (i, format!("m{i}"))).collect::<Vec<_>>()
    );

    // Without an offset the stream starts at the end: only new messages.
    let tail = open_sse(&format!("{}/v1/topics/feed/stream", c.nodes[0].api()), None).await;
    publish(&c, 0, "feed", json!({"messages": [{"value": "new"}]})).await;
    assert_eq!(events(tail, 1).await, vec![(301, "new".to_string())]);
}

#[tokio::test(flavor = "multi_thread")]
async fn consumer_positions_are_replicated_report_lag_and_survive_leader_change() {
    let mut c = Cluster::three(&[]).await;
    for i in 0..10 {
        c.put(0, "pos", &format!("v{i}")).await.unwrap();
    }
    // Reads are served from each node's applied state: wait until node 1 has all ten.
    let (s, p) = wait_until(
        "node 1 applied the publishes",
        Duration::from_secs(5),
        || async {
            c.get(1, "/v1/consumers/billing/topics/pos")
                .await
                .filter(|(_, p)| p["high_watermark"] == 10)
        },
    )
    .await
    .unwrap();
    assert_eq!(s, 200);
    assert_eq!(
        (
            p["offset"].as_u64(),
            p["committed"].as_bool(),
            p["lag"].as_u64()
        ),
        (Some(0), Some(false), Some(10))
    );
    let (s, p) = c
        .send(
            Method::PUT,
            1,
            "/v1/consumers/billing/topics/pos",
            &json!({"offset": 4}).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{p}");
    assert_eq!(
        (
            p["offset"].as_u64(),
            p["lag"].as_u64(),
            p["high_watermark"].as_u64()
        ),
        (Some(4), Some(6), Some(10))
    );

    let leader = c.leader_seen_by(0).await.unwrap();
    c.nodes[leader].kill();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    c.wait_new_leader(&survivors, leader).await;
    for &i in &survivors {
        let (_, p) = c.get(i, "/v1/consumers/billing/topics/pos").await.unwrap();
        assert_eq!(p["offset"].as_u64(), Some(4), "node {i}: {p}");
    }
    // The seed read with that consumer continues from the committed position.
    let (_, vals) = c
        .get(survivors[0], "/pos?consumer=billing&limit=2")
        .await
        .unwrap();
    assert_eq!(vals, json!(["v4", "v5"]), "{}", c.logs());
    c.nodes[leader].start();
    let (_, p) = wait_until(
        "restarted node has the position",
        Duration::from_secs(20),
        || async {
            c.get(leader, "/v1/consumers/billing/topics/pos")
                .await
                .filter(|(_, p)| p["offset"] == 6)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    assert_eq!(p["lag"].as_u64(), Some(4));
}

#[tokio::test(flavor = "multi_thread")]
async fn topics_are_listed_created_configured_and_deleted() {
    let c = Cluster::three(&[]).await;
    let (s, t) = c
        .send(
            Method::PUT,
            0,
            "/v1/topics/audit",
            &json!({"retention": {"max_messages": 100}}).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(s, 201, "{t}");
    assert_eq!(
        t["retention"],
        json!({"max_messages": 100, "max_bytes": null, "max_age_ms": null})
    );
    let (s, t) = c
        .send(
            Method::PUT,
            1,
            "/v1/topics/audit",
            &json!({"retention": {"max_age_ms": 60000}}).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(
        (s, t["retention"]["max_age_ms"].as_u64()),
        (200, Some(60000))
    );
    publish(
        &c,
        2,
        "audit",
        json!({"messages": [{"value": "12345"}, {"value": "678", "key": "k"}]}),
    )
    .await;
    c.put(2, "other", "x").await.unwrap();

    let (_, list) = c.get(2, "/v1/topics").await.unwrap();
    let names: Vec<&str> = list["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["audit", "other"]);
    let (_, t) = c.get(2, "/v1/topics/audit").await.unwrap();
    assert_eq!(
        (
            t["messages"].as_u64(),
            t["bytes"].as_u64(),
            t["high_watermark"].as_u64()
        ),
        (Some(2), Some(9), Some(2))
    );

    let (s, _) = c
        .send(Method::DELETE, 0, "/v1/topics/audit", "")
        .await
        .unwrap();
    assert_eq!(s, 200);
    for i in 0..3 {
        wait_until("deleted everywhere", Duration::from_secs(5), || async {
            c.get(i, "/v1/topics/audit")
                .await
                .filter(|(s, _)| *s == 404)
        })
        .await
        .unwrap();
        assert_eq!(c.get(i, "/audit").await.unwrap(), (200, json!([])));
    }
    let (s, v) = c
        .send(Method::DELETE, 0, "/v1/topics/audit", "")
        .await
        .unwrap();
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("topic_not_found"))
    );
    // Publishing recreates it, from offset 0.
    assert_eq!(c.put(1, "audit", "again").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn strong_reads_on_a_follower_see_every_acknowledged_write() {
    let c = Cluster::three(&[]).await;
    let leader = c.leader_seen_by(0).await.unwrap();
    let (a, b) = ((leader + 1) % 3, (leader + 2) % 3);
    for i in 0..20 {
        c.put(a, "lin", &format!("{i}")).await.unwrap();
        let (s, h) = c
            .get(
                b,
                "/v1/topics/lin/messages?consistency=strong&offset=0&limit=1000",
            )
            .await
            .unwrap();
        assert_eq!(s, 200, "{h}");
        assert_eq!(
            h["high_watermark"].as_u64(),
            Some(i + 1),
            "strong read after write {i}"
        );
    }
    let (s, v) = c.get(b, "/lin?consistency=sometimes").await.unwrap();
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_query"))
    );
}

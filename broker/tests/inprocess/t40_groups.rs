//! Consumer groups over HTTP (SPEC §9): concurrent fetches on every node get disjoint messages,
//! a long-poll wakes on a publish and on a lease running out, acks and nacks, the numbers, and
//! the errors.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use axum::http::Method;
use futures::future::join_all;
use serde_json::{json, Value};

use crate::harness::Cluster;

async fn publish(c: &Cluster, node: usize, topic: &str, values: impl IntoIterator<Item = String>) {
    let messages: Vec<Value> = values.into_iter().map(|v| json!({ "value": v })).collect();
    let (status, v, _) = c
        .call(
            node,
            Method::POST,
            &format!("/v1/topics/{topic}/messages"),
            &json!({ "messages": messages }).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{v}");
}

async fn fetch(c: &Cluster, node: usize, path: &str, max: u32, wait_ms: u64) -> Vec<Value> {
    let (status, v, _) = c
        .call(
            node,
            Method::POST,
            &format!("{path}/fetch"),
            &json!({"max_messages": max, "wait_ms": wait_ms}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v["messages"].as_array().unwrap().clone()
}

fn offsets(ms: &[Value]) -> Vec<u64> {
    ms.iter().map(|m| m["offset"].as_u64().unwrap()).collect()
}

async fn post(c: &Cluster, node: usize, path: &str, body: Value) -> (u16, Value) {
    let (status, v, _) = c.call(node, Method::POST, path, &body.to_string()).await;
    (status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_fetches_on_every_node_get_disjoint_messages() {
    let c = Cluster::three().await;
    publish(&c, 0, "work", (0..60).map(|i| format!("m{i}"))).await;
    let path = "/v1/topics/work/groups/g";
    // Six fetchers, two per node, each fetching until the group has nothing left.
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
                    assert_eq!(m["partition"], 0, "{m}");
                    assert_eq!(m["value"].as_str().unwrap(), format!("m{}", m["offset"]));
                }
                got.extend(offsets(&ms));
            }
        }
    });
    let all: Vec<u64> = join_all(fetchers).await.into_iter().flatten().collect();
    let distinct: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(all.len(), distinct.len(), "a message leased twice: {all:?}");
    assert_eq!(distinct, (0..60).collect(), "every message leased once");

    let (status, v, _) = c.call(1, Method::GET, path, "").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["in_flight"].as_u64(), v["pending"].as_u64()),
        (Some(60), Some(0)),
        "{v}"
    );
    // One ack op for all of them, through a follower.
    let refs: Vec<Value> = (0..60)
        .map(|o| json!({"partition": 0, "offset": o}))
        .collect();
    let (status, v) = post(
        &c,
        c.follower_index(),
        &format!("{path}/ack"),
        json!({ "messages": refs }),
    )
    .await;
    assert_eq!((status, v["count"].as_u64()), (200, Some(60)), "{v}");
    // The ack was answered once the follower applied it; the leader applied it before.
    let (_, v, _) = c.call(c.leader_index(), Method::GET, path, "").await;
    assert_eq!(
        (
            v["in_flight"].as_u64(),
            v["acked_floor"].as_u64(),
            v["lag"].as_u64()
        ),
        (Some(0), Some(60), Some(0)),
        "{v}"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_wakes_on_a_publish() {
    let c = Cluster::three().await;
    publish(&c, 0, "lp", ["first".to_string()]).await;
    let path = "/v1/topics/lp/groups/g";
    let f = c.follower_index();
    // A group from the high watermark on: nothing to deliver yet (no fetch subscribed so far).
    let (status, v, _) = c
        .call(
            f,
            Method::PUT,
            path,
            &json!({"start": "latest"}).to_string(),
        )
        .await;
    assert_eq!((status, v["pending"].as_u64()), (200, Some(0)), "{v}");
    let entries_before = c.node(f).node.topic_store().notifier_entries();
    let started = Instant::now();
    let (got, ()) = tokio::join!(fetch(&c, f, path, 10, 20_000), async {
        // Publish once the fetch waits (it subscribed to the topic's wake-ups).
        c.wait("the fetch waits", |c| {
            (c.node(f).node.topic_store().notifier_entries() > entries_before).then_some(())
        })
        .await;
        publish(&c, c.leader_index(), "lp", ["second".to_string()]).await;
    });
    assert_eq!(offsets(&got), vec![1]);
    assert_eq!(got[0]["value"], "second");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_message_comes_back_after_ack_wait_and_an_acknowledged_one_never() {
    let c = Cluster::one(|_| {}).await;
    publish(&c, 0, "t", ["a".to_string(), "b".to_string()]).await;
    let path = "/v1/topics/t/groups/g";
    let (status, v, _) = c
        .call(
            0,
            Method::PUT,
            path,
            &json!({"ack_wait_ms": 300, "max_deliveries": 3}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["ack_wait_ms"].as_u64(), v["pending"].as_u64()),
        (Some(300), Some(2)),
        "{v}"
    );
    assert_eq!(offsets(&fetch(&c, 0, path, 10, 0).await), vec![0, 1]);
    let (status, v) = post(
        &c,
        0,
        &format!("{path}/ack"),
        json!({"messages": [{"offset": 1}]}),
    )
    .await;
    assert_eq!((status, v["count"].as_u64()), (200, Some(1)), "{v}");
    // The long-poll wakes when offset 0's lease runs out; offset 1 never comes back.
    let started = Instant::now();
    let again = fetch(&c, 0, path, 10, 10_000).await;
    assert_eq!(offsets(&again), vec![0]);
    assert_eq!(again[0]["delivery"], 2);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let again = fetch(&c, 0, path, 10, 10_000).await;
    assert_eq!(
        (offsets(&again), again[0]["delivery"].as_u64()),
        (vec![0], Some(3))
    );
    // Out of deliveries (3) and no dead-letter topic: dropped, counted, never delivered again.
    assert!(fetch(&c, 0, path, 10, 1_000).await.is_empty());
    let (_, v, _) = c.call(0, Method::GET, path, "").await;
    assert_eq!(
        (
            v["dropped"].as_u64(),
            v["redelivered"].as_u64(),
            v["acked_floor"].as_u64(),
            v["lag"].as_u64()
        ),
        (Some(1), Some(2), Some(2), Some(0)),
        "{v}"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacks_hand_back_at_once_or_later_and_info_counts_them() {
    let c = Cluster::one(|_| {}).await;
    publish(&c, 0, "t", (0..5).map(|i| i.to_string())).await;
    let path = "/v1/topics/t/groups/g";
    assert_eq!(
        offsets(&fetch(&c, 0, path, 5, 0).await),
        vec![0, 1, 2, 3, 4]
    );
    let ack = format!("{path}/ack");
    let nack = format!("{path}/nack");
    let (_, v) = post(
        &c,
        0,
        &ack,
        json!({"messages": [{"partition": 0, "offset": 0}, {"offset": 1}]}),
    )
    .await;
    assert_eq!(v["count"], 2, "{v}");
    let (_, v) = post(&c, 0, &nack, json!({"messages": [{"offset": 2}]})).await;
    assert_eq!(v["count"], 1, "{v}");
    let (_, v) = post(
        &c,
        0,
        &nack,
        json!({"messages": [{"offset": 3}], "delay_ms": 600_000}),
    )
    .await;
    assert_eq!(v["count"], 1, "{v}");
    // Already acknowledged: harmless (a retried ack succeeds), not counted.
    let (status, v) = post(&c, 0, &ack, json!({"messages": [{"offset": 0}]})).await;
    assert_eq!((status, v["count"].as_u64()), (200, Some(0)), "{v}");
    // Never delivered (offset 99, or a partition the topic lacks): 400, and nothing changes,
    // not even the valid message beside it (offset 4, still leased below).
    for bad in [json!({"offset": 99}), json!({"partition": 7, "offset": 0})] {
        for call in [&ack, &nack] {
            let (status, v) = post(&c, 0, call, json!({"messages": [{"offset": 4}, bad]})).await;
            assert_eq!(
                (status, v["error"]["code"].as_str()),
                (400, Some("not_delivered")),
                "{call}: {v}"
            );
        }
    }

    let (_, v, _) = c.call(0, Method::GET, path, "").await;
    assert_eq!(
        (
            v["pending"].as_u64(),
            v["in_flight"].as_u64(),
            v["acked_floor"].as_u64(),
            v["lag"].as_u64()
        ),
        (Some(2), Some(1), Some(2), Some(3)),
        "{v}"
    );
    let got = fetch(&c, 0, path, 5, 0).await;
    assert_eq!(
        (offsets(&got), got[0]["delivery"].as_u64()),
        (vec![2], Some(2))
    );

    let (_, v, _) = c.call(0, Method::GET, "/v1/topics/t/groups", "").await;
    assert_eq!(v["groups"][0]["group"], "g", "{v}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_errors_follow_the_spec_and_deleting_the_topic_removes_its_groups() {
    let c = Cluster::one(|_| {}).await;
    let code = |v: &Value| v["error"]["code"].as_str().map(str::to_string);
    let (status, v) = post(&c, 0, "/v1/topics/none/groups/g/fetch", json!({})).await;
    assert_eq!(
        (status, code(&v).as_deref()),
        (404, Some("topic_not_found"))
    );
    publish(&c, 0, "t", ["x".to_string()]).await;
    let (status, v, _) = c.call(0, Method::GET, "/v1/topics/t/groups/nope", "").await;
    assert_eq!(
        (status, code(&v).as_deref()),
        (404, Some("group_not_found"))
    );
    let (status, v) = post(
        &c,
        0,
        "/v1/topics/t/groups/nope/ack",
        json!({"messages": []}),
    )
    .await;
    assert_eq!(
        (status, code(&v).as_deref()),
        (404, Some("group_not_found"))
    );
    let (status, v, _) = c
        .call(0, Method::DELETE, "/v1/topics/t/groups/nope", "")
        .await;
    assert_eq!(
        (status, code(&v).as_deref()),
        (404, Some("group_not_found"))
    );
    for (path, body) in [
        ("fetch", json!({"max_messages": 0})),
        ("fetch", json!({"max_messages": 5, "extra": 1})),
        ("ack", json!({"messages": [{"offset": "x"}]})),
        ("ack", json!({})),
    ] {
        let (status, v) = post(
            &c,
            0,
            &format!("/v1/topics/t/groups/g/{path}"),
            body.clone(),
        )
        .await;
        assert_eq!(
            (status, code(&v).as_deref()),
            (400, Some("invalid_field")),
            "{body}: {v}"
        );
    }
    for body in [
        json!({"start": "middle"}),
        json!({"max_deliveries": 0}),
        json!({"dead_letter_topic": "t"}),
    ] {
        let (status, v, _) = c
            .call(0, Method::PUT, "/v1/topics/t/groups/g", &body.to_string())
            .await;
        assert_eq!(
            (status, code(&v).as_deref()),
            (400, Some("invalid_field")),
            "{body}: {v}"
        );
    }
    let (status, v, _) = c
        .call(
            0,
            Method::PUT,
            "/v1/topics/t/groups/late",
            &json!({"start": "latest"}).to_string(),
        )
        .await;
    assert_eq!((status, v["pending"].as_u64()), (200, Some(0)), "{v}");
    assert!(fetch(&c, 0, "/v1/topics/t/groups/late", 1, 0)
        .await
        .is_empty());
    assert_eq!(fetch(&c, 0, "/v1/topics/t/groups/g", 1, 0).await.len(), 1);

    let (status, _, _) = c.call(0, Method::DELETE, "/v1/topics/t", "").await;
    assert_eq!(status, 200);
    publish(&c, 0, "t", ["y".to_string()]).await;
    let (_, v, _) = c.call(0, Method::GET, "/v1/topics/t/groups", "").await;
    assert_eq!(v["groups"], json!([]), "{v}");
    let (status, v, _) = c.call(0, Method::DELETE, "/v1/topics/t/groups/g", "").await;
    assert_eq!(
        (status, code(&v).as_deref()),
        (404, Some("group_not_found"))
    );
    c.shutdown().await;
}

/// `--metrics-group-labels 2`: lag and in-flight series for the first two groups by name, the
/// third added up in `topic="other",group="other"`; without the flag no per-group series at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_group_series_are_opt_in_and_capped() {
    let c = Cluster::one(|cfg| cfg.group_metrics_limit = 2).await;
    publish(&c, 0, "t", (0..5).map(|i| i.to_string())).await;
    for g in ["a", "b", "c"] {
        // each group leases 1 of the 5: lag 5, in flight 1
        fetch(&c, 0, &format!("/v1/topics/t/groups/{g}"), 1, 0).await;
    }
    let m = c.node(0).node.node_metrics().groups.clone();
    let series = move || {
        let get = |t: &str, g: &str| {
            (
                m.lag_per_group.with_label_values(&[t, g]).get(),
                m.in_flight_per_group.with_label_values(&[t, g]).get(),
            )
        };
        [get("t", "a"), get("t", "b"), get("other", "other")]
    };
    c.wait("per-group series for a, b and the rest", |_| {
        (series() == [(5, 1), (5, 1), (5, 1)]).then_some(())
    })
    .await;
    c.shutdown().await;

    let c = Cluster::one(|_| {}).await;
    publish(&c, 0, "t", ["x".to_string()]).await;
    fetch(&c, 0, "/v1/topics/t/groups/a", 1, 0).await;
    let m = c.node(0).node.node_metrics().groups.clone();
    c.wait("the aggregate shows the group", |_| {
        (m.in_flight.get() == 1).then_some(())
    })
    .await;
    use prometheus::core::Collector;
    assert!(
        m.lag_per_group.collect()[0].get_metric().is_empty(),
        "no per-group series without the flag"
    );
    c.shutdown().await;
}

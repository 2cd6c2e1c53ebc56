//! Issue 16, consumer visibility for named consumers: every position listed with its lag, on
//! every node; a position deleted (replicated through Raft) or reset backwards; a topic's
//! positions capped by `--max-consumers-per-topic`; the lag gauges on `/metrics`.

use axum::body::Body;
use axum::http::{Method, Request};
use jumpnet_broker::api::{self, AppState};
use jumpnet_broker::auth::Auth;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::harness::Cluster;

async fn publish(c: &Cluster, i: usize, topic: &str, n: usize) {
    let messages: Vec<Value> = (0..n)
        .map(|k| json!({ "value": format!("v{k}") }))
        .collect();
    let body = json!({ "messages": messages }).to_string();
    let (status, resp, _) = c
        .call(
            i,
            Method::POST,
            &format!("/v1/topics/{topic}/messages"),
            &body,
        )
        .await;
    assert_eq!(status, 200, "{resp}");
}

async fn commit(c: &Cluster, i: usize, name: &str, topic: &str, offset: u64) -> (u16, Value) {
    let (status, body, _) = c
        .call(
            i,
            Method::PUT,
            &format!("/v1/consumers/{name}/topics/{topic}"),
            &json!({ "offset": offset }).to_string(),
        )
        .await;
    (status, body)
}

async fn list(c: &Cluster, i: usize, path: &str) -> Vec<(String, String, u64, u64, u64)> {
    let (status, body, _) = c.call(i, Method::GET, path, "").await;
    assert_eq!(status, 200, "{path}: {body}");
    body["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["partition"], 0, "{e}");
            (
                e["name"].as_str().unwrap().to_string(),
                e["topic"].as_str().unwrap().to_string(),
                e["offset"].as_u64().unwrap(),
                e["end_offset"].as_u64().unwrap(),
                e["lag"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn row(
    name: &str,
    topic: &str,
    offset: u64,
    end: u64,
    lag: u64,
) -> (String, String, u64, u64, u64) {
    (name.into(), topic.into(), offset, end, lag)
}

/// Every node lists `want` at `path` (followers apply a little after the leader answered).
async fn wait_listed(c: &Cluster, path: &str, want: &[(String, String, u64, u64, u64)]) {
    let deadline = tokio::time::Instant::now() + crate::harness::PATIENCE;
    for (i, _) in c.live() {
        loop {
            // A topic the leader just (re)created is a 404 on a follower until it applied it.
            let (status, body, _) = c.call(i, Method::GET, path, "").await;
            if status == 200 && list(c, i, path).await == want {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {i} {path}: {status} {body}, want {want:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn named_consumers_are_listed_with_their_lag_and_deleted_through_raft() {
    let c = Cluster::three().await;
    let (l, f) = (c.leader_index(), c.follower_index());
    publish(&c, l, "jobs", 10).await;
    publish(&c, f, "logs", 3).await;
    assert_eq!(commit(&c, f, "a", "jobs", 4).await.0, 200);
    assert_eq!(commit(&c, l, "b", "jobs", 10).await.0, 200);
    assert_eq!(commit(&c, f, "a", "logs", 0).await.0, 200);

    let all = vec![
        row("a", "jobs", 4, 10, 6),
        row("b", "jobs", 10, 10, 0),
        row("a", "logs", 0, 3, 3),
    ];
    wait_listed(&c, "/v1/consumers", &all).await;
    wait_listed(&c, "/v1/consumers?topic=jobs", &all[..2]).await;
    wait_listed(&c, "/v1/topics/logs/consumers", &all[2..]).await;
    let (status, body, _) = c
        .call(f, Method::GET, "/v1/topics/nope/consumers", "")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("topic_not_found"))
    );
    assert_eq!(list(&c, f, "/v1/consumers?topic=nope").await, vec![]);

    // A reset: PUT moves a position backwards as well.
    let (status, body) = commit(&c, f, "b", "jobs", 1).await;
    assert_eq!(
        (status, body["offset"].as_u64(), body["lag"].as_u64()),
        (200, Some(1), Some(9))
    );

    // Delete through a follower: replicated, so every node forgets it.
    let (status, body, _) = c
        .call(f, Method::DELETE, "/v1/consumers/a/topics/jobs", "")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"consumer": "a", "topic": "jobs", "deleted": true})
    );
    wait_listed(
        &c,
        "/v1/consumers",
        &[row("b", "jobs", 1, 10, 9), row("a", "logs", 0, 3, 3)],
    )
    .await;
    let (status, body, _) = c
        .call(l, Method::GET, "/v1/consumers/a/topics/jobs", "")
        .await;
    assert_eq!(
        (status, body["committed"].as_bool()),
        (200, Some(false)),
        "{body}"
    );
    let (status, body, _) = c
        .call(l, Method::DELETE, "/v1/consumers/a/topics/jobs", "")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("consumer_not_found"))
    );
    let (status, body, _) = c
        .call(l, Method::DELETE, "/v1/consumers/a/topics/nope", "")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("topic_not_found"))
    );

    // Deleting a topic deletes its positions; a topic of the same name starts with none.
    let (status, _, _) = c.call(f, Method::DELETE, "/v1/topics/jobs", "").await;
    assert_eq!(status, 200);
    wait_listed(&c, "/v1/consumers", &[row("a", "logs", 0, 3, 3)]).await;
    publish(&c, l, "jobs", 1).await;
    wait_listed(&c, "/v1/topics/jobs/consumers", &[]).await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_topic_holds_at_most_max_consumers_per_topic_positions() {
    let c = Cluster::one(|cfg| cfg.max_consumers_per_topic = 2).await;
    publish(&c, 0, "jobs", 5).await;
    publish(&c, 0, "other", 5).await;
    assert_eq!(commit(&c, 0, "c1", "jobs", 1).await.0, 200);
    assert_eq!(commit(&c, 0, "c2", "jobs", 2).await.0, 200);
    let (status, body) = commit(&c, 0, "c3", "jobs", 3).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("too_many_consumers")),
        "{body}"
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--max-consumers-per-topic (2)"));
    // The seed's named consumers create positions too: refused the same way.
    let (status, body, _) = c.call(0, Method::GET, "/jobs?consumer=c3", "").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("too_many_consumers")),
        "{body}"
    );
    // Existing positions still move, and the cap is per topic.
    assert_eq!(commit(&c, 0, "c1", "jobs", 5).await.0, 200);
    assert_eq!(commit(&c, 0, "c3", "other", 0).await.0, 200);
    assert_eq!(list(&c, 0, "/v1/topics/jobs/consumers").await.len(), 2);
    // Deleting one makes room.
    let (status, _, _) = c
        .call(0, Method::DELETE, "/v1/consumers/c2/topics/jobs", "")
        .await;
    assert_eq!(status, 200);
    assert_eq!(commit(&c, 0, "c3", "jobs", 3).await.0, 200);
    c.shutdown().await;
}

async fn metrics(c: &Cluster, i: usize) -> String {
    let n = c.node(i);
    let app = api::router(AppState::new(&n.node, n.writer.clone(), Auth::open()));
    let req = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn consumer_lag_gauges_aggregate_and_label_consumers_only_when_asked() {
    let labelled = Cluster::one(|cfg| cfg.consumer_metrics_limit = 2).await;
    let plain = Cluster::one(|_| {}).await;
    for c in [&labelled, &plain] {
        publish(c, 0, "jobs", 10).await;
        publish(c, 0, "logs", 3).await;
        for (name, topic, offset) in [("a", "jobs", 4), ("b", "jobs", 10), ("a", "logs", 0)] {
            assert_eq!(commit(c, 0, name, topic, offset).await.0, 200);
        }
    }
    for c in [&labelled, &plain] {
        let text = metrics(c, 0).await;
        assert_eq!(
            sample(&text, "jumpnet_consumer_positions"),
            Some(3.0),
            "{text}"
        );
        assert_eq!(sample(&text, "jumpnet_consumer_lag_messages"), Some(6.0));
        assert_eq!(
            sample(&text, "jumpnet_consumer_lag_sum_messages"),
            Some(9.0)
        );
    }
    // Capped at 2 series (key order: topic, then name), the rest added up in `other`.
    let text = metrics(&labelled, 0).await;
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("jumpnet_consumer_position_lag_messages{"))
        .collect();
    assert_eq!(series.len(), 3, "{series:?}");
    assert_eq!(
        sample(
            &text,
            r#"jumpnet_consumer_position_lag_messages{consumer="a",topic="jobs"}"#
        ),
        Some(6.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"jumpnet_consumer_position_lag_messages{consumer="b",topic="jobs"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"jumpnet_consumer_position_lag_messages{consumer="other",topic="other"}"#
        ),
        Some(3.0)
    );
    let text = metrics(&plain, 0).await;
    assert!(
        !text.contains("jumpnet_consumer_position_lag_messages{"),
        "{text}"
    );

    // A position that catches up lowers the gauges at the next scrape.
    assert_eq!(commit(&plain, 0, "a", "jobs", 10).await.0, 200);
    let text = metrics(&plain, 0).await;
    assert_eq!(sample(&text, "jumpnet_consumer_lag_messages"), Some(3.0));
    assert_eq!(
        sample(&text, "jumpnet_consumer_lag_sum_messages"),
        Some(3.0)
    );
    labelled.shutdown().await;
    plain.shutdown().await;
}

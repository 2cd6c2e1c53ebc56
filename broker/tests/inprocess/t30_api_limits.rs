//! The API's bounds (durability review H1, M3, L4, M5a): slow readers cannot starve the state
//! machine, every read is bounded in bytes, reads of unknown topics leave nothing behind, the
//! in-flight limit answers 503, `Last-Event-ID` cannot overflow, and an offset past a node's high
//! watermark with `wait_ms` long-polls instead of an immediate 416.

use std::io::Write;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use http_body_util::BodyExt;
use jumpnet_broker::api::{self, AppState};
use jumpnet_broker::auth::Auth;
use jumpnet_broker::command::{NewMessage, Publish};
use jumpnet_broker::server::{self, Running};
use jumpnet_broker::Config;
use serde_json::Value;
use tower::ServiceExt;

use crate::harness::{ELECTION_TIMEOUT, PATIENCE};

/// One node that bootstraps itself; returns once it is ready.
pub(crate) async fn one(dir: &std::path::Path, tune: impl FnOnce(&mut Config)) -> Running {
    let mut c = Config::new(dir, "127.0.0.1:0", "127.0.0.1:0").unwrap();
    c.election_timeout = ELECTION_TIMEOUT;
    c.commit_timeout = Duration::from_secs(5);
    c.shutdown_grace = Duration::ZERO;
    tune(&mut c);
    let n = server::spawn(c).await.unwrap();
    wait("the node is ready", || n.node.readiness().is_ok()).await;
    n
}

async fn wait(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn publish(n: &Running, topic: &str, values: Vec<String>) {
    n.writer
        .publish(Publish {
            topic: topic.into(),
            messages: values.into_iter().map(NewMessage::new).collect(),
            producer: None,
            publisher: None,
            partition: 0,
            kafka: None,
        })
        .await
        .unwrap();
}

fn router(n: &Running) -> Router {
    api::router(AppState::new(&n.node, n.writer.clone(), Auth::open()))
}

fn get(path: &str) -> Request<Body> {
    Request::builder().uri(path).body(Body::empty()).unwrap()
}

async fn call(app: &Router, req: Request<Body>) -> (u16, Value, Option<String>) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        retry_after,
    )
}

/// H1: with a main blocking pool of 2 threads, 8 `/history` clients that never read do not stop
/// a publish (before the fix each parked a blocking thread for good and apply queued behind them).
#[test]
fn history_readers_that_never_read_do_not_stall_publishes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let n = one(dir.path(), |c| c.max_request_bytes = 1 << 20).await;
        // 12 MiB: far more than a reader's socket buffers and channel hold.
        let value = "x".repeat(1024);
        for _ in 0..24 {
            publish(&n, "hist", vec![value.clone(); 500]).await;
        }
        let m = n.node.node_metrics().clone();
        let consumed_before = m.messages_consumed.get();
        let mut readers = Vec::new();
        for _ in 0..8 {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            s.set_recv_buffer_size(4096).unwrap();
            s.connect(&n.api_addr.into()).unwrap();
            let mut s: std::net::TcpStream = s.into();
            s.write_all(b"GET /history/hist HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            readers.push(s); // never read
        }
        // Each reader is sent its first page (about 1000 messages) at least.
        wait("the readers are being served", || {
            m.messages_consumed.get() >= consumed_before + 8 * 500
        })
        .await;

        let url = format!("http://{}/v1/topics/hist/messages", n.api_addr);
        let started = std::time::Instant::now();
        let resp = tokio::time::timeout(
            Duration::from_secs(10),
            reqwest::Client::new()
                .post(&url)
                .json(&serde_json::json!({"messages": [{"value": "after"}]}))
                .send(),
        )
        .await
        .expect("the publish was answered")
        .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            200,
            "{}",
            resp.text().await.unwrap()
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "publish took {:?}",
            started.elapsed()
        );
        drop(readers);
        n.abort().await;
    });
}

/// A node whose requests may carry 16 KiB, with 100 values of 1 KiB published on topic `t`.
async fn kib_values_under_a_16_kib_budget(dir: &std::path::Path) -> (Running, Vec<String>) {
    let n = one(dir, |c| {
        c.max_message_bytes = 2048;
        c.max_request_bytes = 16 * 1024;
    })
    .await;
    let values: Vec<String> = (0..100)
        .map(|i| format!("{i:04}{}", "v".repeat(996)))
        .collect();
    publish(&n, "t", values.clone()).await;
    (n, values)
}

/// M3: seed `GET /{topic}?limit=` answers the newest values that fit `max_request_bytes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_newest_is_bounded_by_max_request_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (n, values) = kib_values_under_a_16_kib_budget(dir.path()).await;
    let app = router(&n);
    let (status, v, _) = call(&app, get("/t?limit=100")).await;
    assert_eq!(status, 200, "{v}");
    let got: Vec<String> = serde_json::from_value(v).unwrap();
    assert!(
        !got.is_empty() && got.len() <= 17,
        "{} values of 1 KiB for a 16 KiB budget",
        got.len()
    );
    assert_eq!(
        got[..],
        values[100 - got.len()..],
        "the newest, oldest first"
    );
    n.abort().await;
}

/// M3: `/history` pages are bounded by `max_request_bytes` too; the whole answer is still complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_are_bounded_by_max_request_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (n, values) = kib_values_under_a_16_kib_budget(dir.path()).await;
    let resp = router(&n).oneshot(get("/history/t")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut body = resp.into_body();
    let (mut all, mut largest) = (Vec::new(), 0);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            largest = largest.max(data.len());
            all.extend_from_slice(&data);
        }
    }
    assert!(largest <= 20 * 1024, "a page of {largest} bytes");
    let got: Vec<String> = serde_json::from_slice(&all).unwrap();
    assert_eq!(got, values);
    n.abort().await;
}

/// M3: reads of unknown topics answer 404 and register nothing for the names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_of_unknown_topics_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let n = one(dir.path(), |_| {}).await;
    let app = router(&n);
    for i in 0..200 {
        let (status, v, _) = call(
            &app,
            get(&format!("/v1/topics/nope-{i}/messages?wait_ms=1")),
        )
        .await;
        assert_eq!(status, 404, "{v}");
    }
    assert_eq!(n.node.topic_store().notifier_entries(), 0);
    n.abort().await;
}

/// M3: beyond `max_in_flight_requests`, 503 `unavailable` with `Retry-After`; health is exempt;
/// the permit comes back when the request ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_in_flight_limit_answer_503() {
    let dir = tempfile::tempdir().unwrap();
    let n = one(dir.path(), |c| c.max_in_flight_requests = 1).await;
    publish(&n, "t", vec!["a".into()]).await;
    let app = router(&n);
    let m = n.node.node_metrics().clone();
    let parked = tokio::spawn({
        let app = app.clone();
        async move { call(&app, get("/v1/topics/t/messages?offset=1&wait_ms=30000")).await }
    });
    wait("the long-poll is in flight", || m.http_in_flight.get() == 1).await;
    let (status, v, retry_after) = call(&app, get("/v1/topics/t")).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{v}"
    );
    assert_eq!(retry_after.as_deref(), Some("1"));
    for path in ["/livez", "/metrics"] {
        assert_eq!(call(&app, get(path)).await.0, 200, "{path}");
    }
    parked.abort();
    let _ = parked.await;
    let (status, v, _) = call(&app, get("/v1/topics/t")).await;
    assert_eq!(status, 200, "{v}");
    n.abort().await;
}

/// L4: `Last-Event-ID: u64::MAX` is out of range (416), not a wrap to offset 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_at_u64_max_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let n = one(dir.path(), |_| {}).await;
    publish(&n, "t", vec!["a".into()]).await;
    let req = Request::builder()
        .uri("/v1/topics/t/stream")
        .header("last-event-id", u64::MAX.to_string())
        .body(Body::empty())
        .unwrap();
    let resp = router(&n).oneshot(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 416);
    n.abort().await;
}

/// M5 (a): an offset past this node's high watermark with `wait_ms` waits for it to exist; without
/// `wait_ms` (after the node caught up with the leader) it is still 416.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offset_past_the_high_watermark_long_polls() {
    let dir = tempfile::tempdir().unwrap();
    let n = one(dir.path(), |_| {}).await;
    publish(&n, "t", vec!["a".into()]).await;
    let app = router(&n);
    let (status, v, _) = call(&app, get("/v1/topics/t/messages?offset=2")).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (416, Some("offset_out_of_range")),
        "{v}"
    );
    let m = n.node.node_metrics().clone();
    let reader = tokio::spawn({
        let app = app.clone();
        async move { call(&app, get("/v1/topics/t/messages?offset=2&wait_ms=20000")).await }
    });
    wait("the long-poll is in flight", || m.http_in_flight.get() == 1).await;
    publish(&n, "t", vec!["b".into(), "c".into()]).await;
    let (status, v, _) = reader.await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["messages"][0]["offset"], 2, "{v}");
    assert_eq!(v["messages"][0]["value"], "c", "{v}");
    n.abort().await;
}

//! Storage failures: a full disk refuses writes before storing anything (503) and the node stays
//! alive; a storage error that stops Raft answers the writes it cut short "outcome unknown" (504)
//! and fails `/livez`, so the node gets restarted.

use axum::http::Method;

use crate::harness::Cluster;

const PUBLISH: &str = r#"{"messages":[{"value":"v"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_short_of_disk_space_refuses_writes_with_503_and_stays_alive() {
    // No volume has this much free: every write that adds data is refused.
    let c = Cluster::one(|config| config.min_free_bytes = u64::MAX / 4).await;
    let (status, v, retry_after) = c.call(0, Method::PUT, "/v1/topics/t", "{}").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("insufficient storage"),
        "{v}"
    );
    assert_eq!(retry_after.as_deref(), Some("1"));
    // Nothing was stored, and the node is healthy: a restart would not help.
    let (status, v, _) = c.call(0, Method::GET, "/v1/topics", "").await;
    assert_eq!(status, 200, "{v}");
    assert!(!v.to_string().contains("\"t\""), "{v}");
    assert_eq!(c.call(0, Method::GET, "/livez", "").await.0, 200);
    assert_eq!(c.call(0, Method::GET, "/readyz", "").await.0, 200);
    assert!(c.node(0).node.raft_failure().is_none());
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storage_error_in_apply_answers_504_and_fails_livez() {
    let c = Cluster::one(|_| {}).await;
    let (status, v, _) = c
        .call(0, Method::POST, "/v1/topics/t/messages", PUBLISH)
        .await;
    assert!(status == 200 || status == 201, "{status} {v}");
    assert_eq!(c.call(0, Method::GET, "/livez", "").await.0, 200);

    // The segment files' directory goes away: the next apply cannot append (like EIO/ENOSPC).
    let state_dir = c.node(0).node.config().state_dir.clone();
    for entry in std::fs::read_dir(&state_dir).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("data") {
            std::fs::remove_dir_all(entry.path()).unwrap();
        }
    }
    let (status, v, _) = c
        .call(0, Method::POST, "/v1/topics/t/messages", PUBLISH)
        .await;
    // The entry was committed before its apply failed: never "nothing stored".
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (504, Some("commit_timeout")),
        "{v}"
    );
    let why = c
        .wait("raft reports its failure", |c| {
            c.node(0).node.raft_failure()
        })
        .await;
    assert!(why.contains("append to a segment"), "{why}");
    let (status, v, _) = c.call(0, Method::GET, "/livez", "").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{v}"
    );
    // What `serve` waits on before it exits non-zero.
    let failed = tokio::time::timeout(crate::harness::PATIENCE, c.node(0).node.raft_failed())
        .await
        .expect("raft_failed resolves");
    assert_eq!(failed, why);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_requested_stop_is_not_a_failure() {
    let mut c = Cluster::one(|_| {}).await;
    let node = c.node(0).node.clone();
    c.abort(0).await;
    assert_eq!(node.raft_failure(), None);
    c.shutdown().await;
}

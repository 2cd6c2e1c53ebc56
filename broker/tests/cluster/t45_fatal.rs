//! A storage error that stops Raft: the node says so on `/livez` and in one log line, then exits
//! non-zero for its supervisor to restart it (instead of looking alive forever).

use std::time::Duration;

use crate::harness::{wait_until, Cluster};

#[tokio::test(flavor = "multi_thread")]
async fn a_fatal_storage_error_fails_livez_and_exits_non_zero() {
    let mut c = Cluster::new();
    c.add(None, &[]);
    c.wait_voters(&[0], 1).await;
    c.put(0, "t", "before").await.unwrap();

    // The segment files' directory goes away: the next apply cannot append (like EIO/ENOSPC).
    for entry in std::fs::read_dir(&c.nodes[0].dir).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("data") {
            std::fs::remove_dir_all(entry.path()).unwrap();
        }
    }
    let refused = c.put(0, "t", "after").await.unwrap_err();
    assert!(refused.starts_with("504"), "{refused}");
    let (status, v) = c
        .get(0, "/livez")
        .await
        .expect("still answering during the grace");
    assert_eq!(status, 503, "{v}");

    let code = wait_until("the process exits", Duration::from_secs(30), || {
        let code = c.nodes[0].exit_code();
        async move { code }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    assert_ne!(code, 0);
    let log = std::fs::read_to_string(c.nodes[0].log_path()).unwrap();
    assert!(
        log.contains("raft stopped on a fatal error") && log.contains("append to a segment"),
        "{}",
        c.logs()
    );
}

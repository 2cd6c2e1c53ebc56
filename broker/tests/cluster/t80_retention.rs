//! Retention: the leader trims through the log, every replica cuts at the same offset, and the
//! disk space comes back.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::harness::{wait_until, Cluster};

async fn topic(c: &Cluster, i: usize, t: &str) -> serde_json::Value {
    c.get(i, &format!("/v1/topics/{t}")).await.unwrap().1
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_trims_the_same_offsets_on_every_replica() {
    let c = Cluster::three(&["--retention-max-messages", "1000000"]).await;
    let set = |t: &str, r: serde_json::Value| {
        let t = t.to_string();
        let c = &c;
        async move {
            let (s, v) = c
                .send(
                    Method::PUT,
                    0,
                    &format!("/v1/topics/{t}"),
                    &json!({ "retention": r }).to_string(),
                )
                .await
                .unwrap();
            assert!(s == 200 || s == 201, "{v}");
        }
    };
    set("count", json!({"max_messages": 10})).await;
    set("size", json!({"max_bytes": 1000})).await;
    set("age", json!({"max_age_ms": 400})).await;
    for i in 0..50 {
        c.put(i % 3, "count", &format!("c{i}")).await.unwrap();
        c.put(i % 3, "size", &format!("{i:0>100}")).await.unwrap();
    }
    for i in 0..5 {
        c.put(0, "age", &format!("a{i}")).await.unwrap();
    }
    for i in 0..3 {
        let t = wait_until("count trimmed", Duration::from_secs(15), || async {
            Some(topic(&c, i, "count").await).filter(|t| t["log_start_offset"] == 40)
        })
        .await
        .unwrap_or_else(|e| panic!("node {i}: {e}\n{}", c.logs()));
        assert_eq!(
            (t["messages"].as_u64(), t["high_watermark"].as_u64()),
            (Some(10), Some(50))
        );
        assert_eq!(
            c.history(i, "count").await.unwrap(),
            (40..50).map(|n| format!("c{n}")).collect::<Vec<_>>()
        );
        let (s, e) = c
            .get(i, "/v1/topics/count/messages?offset=39")
            .await
            .unwrap();
        assert_eq!(
            (s, e["error"]["log_start_offset"].as_u64()),
            (416, Some(40))
        );

        let t = wait_until("size trimmed", Duration::from_secs(15), || async {
            Some(topic(&c, i, "size").await).filter(|t| t["log_start_offset"] == 40)
        })
        .await
        .unwrap();
        assert_eq!(
            t["bytes"].as_u64(),
            Some(1000),
            "ten 100-byte messages fit in 1000 bytes"
        );

        wait_until("age trimmed", Duration::from_secs(15), || async {
            Some(topic(&c, i, "age").await).filter(|t| t["log_start_offset"] == 5)
        })
        .await
        .unwrap();
    }
}

fn du(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        du(&e.path())
                    } else {
                        e.metadata().map_or(0, |m| m.len())
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn trimming_gives_disk_space_back() {
    let mut c = Cluster::new();
    // Small segments and frequent checkpoints, so trimmed data sits in whole deletable files.
    c.add(
        None,
        &["--snapshot-every", "100", "--segment-bytes", "1048576"],
    );
    c.wait_voters(&[0], 1).await;
    let value = "x".repeat(16 * 1024);
    let batch: Vec<serde_json::Value> = (0..32).map(|_| json!({ "value": value })).collect();
    let body = json!({ "messages": batch }).to_string();
    for _ in 0..64 {
        // 64 × 32 × 16 KiB = 32 MiB
        let (s, v) = c
            .send(Method::POST, 0, "/v1/topics/bulk/messages", &body)
            .await
            .unwrap();
        assert_eq!(s, 200, "{v}");
    }
    let full = wait_until("written data on disk", Duration::from_secs(10), || async {
        let d = du(&c.nodes[0].dir);
        (d > 32 << 20).then_some(d)
    })
    .await
    .unwrap();
    let (s, _) = c
        .send(
            Method::PUT,
            0,
            "/v1/topics/bulk",
            &json!({"retention": {"max_messages": 32}}).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(s, 200);
    // Keep writing small entries so the log rolls over snapshots and purges.
    let shrunk = wait_until("the state dir shrank", Duration::from_secs(60), || async {
        c.put(0, "tick", "t").await.ok()?;
        let d = du(&c.nodes[0].dir);
        (d < full / 2).then_some(d)
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {} bytes on disk, {full} before\n{}",
            du(&c.nodes[0].dir),
            c.logs()
        )
    });
    eprintln!(
        "state dir: {full} bytes with 32 MiB retained, {shrunk} after trimming to 32 messages"
    );
    assert_eq!(topic(&c, 0, "bulk").await["messages"].as_u64(), Some(32));
}

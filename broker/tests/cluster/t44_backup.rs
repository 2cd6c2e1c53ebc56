//! Backup and restore (docs/broker-contract.md, part 4): a backup taken from a live cluster under
//! writes restores into a fresh node (over HTTP with `init`, or from a file with
//! `serve --restore-from`) as a new cluster holding the same messages; damaged or unreachable
//! backups change nothing.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::harness::{wait_until, Cluster};

const SNAPSHOT: &str = "/v1/admin/snapshot?consistency=strong";

/// Serve `body` to one GET on a port of its own (a stand-in for an object store).
async fn serve_once(body: Vec<u8>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/backup", l.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut req = [0u8; 4096];
        let _ = tokio::io::AsyncReadExt::read(&mut s, &mut req).await;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body).await.unwrap();
        s.shutdown().await.unwrap();
    });
    url
}

async fn init(c: &Cluster, i: usize, url: &str) -> (u16, Value) {
    let body = json!({ "restore_from": url }).to_string();
    c.send(Method::POST, i, "/v1/cluster/init", &body)
        .await
        .unwrap()
}

/// A 3-node cluster with 40 messages in `kept` and writes going on in `busy` while a backup is
/// downloaded from node 1: (cluster, the backup, `kept`'s messages, the source's cluster id).
async fn backed_up_cluster() -> (Cluster, Vec<u8>, Vec<String>, Value) {
    let c = Cluster::three(&[]).await;
    let mut acked = Vec::new();
    for i in 0..40 {
        let v = format!("k{i}");
        c.put(i % 3, "kept", &v).await.unwrap();
        acked.push(v);
    }
    let api = c.nodes[0].api();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = json!({"Key": "busy", "Value": format!("b{n}")}).to_string();
                let _ = http.put(format!("{api}/")).body(body).send().await;
                n += 1;
            }
        })
    };
    let r = reqwest::get(format!("{}{SNAPSHOT}", c.nodes[1].api()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let bytes = r.bytes().await.unwrap().to_vec();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    let cluster_id = c.view(1).await.unwrap()["cluster_id"].clone();
    assert_eq!(h["jumpnet-snapshot-format"], "1");
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(
        h["jumpnet-cluster-id"].to_str().unwrap(),
        cluster_id.as_str().unwrap()
    );
    assert!(
        h["jumpnet-applied-index"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 40
    );
    (c, bytes, acked, cluster_id)
}

/// `busy` on node `restored` is a prefix of `busy` on the source's node 0.
async fn busy_is_a_prefix(c: &Cluster, restored: usize) {
    let src = c.history(0, "busy").await.unwrap_or_default();
    let got = c.history(restored, "busy").await.unwrap_or_default();
    assert!(got.len() <= src.len() && src[..got.len()] == got[..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_under_writes_restores_into_a_fresh_node_as_a_new_cluster() {
    let (mut c, backup, acked, source_id) = backed_up_cluster().await;
    let fresh = c.add(None, &["--managed", "--node-id", "1"]);
    let (s, _) = c
        .send(Method::OPTIONS, 0, "/v1/admin/snapshot", "")
        .await
        .unwrap();
    assert_ne!(s, 404);

    // Damaged, truncated, unreachable: refused, and the node stays of no cluster.
    let mut damaged = backup.clone();
    damaged[backup.len() / 2] ^= 0x40;
    for bad in [
        damaged,
        backup[..backup.len() / 2].to_vec(),
        b"hello".to_vec(),
    ] {
        let (s, v) = init(&c, fresh, &serve_once(bad).await).await;
        assert_eq!(
            (s, &v["error"]["code"]),
            (400, &json!("invalid_snapshot")),
            "{v}"
        );
    }
    for url in [
        "http://127.0.0.1:1/backup".to_string(),
        format!("{}/v1/nothing", c.nodes[0].api()),
    ] {
        let (s, v) = init(&c, fresh, &url).await;
        assert_eq!(
            (s, &v["error"]["code"]),
            (502, &json!("restore_fetch_failed")),
            "{v}"
        );
    }
    let v = c.view(fresh).await.unwrap();
    assert_eq!(v["cluster_id"], Value::Null, "{v}");
    assert_eq!(v["members"], json!([]), "{v}");

    // From the source node's own URL.
    let url = format!("{}{SNAPSHOT}", c.nodes[2].api());
    let (s, v) = init(&c, fresh, &url).await;
    assert_eq!(s, 200, "{v}\n{}", c.logs());
    assert_ne!(v["cluster_id"], source_id);
    assert_eq!(v["leader_id"], 1);
    let (s, v) = init(&c, fresh, &url).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (409, &json!("already_initialized")),
        "{v}"
    );
    c.wait_voters(&[fresh], 1).await;
    assert_eq!(c.history(fresh, "kept").await.unwrap(), acked);
    busy_is_a_prefix(&c, fresh).await;
    assert_eq!(c.put(fresh, "kept", "after").await.unwrap(), 40);

    // A member added later catches up by Raft snapshot (the restored log starts after it).
    let joined = c.add(Some(fresh), &[]);
    c.wait_voters(&[fresh, joined], 2).await;
    let h = wait_until(
        "the new member has the data",
        Duration::from_secs(20),
        || async { c.history(joined, "kept").await.filter(|h| h.len() == 41) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    assert_eq!(h[..40], acked[..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_restore_from_a_file_loads_an_empty_state_dir_only() {
    let (mut c, backup, acked, source_id) = backed_up_cluster().await;
    let file = c.tmp.path().join("backup.bin");
    std::fs::write(&file, &backup).unwrap();
    let file = file.display().to_string();
    let n = c.add(None, &["--restore-from", &file]);
    c.wait_voters(&[n], 1).await;
    let v = c.view(n).await.unwrap();
    assert!(
        v["cluster_id"].is_string() && v["cluster_id"] != source_id,
        "{v}"
    );
    assert_eq!(c.history(n, "kept").await.unwrap(), acked);
    busy_is_a_prefix(&c, n).await;
    c.put(n, "kept", "after").await.unwrap();

    // Again on the same (now used) state dir: refused in one line, exit 64.
    c.nodes[n].kill();
    c.nodes[n].start();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(code) = c.nodes[n].exit_code() {
            break code;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(code, 64, "{}", c.nodes[n].log_tail());
    assert!(c.nodes[n]
        .log_tail()
        .contains("already holds a cluster's data"));
}

//! A full-cluster restart keeps every acknowledged message.

use std::time::Duration;

use crate::harness::{wait_until, Cluster};

#[tokio::test(flavor = "multi_thread")]
async fn full_cluster_restart_keeps_every_acknowledged_message() {
    let mut c = Cluster::three(&[]).await;
    let mut acked = Vec::new();
    for i in 0..60 {
        let v = format!("r{i}");
        c.put(i % 3, "durable", &v).await.unwrap();
        acked.push(v);
    }
    // Crash all three at once (kill -9): nothing gets a chance to flush on the way out.
    for n in c.nodes.iter_mut() {
        n.kill();
    }
    for n in c.nodes.iter_mut() {
        n.start();
    }
    c.wait_voters(&[0, 1, 2], 3).await;
    for i in 0..3 {
        let h = wait_until("history back", Duration::from_secs(20), || async {
            c.history(i, "durable").await.filter(|h| h.len() >= 60)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
        assert_eq!(h, acked, "node {i} after restart");
    }
    // The restarted cluster keeps taking writes at the next offset.
    assert_eq!(c.put(1, "durable", "after").await.unwrap(), 60);
}

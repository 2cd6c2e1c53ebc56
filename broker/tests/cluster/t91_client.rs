//! The Rust client: failover to another node without losing or duplicating a publish.

use std::time::Duration;

use jumpnet_broker::client::{Client, OutMessage, Producer};

use crate::harness::{wait_until, Cluster};

#[tokio::test(flavor = "multi_thread")]
async fn producer_fails_over_without_losing_or_duplicating_a_publish() {
    let mut c = Cluster::three(&[]).await;
    let servers: Vec<String> = c.nodes.iter().map(|n| n.api()).collect();
    let client = Client::builder(&servers)
        .timeout(Duration::from_secs(5))
        .retry_for(Duration::from_secs(30))
        .build()
        .unwrap();
    let producer = Producer::new(client.clone());
    let mut sent = Vec::new();
    for i in 0..40 {
        let v = format!("m{i}");
        producer
            .send("orders", vec![OutMessage::from(v.as_str())])
            .await
            .unwrap();
        sent.push(v);
    }
    // The client talks to the first server; kill that node (kill -9) and keep publishing.
    c.nodes[0].kill();
    for i in 40..80 {
        let v = format!("m{i}");
        producer
            .send("orders", vec![OutMessage::from(v.as_str())])
            .await
            .unwrap_or_else(|e| panic!("publish {i} after the kill: {e}"));
        sent.push(v);
    }
    let h = wait_until(
        "survivors have every message",
        Duration::from_secs(10),
        || async {
            c.history(1, "orders")
                .await
                .filter(|h| h.len() >= sent.len())
        },
    )
    .await
    .unwrap();
    assert_eq!(h, sent, "every publish exactly once, in order");

    // Reads and streams also move on.
    let page = client.read("orders", Some(0), 1000, None).await.unwrap();
    assert_eq!(page.messages.len(), 80);
    let pos = client.commit("billing", "orders", 10).await.unwrap();
    assert_eq!((pos.offset, pos.lag), (10, 70));
}

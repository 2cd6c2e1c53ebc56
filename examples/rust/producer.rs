//! Publish messages through a Jumpnet cluster, exactly once, with failover between nodes.
//!
//! ```sh
//! cargo run --release -p jumpnet-broker --example producer -- \
//!     --servers http://127.0.0.1:9090,http://127.0.0.1:9091,http://127.0.0.1:9092 --topic orders --count 10
//! ```

use std::time::Duration;

use jumpnet_broker::client::{Client, OutMessage, Producer};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let servers = arg(
        "--servers",
        "http://127.0.0.1:9090,http://127.0.0.1:9091,http://127.0.0.1:9092",
    );
    let topic = arg("--topic", "orders");
    let count: u64 = arg("--count", "10").parse()?;
    let client = Client::builder([servers.as_str()])
        // JUMPNET_TOKEN, JUMPNET_CACERT, JUMPNET_CERT and JUMPNET_CERT_KEY, as the CLI reads them.
        .from_env()?
        .timeout(Duration::from_secs(10))
        .build()?;
    // One producer id for the whole run: a batch retried after a failure is stored once.
    let producer = Producer::new(client);
    for i in 0..count {
        let message = OutMessage {
            key: Some(format!("customer-{}", i % 3)),
            ..OutMessage::from(format!("order-{i}"))
        };
        let sent = producer.send(&topic, vec![message]).await?;
        println!("published order-{i} at offset {}", sent.base_offset);
    }
    Ok(())
}

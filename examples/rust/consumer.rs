//! Follow a topic as a named consumer: resume from its committed position, print each message,
//! commit its position at most once a second (each commit is a Raft write) and at exit. Stops
//! after `--count` messages (or runs until Ctrl-C without it).
//!
//! ```sh
//! cargo run --release -p jumpnet-broker --example consumer -- \
//!     --servers http://127.0.0.1:9090,http://127.0.0.1:9091 --topic orders --group billing --count 10
//! ```

use futures::StreamExt;
use jumpnet_broker::client::{AutoCommit, Client, COMMIT_INTERVAL};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let servers = arg("--servers").unwrap_or_else(|| {
        "http://127.0.0.1:9090,http://127.0.0.1:9091,http://127.0.0.1:9092".into()
    });
    let topic = arg("--topic").unwrap_or_else(|| "orders".into());
    let group = arg("--group").unwrap_or_else(|| "billing".into());
    let count: Option<u64> = arg("--count").map(|c| c.parse()).transpose()?;
    let client = Client::builder([servers.as_str()])
        // JUMPNET_TOKEN, JUMPNET_CACERT, JUMPNET_CERT and JUMPNET_CERT_KEY, as the CLI reads them.
        .from_env()?
        .build()?;

    // Where this consumer left off (the log start the first time).
    let position = client.position(&group, &topic).await?;
    let from = if position.committed {
        position.offset
    } else {
        position.log_start_offset
    };
    eprintln!(
        "{group} reads {topic} from offset {from} (lag {})",
        position.lag
    );

    let mut stream = Box::pin(client.stream(&topic, Some(from)));
    let mut commit = AutoCommit::new(client.clone(), &group, &topic, COMMIT_INTERVAL);
    let mut seen = 0;
    while let Some(message) = stream.next().await {
        let m = message?;
        println!(
            "{} {} {}",
            m.offset,
            m.key.as_deref().unwrap_or("-"),
            m.text()
        );
        commit.mark(m.offset + 1).await?;
        seen += 1;
        if count.is_some_and(|c| seen >= c) {
            break;
        }
    }
    commit.flush().await?;
    Ok(())
}

//! NATS JetStream load: each worker is its own client connection that publishes one message and
//! waits for the stream's ack before the next: "synchronous publishers", as `nats bench --js
//! --sync` runs them.

use std::time::Instant;

use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use clap::Args;
use serde_json::json;

use crate::report::{self, Tally};
use crate::Load;

#[derive(Args)]
pub struct NatsArgs {
    /// Server URL(s), comma-separated; every worker connects to the first it reaches.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    servers: String,
    #[arg(long, default_value = "bench.publish")]
    subject: String,
    #[command(flatten)]
    load: Load,
}

#[derive(Args)]
pub struct StreamArgs {
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    servers: String,
    #[arg(long, default_value = "BENCH")]
    name: String,
    #[arg(long, default_value = "bench.>")]
    subjects: String,
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    /// "file" or "memory".
    #[arg(long, default_value = "file")]
    storage: String,
}

/// Replace the stream, then print the name of the server that leads it.
pub async fn create_stream(a: StreamArgs) -> anyhow::Result<()> {
    let client = async_nats::connect(a.servers.as_str()).await?;
    let js = jetstream::new(client);
    let _ = js.delete_stream(&a.name).await;
    let storage = match a.storage.as_str() {
        "file" => stream::StorageType::File,
        "memory" => stream::StorageType::Memory,
        s => anyhow::bail!("--storage {s:?}: use file or memory"),
    };
    let mut s = js
        .create_stream(stream::Config {
            name: a.name.clone(),
            subjects: vec![a.subjects.clone()],
            storage,
            num_replicas: a.replicas,
            ..Default::default()
        })
        .await?;
    let info = s.info().await?;
    let leader = info
        .cluster
        .as_ref()
        .and_then(|c| c.leader.clone())
        .unwrap_or_default();
    println!("{leader}");
    Ok(())
}

pub async fn run(a: NatsArgs) -> anyhow::Result<()> {
    let payload = Bytes::from("x".repeat(a.load.message_size));
    let mut clients = Vec::new();
    for _ in 0..a.load.connections {
        clients.push(async_nats::connect(a.servers.as_str()).await?);
    }
    let deadline = Instant::now() + a.load.duration();
    let started = Instant::now();
    let mut workers = Vec::new();
    for client in clients {
        let (subject, payload) = (a.subject.clone(), payload.clone());
        workers.push(tokio::spawn(async move {
            let js = jetstream::new(client);
            let mut tally = Tally::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let acked = async { js.publish(subject.clone(), payload.clone()).await?.await };
                match acked.await {
                    Ok(_) => tally.record(t.elapsed()),
                    Err(e) => tally.error(e),
                }
            }
            tally
        }));
    }
    let mut tallies = Vec::new();
    for w in workers {
        tallies.push(w.await?);
    }
    let phase = report::phase("publish", tallies, started.elapsed(), a.load.message_size);
    let cfg = json!({ "client": "async-nats (jetstream publish, await ack)", "servers": a.servers, "subject": a.subject });
    report::finish(&a.load, cfg, phase)
}

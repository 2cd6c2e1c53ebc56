//! `jumpnet-loadgen`: the closed-loop load generator behind `bench/compare-*.sh`.
//!
//! Every system is driven the same way: N connections, each with exactly one request in flight
//! (send, wait for the answer, send the next), fixed-size values, for a fixed time. That is
//! "64 synchronous publishers awaiting acks" for NATS JetStream and "64 keep-alive connections" for
//! an HTTP API (Jumpnet's `PUT /` and v1 publish, etcd's `/v3/kv/put`). Results go to stdout and,
//! with `--json FILE`, to the JSON shape `jumpnet bench --json` writes (bench/README.md).
//!
//! ```text
//!  main ── http::run  (hyper, one HTTP/1.1 connection per worker) ──┐
//!       └─ nats::run  (async-nats, one client connection per worker) ┴─▶ report: histogram, JSON
//! ```

mod http;
mod nats;
mod report;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "jumpnet-loadgen",
    about = "closed-loop load for bench/compare-*.sh"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One request at a time per connection to an HTTP endpoint.
    Http(http::HttpArgs),
    /// JetStream publish, waiting for each ack, one publisher per client connection.
    Nats(nats::NatsArgs),
    /// Create (or replace) the JetStream stream the `nats` load publishes into.
    NatsStream(nats::StreamArgs),
}

/// What every load shares.
#[derive(Args, Clone)]
pub struct Load {
    /// Concurrent connections, each with one request in flight.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Bytes of each message value.
    #[arg(long, default_value_t = 100)]
    pub message_size: usize,
    /// Name of this run in the report (e.g. "nats jetstream R3").
    #[arg(long, default_value = "run")]
    pub label: String,
    /// The system under load, for the report ("jumpnet", "etcd", "nats").
    #[arg(long, default_value = "unknown")]
    pub system: String,
    /// Write the result as JSON here too.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Extra `key=value` pairs recorded in the report's config (nodes, durability notes).
    #[arg(long = "note", value_parser = parse_note)]
    pub notes: Vec<(String, String)>,
}

impl Load {
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration)
    }
}

fn parse_note(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("--note wants key=value, got {s:?}"))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cli.cmd {
            Cmd::Http(a) => http::run(a).await,
            Cmd::Nats(a) => nats::run(a).await,
            Cmd::NatsStream(a) => nats::create_stream(a).await,
        }
    })
}

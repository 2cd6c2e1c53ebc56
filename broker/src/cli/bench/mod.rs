//! `jumpnet bench`: a load generator against one cluster, with a latency histogram and percentiles
//! per phase and a JSON result (`--json FILE`) that `bench/plot` and `bench/summarize.py` read.
//!
//! | mode | phases | what it measures |
//! |---|---|---|
//! | default | `publish` (+ `consume` with `--consumers`) | producers publish fixed-size messages, v1 batches or the seed's `PUT /` one at a time; consumers read them back with v1 long-polls |
//! | `--backlog N` | `fill` (only what is missing), `read` | fills a topic to N messages, then one reader consumes all of it from one node with v1 paged reads or SSE (`--read`), sampling the node's RSS |
//! | `--kafka ADDRS` | `produce` | the same producers through the Kafka listener: `--producers` connections, `--concurrency` Produce requests in flight on each, record batches of `--batch-size`, acks=all |
//! | `--kafka ADDRS --backlog N` | `fill`, `fetch` | fills over Kafka Produce, drains with Kafka Fetch from the first address |
//!
//! Files: `publish.rs`, `backlog.rs` and `kafka.rs` (its wire: `kafka_wire.rs`) run the modes,
//! `report.rs` turns what they counted into figures, text and the JSON document (its shape is
//! documented there and in bench/README.md).

mod backlog;
mod kafka;
mod kafka_wire;
mod publish;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::{json, Map, Value};

use super::client_cmds::{Conn, Output};

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST /v1/topics/{topic}/messages` with `--batch-size` messages.
    V1,
    /// The seed's `PUT /`, one message per request.
    Seed,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadApi {
    /// `GET /v1/topics/{topic}/messages?offset=..&limit=--page-size`, page after page.
    V1,
    /// `GET /v1/topics/{topic}/stream` (Server-Sent Events) from the first offset.
    Sse,
    /// A consumer group (SPEC §9): `--consumers` workers (at least 1) fetch `--page-size` (at
    /// most 1000) leased messages at a time and acknowledge each batch with one call.
    Group,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Topic to load (default: a fresh one per run).
    #[arg(long)]
    pub topic: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
    #[arg(long, default_value_t = 0)]
    pub consumers: usize,
    /// Bytes per message.
    #[arg(long, default_value_t = 100)]
    pub message_size: usize,
    /// Messages per publish request (v1 API).
    #[arg(long, default_value_t = 1)]
    pub batch_size: usize,
    /// Requests in flight per producer.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// How long to publish (e.g. 10s, 500ms, 1m).
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Stop after this many messages instead (wins over --duration).
    #[arg(long)]
    pub count: Option<u64>,
    /// Target publish rate in messages per second (default: as fast as possible).
    #[arg(long)]
    pub rate: Option<f64>,
    #[arg(long, value_enum, default_value_t = Api::V1)]
    pub api: Api,
    /// Backlog mode: make the topic hold this many messages (publishing only what is missing), then
    /// read all of them from the first --server and report the read throughput and the node's memory.
    #[arg(long)]
    pub backlog: Option<u64>,
    /// How the backlog is read.
    #[arg(long, value_enum, default_value_t = ReadApi::V1)]
    pub read: ReadApi,
    /// Benchmark this consumer group: `--read group` over a backlog (`--backlog`, default
    /// 100000); `--read group` without it uses a new group per run.
    #[arg(long)]
    pub group: Option<String>,
    /// Messages per v1 read request (at most 10000), and per histogram sample of an SSE read.
    #[arg(long, default_value_t = 10_000)]
    pub page_size: usize,
    /// Kafka mode: drive the Kafka listener at these HOST:PORT addresses (comma-separated;
    /// connections go round-robin over them) instead of the HTTP API: `--producers` connections
    /// with `--concurrency` Produce requests in flight each, or with `--backlog` a Kafka fill and a
    /// Fetch drain. `--server` is then only used to sample the node's memory during the drain.
    #[arg(long)]
    pub kafka: Option<String>,
    /// Kafka mode: the Produce acks, -1 (all) or 1; Jumpnet answers both after the quorum commit.
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub acks: i16,
    /// Kafka mode: max_bytes (and partition_max_bytes) of each Fetch of the drain (Kafka clients'
    /// max.partition.fetch.bytes default is 1 MiB).
    #[arg(long, default_value_t = 1 << 20)]
    pub fetch_max_bytes: i32,
    /// Messages per publish request while filling a backlog.
    #[arg(long, default_value_t = 1_000)]
    pub fill_batch_size: usize,
    /// Also write the result as JSON to this file (schema jumpnet-bench/1, bench/README.md).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Name of this run in the JSON result (default: derived from the mode and API).
    #[arg(long)]
    pub label: Option<String>,
    #[command(flatten)]
    pub conn: Conn,
}

/// What a mode hands back: its own config entries, its phases, and top-level legacy fields.
pub struct Outcome {
    pub config: Map<String, Value>,
    pub phases: Vec<Value>,
    pub legacy: Map<String, Value>,
}

/// The backlog `--group` drains when `--backlog` is not given.
const GROUP_BACKLOG: u64 = 100_000;

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        _ => return Err(format!("bad duration unit in {s:?} (use ms, s or m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

pub async fn run(mut a: BenchArgs) -> anyhow::Result<()> {
    // `--group G` alone benchmarks a consumer group draining a backlog.
    if a.group.is_some() {
        a.read = ReadApi::Group;
        a.backlog = a.backlog.or(Some(GROUP_BACKLOG));
    }
    anyhow::ensure!(
        a.producers > 0 && a.concurrency > 0 && a.batch_size > 0,
        "--producers, --concurrency and --batch-size must be at least 1"
    );
    anyhow::ensure!(
        a.api == Api::V1 || a.batch_size == 1,
        "--api seed publishes one message per request: use --batch-size 1"
    );
    anyhow::ensure!(
        (1..=10_000).contains(&a.page_size) && a.fill_batch_size > 0,
        "--page-size must be 1..=10000 and --fill-batch-size at least 1"
    );
    let kafka_addrs: Option<Vec<String>> = a.kafka.as_ref().map(|k| {
        k.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    anyhow::ensure!(
        kafka_addrs.is_none() || (a.group.is_none() && a.consumers == 0 && a.rate.is_none()),
        "--kafka drives Produce (and Fetch with --backlog): no --group, --consumers or --rate"
    );
    anyhow::ensure!(
        a.fetch_max_bytes > 0,
        "--fetch-max-bytes must be at least 1"
    );
    let (mode, out) = match (&kafka_addrs, a.backlog) {
        (Some(k), _) => ("produce", kafka::run(&a, k).await?),
        (None, Some(n)) => ("backlog", backlog::run(&a, n).await?),
        (None, None) => ("publish", publish::run(&a).await?),
    };
    let api = format!("{:?}", a.api).to_lowercase();
    let mut config = json!({
        "mode": mode,
        "api": api,
        "servers": a.conn.server,
        "connections": a.producers * a.concurrency,
        "producers": a.producers,
        "concurrency": a.concurrency,
        "in_flight_per_connection": 1,
        "message_size": a.message_size,
        "batch_size": a.batch_size,
        "duration_s": a.duration.as_secs_f64(),
        "count": a.count,
        "rate": a.rate,
        "consumers": a.consumers,
    });
    if let Some(o) = config.as_object_mut() {
        o.extend(out.config);
    }
    let label = a.label.clone().unwrap_or_else(|| match a.backlog {
        _ if kafka_addrs.is_some() => match a.backlog {
            Some(n) => format!("jumpnet kafka backlog fetch of {n}"),
            None => format!("jumpnet kafka produce batch {}", a.batch_size),
        },
        Some(n) => format!(
            "jumpnet backlog read of {n}, {}",
            format!("{:?}", a.read).to_lowercase()
        ),
        None => format!("jumpnet bench {api} batch {}", a.batch_size),
    });
    let doc = report::document(&label, config, out.phases, out.legacy);
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .map_err(|e| anyhow::anyhow!("--json {}: {e}", path.display()))?;
    }
    match a.conn.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&doc)?),
        Output::Text => {
            for p in doc["phases"].as_array().into_iter().flatten() {
                report::print_phase(p);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_take_ms_s_and_m() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("fast").is_err());
    }
}

//! `jumpnet bench`: a load generator. Producers publish batches of fixed-size messages (v1 API, or
//! the seed's `PUT /` one message at a time), consumers read them back; it prints throughput and
//! latency percentiles (HDR histogram), with a live progress line on a terminal and a JSON summary
//! with `--output json`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use jumpnet_broker::client::OutMessage;
use serde_json::json;

use super::client_cmds::{is_terminal, Conn, Output, TICK};

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST /v1/topics/{topic}/messages` with `--batch-size` messages.
    V1,
    /// The seed's `PUT /`, one message per request.
    Seed,
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
    #[command(flatten)]
    pub conn: Conn,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.trim().split_at(
        s.trim()
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.trim().len()),
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

struct Stats {
    sent: AtomicU64,
    received: AtomicU64,
    errors: AtomicU64,
    /// Request latency in microseconds.
    latency: Mutex<Histogram<u64>>,
}

pub async fn run(a: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.producers > 0 && a.concurrency > 0 && a.batch_size > 0,
        "--producers, --concurrency and --batch-size must be at least 1"
    );
    anyhow::ensure!(
        a.api == Api::V1 || a.batch_size == 1,
        "--api seed publishes one message per request: use --batch-size 1"
    );
    let client = a.conn.client()?;
    let topic = a
        .topic
        .clone()
        .unwrap_or_else(|| format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
    let start_offset = client
        .topic(&topic)
        .await
        .map(|t| t.high_watermark)
        .unwrap_or(0);
    let stats = Arc::new(Stats {
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        latency: Mutex::new(
            Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
        ),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let payload = "x".repeat(a.message_size);
    let workers = a.producers * a.concurrency;
    // Each worker claims whole batches from this budget, so exactly --count messages go out.
    let budget = Arc::new(AtomicU64::new(a.count.unwrap_or(u64::MAX)));
    let per_worker_interval = a
        .rate
        .map(|r| Duration::from_secs_f64(a.batch_size as f64 * workers as f64 / r.max(0.001)));
    let http = reqwest::Client::new();
    let started = Instant::now();

    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, stats, stop, budget, topic, payload, http) = (
            client.clone(),
            stats.clone(),
            stop.clone(),
            budget.clone(),
            topic.clone(),
            payload.clone(),
            http.clone(),
        );
        let (batch, api, server, token) = (
            a.batch_size as u64,
            a.api,
            client.servers()[0].clone(),
            a.conn.token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut next_at = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if budget
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(batch))
                    .is_err()
                {
                    break;
                }
                if let Some(iv) = per_worker_interval {
                    next_at += iv;
                    tokio::time::sleep_until(next_at.into()).await;
                }
                let t = Instant::now();
                let ok = match api {
                    Api::V1 => {
                        let msgs: Vec<OutMessage> = (0..batch)
                            .map(|_| OutMessage::from(payload.as_str()))
                            .collect();
                        client.publish(&topic, msgs).await.is_ok()
                    }
                    Api::Seed => {
                        let mut req = http
                            .put(format!("{server}/"))
                            .json(&json!({"Key": topic, "Value": payload}));
                        if let Some(t) = &token {
                            req = req.bearer_auth(t);
                        }
                        req.send().await.is_ok_and(|r| r.status().is_success())
                    }
                };
                if ok {
                    stats.sent.fetch_add(batch, Ordering::Relaxed);
                    let us = t.elapsed().as_micros().max(1) as u64;
                    stats
                        .latency
                        .lock()
                        .expect("histogram lock")
                        .saturating_record(us);
                } else {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    let consumers_done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..a.consumers {
        let (client, stats, topic, done) = (
            client.clone(),
            stats.clone(),
            topic.clone(),
            consumers_done.clone(),
        );
        readers.push(tokio::spawn(async move {
            let mut next = start_offset;
            let mut mine = 0u64;
            while !done.load(Ordering::Relaxed) {
                match client
                    .read(&topic, Some(next), 10_000, Some(Duration::from_millis(200)))
                    .await
                {
                    Ok(page) => {
                        mine += page.messages.len() as u64;
                        next = page.next_offset;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            stats.received.fetch_max(mine, Ordering::Relaxed);
        }));
    }

    let progress = is_terminal() && a.conn.output == Output::Text;
    let deadline = if a.count.is_some() {
        None
    } else {
        Some(started + a.duration)
    };
    loop {
        let all_done = tasks.iter().all(|t| t.is_finished());
        if all_done || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        tokio::time::sleep(TICK).await;
        if progress {
            let secs = started.elapsed().as_secs_f64();
            let sent = stats.sent.load(Ordering::Relaxed);
            let p99 = stats
                .latency
                .lock()
                .expect("histogram lock")
                .value_at_quantile(0.99) as f64
                / 1000.0;
            eprint!(
                "\r{secs:6.1}s  sent {sent:>10}  {:>10.0} msg/s  p99 {p99:7.2} ms  errors {}   ",
                sent as f64 / secs,
                stats.errors.load(Ordering::Relaxed)
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed();
    if progress {
        eprintln!();
    }
    // Consumers read until they saw everything that was acknowledged (or give up after 30 s).
    let sent = stats.sent.load(Ordering::Relaxed);
    if a.consumers > 0 {
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            let hw = client
                .topic(&topic)
                .await
                .map(|t| t.high_watermark)
                .unwrap_or(0);
            if hw.saturating_sub(start_offset) >= sent {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Give readers a last long-poll round to reach the end.
        tokio::time::sleep(Duration::from_millis(400)).await;
        consumers_done.store(true, Ordering::Relaxed);
        for r in readers {
            let _ = r.await;
        }
    }

    let h = stats.latency.lock().expect("histogram lock").clone();
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let secs = elapsed.as_secs_f64();
    let summary = json!({
        "topic": topic,
        "api": format!("{:?}", a.api).to_lowercase(),
        "producers": a.producers,
        "consumers": a.consumers,
        "concurrency": a.concurrency,
        "batch_size": a.batch_size,
        "message_size": a.message_size,
        "duration_s": secs,
        "messages_sent": sent,
        "messages_received": stats.received.load(Ordering::Relaxed),
        "requests": h.len(),
        "errors": stats.errors.load(Ordering::Relaxed),
        "throughput_msgs_per_s": sent as f64 / secs,
        "throughput_mb_per_s": sent as f64 * a.message_size as f64 / secs / 1e6,
        "latency_ms": {
            "p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "p999": ms(0.999),
            "max": h.max() as f64 / 1000.0, "mean": h.mean() / 1000.0,
        },
    });
    if a.conn.output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        let l = &summary["latency_ms"];
        println!(
            "{sent} messages in {secs:.2}s: {:.0} msg/s, {:.2} MB/s ({} errors)\nlatency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            summary["throughput_msgs_per_s"].as_f64().unwrap_or(0.0),
            summary["throughput_mb_per_s"].as_f64().unwrap_or(0.0),
            summary["errors"],
            l["p50"].as_f64().unwrap_or(0.0),
            l["p90"].as_f64().unwrap_or(0.0),
            l["p99"].as_f64().unwrap_or(0.0),
            l["p999"].as_f64().unwrap_or(0.0),
            l["max"].as_f64().unwrap_or(0.0),
        );
        if a.consumers > 0 {
            println!("consumed: {} messages", summary["messages_received"]);
        }
    }
    Ok(())
}

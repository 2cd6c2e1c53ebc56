//! The backlog mode: how fast one consumer drains a large backlog from one node, and whether the
//! node's memory stays flat while it does.
//!
//! ```text
//!  fill:  the topic is topped up to --backlog messages (batches of --fill-batch-size)
//!  read:  one reader, from the log start to the high watermark seen when the read began:
//!         v1   GET /v1/topics/T/messages?offset=O&limit=--page-size, page after page
//!         sse  GET /v1/topics/T/stream?offset=START, events counted as they arrive
//!         group --consumers workers of one consumer group: fetch --page-size leased messages,
//!               acknowledge the batch (one call), until every message is acknowledged
//!  meanwhile: the node's process_resident_memory_bytes from /metrics, every 200 ms
//! ```
//!
//! The reader only counts: a page is decoded without building its messages, and SSE events are
//! counted by their `id:` lines, so the figure is the node's, not the client's JSON handling.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use jumpnet_broker::client::{MessageRef, OutMessage};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::report::{Counts, Phase};
use super::{BenchArgs, Outcome, ReadApi};

const MEMORY_EVERY: Duration = Duration::from_millis(200);
/// Cap on a v1 page's bytes (the node caps it again at its --max-request-bytes).
const PAGE_BYTES: u64 = 8 << 20;

/// A v1 page, decoded only as far as the reader needs.
#[derive(Deserialize)]
struct Page {
    messages: Vec<serde::de::IgnoredAny>,
    next_offset: u64,
}

pub async fn run(a: &BenchArgs, target: u64) -> anyhow::Result<Outcome> {
    let client = a.conn.client()?;
    let server = client.servers()[0].clone();
    let topic = a
        .topic
        .clone()
        .unwrap_or_else(|| format!("bench-backlog-{target}"));
    let have = match client.topic(&topic).await {
        Ok(t) => t.high_watermark.saturating_sub(t.log_start_offset),
        Err(_) => 0,
    };
    let mut phases = Vec::new();
    if have < target {
        phases.push(fill(a, &topic, target - have).await?);
    }
    let info = client.topic(&topic).await?;
    let (from, to) = (info.log_start_offset, info.high_watermark);

    let http = a.conn.http()?;
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(sample_memory(
        http.clone(),
        server.clone(),
        a.conn.token.clone(),
        sampling.clone(),
    ));
    let phase = Phase::new("read");
    let started = Instant::now();
    let read = match a.read {
        ReadApi::V1 => read_v1(a, &http, &server, &topic, from, to, &phase).await,
        ReadApi::Sse => read_sse(a, &http, &server, &topic, from, to, &phase).await,
        ReadApi::Group => read_group(a, &topic, to.saturating_sub(from), &phase).await,
    };
    let elapsed = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let rss = sampler.await.unwrap_or_default();
    let (messages, errors) = read?;
    let memory = memory_json(&rss);
    phases.push(phase.json(
        Counts {
            messages,
            errors,
            elapsed,
            message_size: a.message_size,
        },
        json!({
            "api": format!("{:?}", a.read).to_lowercase(),
            "from_offset": from,
            "to_offset": to,
            "page_size": a.page_size,
            "server": server,
            "memory": memory,
            "note": "latency per --page-size messages read",
        }),
    ));
    let mut config = Map::new();
    config.insert("topic".into(), json!(topic));
    config.insert("backlog".into(), json!(target));
    config.insert("read".into(), json!(format!("{:?}", a.read).to_lowercase()));
    config.insert("fill_batch_size".into(), json!(a.fill_batch_size));
    Ok(Outcome {
        config,
        phases,
        legacy: Map::from_iter([("topic".to_string(), json!(topic))]),
    })
}

/// Publish `n` messages in batches with `--producers` × `--concurrency` workers.
async fn fill(a: &BenchArgs, topic: &str, n: u64) -> anyhow::Result<Value> {
    let client = a.conn.client()?;
    let phase = Arc::new(Phase::new("fill"));
    let budget = Arc::new(AtomicU64::new(n));
    let (sent, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let payload = "x".repeat(a.message_size);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.producers * a.concurrency {
        let (client, phase, budget, sent, errors, topic, payload) = (
            client.clone(),
            phase.clone(),
            budget.clone(),
            sent.clone(),
            errors.clone(),
            topic.to_string(),
            payload.clone(),
        );
        let batch = a.fill_batch_size as u64;
        tasks.push(tokio::spawn(async move {
            let mut failures = 0;
            while let Ok(left) = budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                b.checked_sub(1).map(|_| b.saturating_sub(batch))
            }) {
                let take = left.min(batch);
                let msgs: Vec<OutMessage> = (0..take)
                    .map(|_| OutMessage::from(payload.as_str()))
                    .collect();
                let t = Instant::now();
                match client.publish(&topic, msgs).await {
                    Ok(_) => {
                        phase.record(t.elapsed());
                        sent.fetch_add(take, Ordering::Relaxed);
                    }
                    Err(e) => {
                        // Give the batch back: the backlog must reach its size.
                        budget.fetch_add(take, Ordering::SeqCst);
                        errors.fetch_add(1, Ordering::Relaxed);
                        failures += 1;
                        anyhow::ensure!(failures < 20, "filling the backlog failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(phase.json(
        Counts {
            messages: sent.load(Ordering::Relaxed),
            errors: errors.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
            message_size: a.message_size,
        },
        json!({"batch_size": a.fill_batch_size}),
    ))
}

fn authed(req: reqwest::RequestBuilder, token: &Option<String>) -> reqwest::RequestBuilder {
    match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    }
}

async fn read_v1(
    a: &BenchArgs,
    http: &reqwest::Client,
    server: &str,
    topic: &str,
    from: u64,
    to: u64,
    phase: &Phase,
) -> anyhow::Result<(u64, u64)> {
    let (mut next, mut got) = (from, 0u64);
    while next < to {
        let url = format!(
            "{server}/v1/topics/{topic}/messages?offset={next}&limit={}&max_bytes={PAGE_BYTES}",
            a.page_size
        );
        let t = Instant::now();
        let resp = authed(http.get(&url), &a.conn.token).send().await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "reading {url}: {}",
            resp.status()
        );
        let page: Page = serde_json::from_slice(&resp.bytes().await?)?;
        phase.record(t.elapsed());
        anyhow::ensure!(
            page.next_offset > next,
            "the read at offset {next} made no progress"
        );
        got += page.messages.len() as u64;
        next = page.next_offset;
    }
    Ok((got, 0))
}

/// `--consumers` workers of one group share the backlog: fetch, acknowledge, until `want`
/// messages are acknowledged. Latency: one fetch plus its ack.
async fn read_group(
    a: &BenchArgs,
    topic: &str,
    want: u64,
    phase: &Phase,
) -> anyhow::Result<(u64, u64)> {
    let client = a.conn.client()?;
    let group = a.group.clone().unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        format!("bench-{now}")
    });
    let max = a.page_size.min(1000) as u32;
    let acked = AtomicU64::new(0);
    let errors = AtomicU64::new(0);
    let worker = || async {
        while acked.load(Ordering::Relaxed) < want {
            let t = Instant::now();
            let leased = match client
                .group_fetch(topic, &group, max, Some(Duration::from_millis(500)))
                .await
            {
                Ok(l) => l,
                Err(e) => {
                    anyhow::ensure!(errors.fetch_add(1, Ordering::Relaxed) < 20, "fetch: {e}");
                    continue;
                }
            };
            if leased.is_empty() {
                continue; // the rest is leased to the other workers
            }
            let refs: Vec<MessageRef> = leased
                .iter()
                .map(|m| MessageRef {
                    partition: m.message.partition,
                    offset: m.message.offset,
                })
                .collect();
            match client.group_ack(topic, &group, &refs).await {
                Ok(_) => {
                    phase.record(t.elapsed());
                    acked.fetch_add(refs.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    anyhow::ensure!(errors.fetch_add(1, Ordering::Relaxed) < 20, "ack: {e}");
                }
            }
        }
        Ok(())
    };
    let results = futures::future::join_all((0..a.consumers.max(1)).map(|_| worker())).await;
    for r in results {
        r?;
    }
    Ok((
        acked.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
    ))
}

async fn read_sse(
    a: &BenchArgs,
    http: &reqwest::Client,
    server: &str,
    topic: &str,
    from: u64,
    to: u64,
    phase: &Phase,
) -> anyhow::Result<(u64, u64)> {
    let want = to.saturating_sub(from);
    let url = format!("{server}/v1/topics/{topic}/stream?offset={from}");
    let resp = authed(http.get(&url), &a.conn.token).send().await?;
    anyhow::ensure!(
        resp.status().is_success(),
        "reading {url}: {}",
        resp.status()
    );
    let mut body = resp.bytes_stream();
    let (mut got, mut in_page) = (0u64, 0usize);
    let mut page_started = Instant::now();
    // How much of "id:" the current line starts with so far (None: this line is no event id);
    // kept across chunks, so a line split between two chunks still counts once.
    let mut id_prefix = Some(0usize);
    while got < want {
        let Some(chunk) = body.next().await else {
            anyhow::bail!("the stream ended after {got} of {want} messages");
        };
        for &b in chunk?.iter() {
            id_prefix = match (b, id_prefix) {
                (b'\n', _) => Some(0),
                (b, Some(k)) if b == b"id:"[k] && k == 2 => {
                    got += 1;
                    in_page += 1;
                    if in_page == a.page_size {
                        phase.record(page_started.elapsed());
                        page_started = Instant::now();
                        in_page = 0;
                    }
                    None
                }
                (b, Some(k)) if b == b"id:"[k] => Some(k + 1),
                _ => None,
            };
        }
    }
    Ok((got, 0))
}

/// The `memory` object of a read phase from RSS samples in bytes (`null` without samples).
pub(super) fn memory_json(rss: &[u64]) -> Value {
    let mb = |b: u64| (b as f64 / 1e6 * 10.0).round() / 10.0;
    match (rss.first(), rss.iter().min(), rss.iter().max(), rss.last()) {
        (Some(f), Some(lo), Some(hi), Some(l)) => json!({
            "first_mb": mb(*f), "min_mb": mb(*lo), "max_mb": mb(*hi), "last_mb": mb(*l), "samples": rss.len(),
        }),
        _ => Value::Null,
    }
}

/// The node's resident memory while the read runs, from its own /metrics.
pub(super) async fn sample_memory(
    http: reqwest::Client,
    server: String,
    token: Option<String>,
    running: Arc<AtomicBool>,
) -> Vec<u64> {
    let mut out = Vec::new();
    while running.load(Ordering::Relaxed) {
        if let Ok(r) = authed(http.get(format!("{server}/metrics")), &token)
            .send()
            .await
        {
            if let Ok(text) = r.text().await {
                if let Some(v) = text.lines().find_map(|l| {
                    l.strip_prefix("process_resident_memory_bytes ")
                        .and_then(|v| v.trim().parse::<f64>().ok())
                }) {
                    out.push(v as u64);
                }
            }
        }
        tokio::time::sleep(MEMORY_EVERY).await;
    }
    out
}

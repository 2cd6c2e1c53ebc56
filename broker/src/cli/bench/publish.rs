//! The publish mode: `--producers` × `--concurrency` workers, each with one request in flight,
//! publish fixed-size messages (v1 batches of `--batch-size`, or the seed's `PUT /`) for
//! `--duration` or exactly `--count` messages; `--consumers` read them back with v1 long-polls.
//! Phases: `publish` (one latency sample per request) and `consume` (per read that returned
//! messages, until the consumers have everything that was acknowledged).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jumpnet_broker::client::OutMessage;
use serde_json::{json, Map, Value};

use super::report::{Counts, Phase};
use super::{Api, BenchArgs, Outcome};
use crate::cli::client_cmds::{is_terminal, Output, TICK};

/// How long consumers may take to catch up after the producers stopped.
const CATCH_UP: Duration = Duration::from_secs(30);
const READ_WAIT: Duration = Duration::from_millis(200);

struct Shared {
    sent: AtomicU64,
    received: AtomicU64,
    errors: AtomicU64,
    read_errors: AtomicU64,
    publish: Phase,
    consume: Phase,
}

pub async fn run(a: &BenchArgs) -> anyhow::Result<Outcome> {
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
    let s = Arc::new(Shared {
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        read_errors: AtomicU64::new(0),
        publish: Phase::new("publish"),
        consume: Phase::new("consume"),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let payload = "x".repeat(a.message_size);
    let workers = a.producers * a.concurrency;
    // Each worker claims whole batches from this budget, so exactly --count messages go out.
    let budget = Arc::new(AtomicU64::new(a.count.unwrap_or(u64::MAX)));
    let per_worker_interval = a
        .rate
        .map(|r| Duration::from_secs_f64(a.batch_size as f64 * workers as f64 / r.max(0.001)));
    let http = a.conn.http()?;
    let started = Instant::now();

    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, s, stop, budget, topic, payload, http) = (
            client.clone(),
            s.clone(),
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
                    s.sent.fetch_add(batch, Ordering::Relaxed);
                    s.publish.record(t.elapsed());
                } else {
                    s.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    let consumers_done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..a.consumers {
        let (client, s, topic, done) = (
            client.clone(),
            s.clone(),
            topic.clone(),
            consumers_done.clone(),
        );
        readers.push(tokio::spawn(async move {
            let mut next = start_offset;
            let mut mine = 0u64;
            while !done.load(Ordering::Relaxed) {
                let t = Instant::now();
                match client
                    .read(&topic, Some(next), 10_000, Some(READ_WAIT))
                    .await
                {
                    Ok(page) => {
                        if !page.messages.is_empty() {
                            s.consume.record(t.elapsed());
                        }
                        mine += page.messages.len() as u64;
                        next = page.next_offset;
                    }
                    Err(_) => {
                        s.read_errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                }
            }
            s.received.fetch_max(mine, Ordering::Relaxed);
        }));
    }

    let progress = is_terminal() && a.conn.output == Output::Text;
    let deadline = a.count.is_none().then(|| started + a.duration);
    loop {
        let all_done = tasks.iter().all(|t| t.is_finished());
        if all_done || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        tokio::time::sleep(TICK).await;
        if progress {
            let secs = started.elapsed().as_secs_f64();
            let sent = s.sent.load(Ordering::Relaxed);
            eprint!(
                "\r{secs:6.1}s  sent {sent:>10}  {:>10.0} msg/s  p99 {:7.2} ms  errors {}   ",
                sent as f64 / secs,
                s.publish.p99_ms(),
                s.errors.load(Ordering::Relaxed)
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
    // Consumers read until they saw everything that was acknowledged (or give up after CATCH_UP).
    let sent = s.sent.load(Ordering::Relaxed);
    if a.consumers > 0 {
        let until = Instant::now() + CATCH_UP;
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
        tokio::time::sleep(READ_WAIT * 2).await;
        consumers_done.store(true, Ordering::Relaxed);
        for r in readers {
            let _ = r.await;
        }
    }
    let consumed_in = started.elapsed();

    let received = s.received.load(Ordering::Relaxed);
    let mut phases = vec![s.publish.json(
        Counts {
            messages: sent,
            errors: s.errors.load(Ordering::Relaxed),
            elapsed,
            message_size: a.message_size,
        },
        Value::Null,
    )];
    if a.consumers > 0 {
        phases.push(s.consume.json(
            Counts {
                messages: received,
                errors: s.read_errors.load(Ordering::Relaxed),
                elapsed: consumed_in,
                message_size: a.message_size,
            },
            json!({"consumers": a.consumers, "note": "latency per read that returned messages (v1 long-poll, wait 200 ms)"}),
        ));
    }
    let legacy = json!({
        "topic": topic,
        "api": format!("{:?}", a.api).to_lowercase(),
        "producers": a.producers,
        "consumers": a.consumers,
        "concurrency": a.concurrency,
        "batch_size": a.batch_size,
        "message_size": a.message_size,
        "duration_s": elapsed.as_secs_f64(),
        "messages_sent": sent,
        "messages_received": received,
    });
    Ok(Outcome {
        config: Map::from_iter([("topic".to_string(), json!(topic))]),
        phases,
        legacy: legacy.as_object().cloned().unwrap_or_default(),
    })
}

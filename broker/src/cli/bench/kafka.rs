//! The Kafka mode (`--kafka HOST:PORT[,HOST:PORT...]`): the same loads through a node's Kafka
//! listener, spoken with the `kafka-protocol` crate's codecs (no client library in between).
//!
//! ```text
//!  produce: --producers connections (round-robin over the --kafka addresses), each with
//!           --concurrency Produce requests in flight (pipelined; the broker answers a
//!           connection's requests in order), one record batch v2 of --batch-size records each,
//!           acks=--acks (default -1: all, answered after the quorum commit), to partition 0
//!  backlog: fill  the topic is topped up to --backlog records the same way (--fill-batch-size),
//!                 through the first --kafka address only
//!           fetch one connection to the first --kafka address drains it from the log start to the
//!                 high watermark seen when the read began: Fetch v12, --fetch-max-bytes per
//!                 request; the reader counts records from the batch headers (CRC checked) without
//!                 decoding each record, as the v1 reader counts without building messages
//! ```
//!
//! Phases: `produce` (one latency sample per Produce request) or `fill` + `fetch` (one sample per
//! Fetch); `config.api = "kafka"`. The topic is created (1 partition) by a Metadata request that
//! allows auto-creation, as clients do. The node's RSS is sampled from `--server`'s /metrics during
//! the fetch when that answers (the node's HTTP API).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{produce_request, ProduceRequest};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use serde_json::{json, Map, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, Semaphore};

use super::kafka_wire::{read_response, request_frame, topic_name, Wire};
use super::report::{Counts, Phase};
use super::{BenchArgs, Outcome};
use crate::cli::client_cmds::{is_terminal, Output, TICK};

/// Produce's version: the newest the listener serves that still names topics (SPEC §8).
const PRODUCE_V: i16 = 9;
/// How long the broker may take to commit a Produce (Kafka's request.timeout.ms default is 30 s).
const PRODUCE_TIMEOUT_MS: i32 = 10_000;
/// Fill passes before a backlog that does not fill up is an error.
const FILL_PASSES: usize = 5;

/// What the produce workers share.
struct Load {
    topic: String,
    value: Bytes,
    batch: u64,
    acks: i16,
    /// Records still to send (u64::MAX: until `stop`).
    budget: AtomicU64,
    stop: AtomicBool,
    sent: AtomicU64,
    errors: AtomicU64,
    phase: Phase,
}

pub async fn run(a: &BenchArgs, addrs: &[String]) -> anyhow::Result<Outcome> {
    anyhow::ensure!(!addrs.is_empty(), "--kafka needs at least one HOST:PORT");
    anyhow::ensure!(
        a.acks == -1 || a.acks == 1,
        "--acks is -1 (all) or 1 (both answered after the quorum commit); 0 gets no answer to time"
    );
    let topic = a.topic.clone().unwrap_or_else(|| match a.backlog {
        Some(n) => format!("bench-backlog-{n}"),
        None => format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
    });
    let mut first = Wire::connect(&addrs[0]).await?;
    first.ensure_topic(&topic).await?;
    let mut config = Map::new();
    config.insert("topic".into(), json!(topic));
    config.insert("api".into(), json!("kafka"));
    config.insert("kafka".into(), json!(addrs));
    config.insert("connections".into(), json!(a.producers));
    config.insert("in_flight_per_connection".into(), json!(a.concurrency));
    config.insert("acks".into(), json!(a.acks));
    config.insert("produce_version".into(), json!(PRODUCE_V));

    let Some(target) = a.backlog else {
        let (load, elapsed) =
            produce(a, addrs, &topic, "produce", a.batch_size, a.count, true).await?;
        let phase = load.phase.json(load.counts(a, elapsed), Value::Null);
        let legacy = json!({
            "topic": topic, "api": "kafka", "batch_size": a.batch_size,
            "message_size": a.message_size, "duration_s": phase["duration_s"],
            "messages_sent": load.sent.load(Ordering::Relaxed), "messages_received": 0,
        });
        config.insert("mode".into(), json!("produce"));
        return Ok(Outcome {
            config,
            phases: vec![phase],
            legacy: legacy.as_object().cloned().unwrap_or_default(),
        });
    };

    // Fill what is missing; a pass that saw errors (a leader change) leaves a gap the next fills.
    // Only through the first address: its answers come after its own apply, so the offsets it
    // then lists count every acknowledged record (another node's might not have applied them yet).
    let addrs = &addrs[..1];
    let mut phases = Vec::new();
    for pass in 0.. {
        let (start, end) = first.offsets(&topic).await?;
        let have = end.saturating_sub(start);
        if have >= target {
            break;
        }
        anyhow::ensure!(
            pass < FILL_PASSES,
            "filling the backlog: {have} of {target} after {pass} passes"
        );
        let (load, elapsed) = produce(
            a,
            addrs,
            &topic,
            "fill",
            a.fill_batch_size,
            Some(target - have),
            false,
        )
        .await?;
        phases.push(load.phase.json(
            load.counts(a, elapsed),
            json!({"batch_size": a.fill_batch_size}),
        ));
    }
    let (from, to) = first.offsets(&topic).await?;
    let server = a.conn.client()?.servers()[0].clone();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(super::backlog::sample_memory(
        a.conn.http()?,
        server,
        a.conn.token.clone(),
        sampling.clone(),
    ));
    let phase = Phase::new("fetch");
    let started = Instant::now();
    let read = first
        .drain(&topic, from, to, a.fetch_max_bytes, &phase)
        .await;
    let elapsed = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let rss = sampler.await.unwrap_or_default();
    let (messages, requests) = read?;
    phases.push(phase.json(
        Counts {
            messages,
            errors: 0,
            elapsed,
            message_size: a.message_size,
        },
        json!({
            "api": "kafka",
            "from_offset": from,
            "to_offset": to,
            "fetch_max_bytes": a.fetch_max_bytes,
            "fetches": requests,
            "server": addrs[0],
            "memory": super::backlog::memory_json(&rss),
            "note": "latency per Fetch request",
        }),
    ));
    config.insert("mode".into(), json!("backlog"));
    config.insert("backlog".into(), json!(target));
    config.insert("read".into(), json!("kafka"));
    config.insert("fill_batch_size".into(), json!(a.fill_batch_size));
    config.insert("fetch_max_bytes".into(), json!(a.fetch_max_bytes));
    Ok(Outcome {
        config,
        phases,
        legacy: Map::from_iter([("topic".to_string(), json!(topic))]),
    })
}

impl Load {
    fn counts(&self, a: &BenchArgs, elapsed: Duration) -> Counts {
        Counts {
            messages: self.sent.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            elapsed,
            message_size: a.message_size,
        }
    }
}

/// Runs `--producers` connections until `count` records are acknowledged or, when `timed`,
/// `--duration` ran out; returns what they counted and the phase's wall time.
async fn produce(
    a: &BenchArgs,
    addrs: &[String],
    topic: &str,
    name: &'static str,
    batch: usize,
    count: Option<u64>,
    timed: bool,
) -> anyhow::Result<(Arc<Load>, Duration)> {
    let load = Arc::new(Load {
        topic: topic.to_string(),
        value: Bytes::from(vec![b'x'; a.message_size]),
        batch: batch as u64,
        acks: a.acks,
        budget: AtomicU64::new(count.unwrap_or(u64::MAX)),
        stop: AtomicBool::new(false),
        sent: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        phase: Phase::new(name),
    });
    // Every connection learns the topic first (as a client's Metadata does), before the clock.
    let mut wires = Vec::with_capacity(a.producers);
    for i in 0..a.producers {
        let mut w = Wire::connect(&addrs[i % addrs.len()]).await?;
        w.ensure_topic(topic).await?;
        wires.push(w);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in wires {
        tasks.spawn(produce_conn(w, load.clone(), a.concurrency));
    }
    let progress = is_terminal() && a.conn.output == Output::Text;
    let deadline = (timed && count.is_none()).then(|| started + a.duration);
    let until = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            done = tasks.join_next() => match done {
                Some(r) => r??,
                None => break,
            },
            _ = &mut until => break,
            _ = tick.tick() => {
                if progress {
                    let secs = started.elapsed().as_secs_f64();
                    let sent = load.sent.load(Ordering::Relaxed);
                    eprint!(
                        "\r{secs:6.1}s  {name} {sent:>10}  {:>10.0} msg/s  p99 {:7.2} ms  errors {}   ",
                        sent as f64 / secs,
                        load.phase.p99_ms(),
                        load.errors.load(Ordering::Relaxed)
                    );
                }
            }
        }
    }
    // Stop sending; what is in flight is still answered and counted.
    load.stop.store(true, Ordering::Relaxed);
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let elapsed = started.elapsed();
    if progress {
        eprintln!();
    }
    Ok((load, elapsed))
}

/// One producer connection: a sender keeps up to `window` Produce requests in flight, a
/// receiver matches the answers (in request order) and times them.
async fn produce_conn(wire: Wire, load: Arc<Load>, window: usize) -> anyhow::Result<()> {
    let (mut rd, mut wr) = wire.stream.into_split();
    let slots = Semaphore::new(window);
    let (tx, mut rx) = mpsc::unbounded_channel::<(i32, Instant, u64)>();
    let send = async {
        let tx = tx;
        let mut correlation = 0i32;
        while !load.stop.load(Ordering::Relaxed) {
            // Claim a batch (the last one may be short, so --count is exact).
            let Ok(left) = load
                .budget
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| {
                    b.checked_sub(1).map(|_| b.saturating_sub(load.batch))
                })
            else {
                break;
            };
            let take = left.min(load.batch);
            slots.acquire().await?.forget();
            correlation = correlation.wrapping_add(1);
            let frame = request_frame(&produce_request(&load, take)?, PRODUCE_V, correlation)?;
            let t = Instant::now();
            wr.write_all(&frame).await?;
            tx.send((correlation, t, take))?;
        }
        anyhow::Ok(())
    };
    let receive = async {
        while let Some((correlation, t, take)) = rx.recv().await {
            let (got, r) = read_response::<ProduceRequest, _>(&mut rd, PRODUCE_V).await?;
            slots.add_permits(1);
            anyhow::ensure!(
                got == correlation,
                "answer {got} to request {correlation}: out of order"
            );
            let code = r
                .responses
                .first()
                .and_then(|t| t.partition_responses.first())
                .map_or(-1, |p| p.error_code);
            if code == 0 {
                load.sent.fetch_add(take, Ordering::Relaxed);
                load.phase.record(t.elapsed());
            } else {
                load.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        anyhow::Ok(())
    };
    tokio::try_join!(send, receive)?;
    Ok(())
}

/// A Produce of `n` records of the load's value (no key, no headers, the current time) in one
/// uncompressed record batch v2, encoded by the crate as a producer would.
fn produce_request(load: &Load, n: u64) -> anyhow::Result<ProduceRequest> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let records: Vec<Record> = (0..n as i64)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            // offset - sequence stays 1: one batch, base sequence -1 (no producer id).
            sequence: i as i32 - 1,
            timestamp: now,
            key: None,
            value: Some(load.value.clone()),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::with_capacity(64 + records.len() * (load.value.len() + 12));
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )?;
    Ok(ProduceRequest::default()
        .with_acks(load.acks)
        .with_timeout_ms(PRODUCE_TIMEOUT_MS)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(topic_name(&load.topic))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(buf.freeze())),
            ])]))
}

//! Fetch with long-poll: subscribe to every asked partition, read, and if fewer than `min_bytes`
//! came back wait for a wake-up (an append anywhere asked) or `max_wait_ms` — no polling loop.
//! Reads are committed data only, from this node's applied state, so any node can serve them.
//! Fetch sessions (KIP-227) are not kept: session id 0 tells clients to send full requests.

use std::time::Duration;

use futures::future::{select_all, FutureExt};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use kafka_protocol::ResponseError;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{partition_error, topic_name, Ctx};
use crate::kafka::backend::{BackendError, KafkaBackend, StoredRecord};
use crate::kafka::records;

struct Wanted {
    topic: String,
    partition: i32,
    offset: i64,
    max_bytes: usize,
}

struct Read {
    error: Option<ResponseError>,
    high_watermark: i64,
    log_start_offset: i64,
    records: Vec<StoredRecord>,
}

/// Roughly what a record costs in a response (payload plus per-record framing).
fn record_size(r: &StoredRecord) -> usize {
    16 + r.key.as_ref().map_or(0, |k| k.len())
        + r.value.as_ref().map_or(0, |v| v.len())
        + r.headers
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len()) + 2)
            .sum::<usize>()
}

async fn read_all<B: KafkaBackend>(
    ctx: &Ctx<'_, B>,
    wanted: &[Wanted],
    max_bytes: usize,
) -> (Vec<Read>, usize) {
    let mut budget = max_bytes;
    let mut total = 0;
    let mut out = Vec::with_capacity(wanted.len());
    for w in wanted {
        if !ctx.principal().consume {
            out.push(Read {
                error: Some(ResponseError::TopicAuthorizationFailed),
                high_watermark: -1,
                log_start_offset: -1,
                records: vec![],
            });
            continue;
        }
        let limit = w.max_bytes.min(budget);
        let read = match ctx
            .backend()
            .fetch(&w.topic, w.partition, w.offset, limit)
            .await
        {
            Ok(mut f) => {
                // The first non-empty partition may exceed the budget (so progress is always
                // possible); after the budget is spent, later partitions return no records.
                if budget == 0 && total > 0 {
                    f.records.clear();
                }
                let size: usize = f.records.iter().map(record_size).sum();
                budget = budget.saturating_sub(size);
                total += size;
                Read {
                    error: None,
                    high_watermark: f.high_watermark,
                    log_start_offset: f.log_start_offset,
                    records: f.records,
                }
            }
            Err(BackendError::OffsetOutOfRange {
                log_start_offset,
                high_watermark,
            }) => Read {
                error: Some(ResponseError::OffsetOutOfRange),
                high_watermark,
                log_start_offset,
                records: vec![],
            },
            Err(e) => Read {
                error: Some(partition_error(&e)),
                high_watermark: -1,
                log_start_offset: -1,
                records: vec![],
            },
        };
        out.push(read);
    }
    (out, total)
}

pub async fn handle<B: KafkaBackend>(ctx: &Ctx<'_, B>, req: FetchRequest) -> FetchResponse {
    let wanted: Vec<Wanted> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| Wanted {
                topic: t.topic.to_string(),
                partition: p.partition,
                offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(0) as usize,
            })
        })
        .collect();
    let max_bytes = if req.max_bytes <= 0 {
        usize::MAX
    } else {
        req.max_bytes as usize
    };
    let min_bytes = req.min_bytes.max(0) as usize;
    let wait =
        Duration::from_millis(req.max_wait_ms.max(0) as u64).min(ctx.server.config.max_fetch_wait);
    let deadline = Instant::now() + wait;
    // Subscribed before the first read: an append after it wakes the wait below.
    let mut wakeups: Vec<watch::Receiver<u64>> = wanted
        .iter()
        .map(|w| ctx.backend().subscribe(&w.topic, w.partition))
        .collect();
    for rx in &mut wakeups {
        rx.borrow_and_update();
    }
    let reads = loop {
        let (reads, total) = read_all(ctx, &wanted, max_bytes).await;
        let errored = reads.iter().any(|r| r.error.is_some());
        if total >= min_bytes || errored || Instant::now() >= deadline || wanted.is_empty() {
            break reads;
        }
        let any_change = select_all(wakeups.iter_mut().map(|rx| rx.changed().boxed()));
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {}
            _ = any_change => {}
        }
        if Instant::now() >= deadline {
            break read_all(ctx, &wanted, max_bytes).await.0;
        }
    };
    let mut topics: Vec<FetchableTopicResponse> = Vec::new();
    for (w, r) in wanted.iter().zip(reads) {
        let (error, records) = match records::encode_fetch(
            &r.records,
            ctx.server.config.fetch_compression,
        ) {
            Ok(bytes) => (r.error, bytes),
            Err(e) => {
                tracing::warn!(topic = %w.topic, partition = w.partition, error = %e, "kafka: could not encode fetched records");
                (Some(ResponseError::UnknownServerError), bytes::Bytes::new())
            }
        };
        let part = PartitionData::default()
            .with_partition_index(w.partition)
            .with_error_code(ctx.code(error))
            .with_high_watermark(r.high_watermark)
            .with_last_stable_offset(r.high_watermark)
            .with_log_start_offset(r.log_start_offset)
            .with_records(Some(records));
        match topics.iter_mut().find(|t| t.topic.as_str() == w.topic) {
            Some(t) => t.partitions.push(part),
            None => topics.push(
                FetchableTopicResponse::default()
                    .with_topic(topic_name(&w.topic))
                    .with_partitions(vec![part]),
            ),
        }
    }
    FetchResponse::default()
        .with_session_id(0)
        .with_responses(topics)
}

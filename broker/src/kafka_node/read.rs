//! Fetch and ListOffsets from this node's applied state, on the blocking pool.

use super::convert::{storage, stored_record};
use crate::kafka::backend::{BackendError, FetchedRecords, ListedOffset, OffsetSpec};
use crate::topics::{TopicMeta, TopicStore};

/// Most records one fetch of a partition returns (besides its byte budget).
const FETCH_RECORDS: usize = 10_000;
/// Messages read per step while looking for a timestamp.
const SCAN_STEP: usize = 4096;

fn partition_meta(st: &TopicStore, topic: &str, partition: i32) -> Result<TopicMeta, BackendError> {
    let p = u32::try_from(partition).map_err(|_| BackendError::UnknownTopicOrPartition)?;
    st.partition(topic, p)
        .map_err(storage)?
        .ok_or(BackendError::UnknownTopicOrPartition)
}

pub async fn fetch(
    store: &TopicStore,
    topic: &str,
    partition: i32,
    offset: i64,
    max_bytes: usize,
) -> Result<FetchedRecords, BackendError> {
    let topic = topic.to_string();
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let meta = partition_meta(&store, &topic, partition)?;
        let (start, hw) = (meta.start as i64, meta.next as i64);
        if offset < start || offset > hw {
            return Err(BackendError::OffsetOutOfRange {
                log_start_offset: start,
                high_watermark: hw,
            });
        }
        let records = if offset == hw {
            Vec::new()
        } else {
            store
                .read(&meta, offset as u64, FETCH_RECORDS, max_bytes as u64)
                .map_err(storage)?
                .into_iter()
                .map(stored_record)
                .collect()
        };
        Ok(FetchedRecords {
            records,
            high_watermark: hw,
            log_start_offset: start,
        })
    })
    .await
    .map_err(|e| BackendError::Internal(e.to_string()))?
}

pub async fn list_offset(
    store: &TopicStore,
    topic: &str,
    partition: i32,
    spec: OffsetSpec,
) -> Result<ListedOffset, BackendError> {
    let topic = topic.to_string();
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let meta = partition_meta(&store, &topic, partition)?;
        let at = |offset: u64| ListedOffset {
            offset: offset as i64,
            timestamp_ms: -1,
        };
        Ok(match spec {
            OffsetSpec::Earliest => at(meta.start),
            OffsetSpec::Latest => at(meta.next),
            OffsetSpec::Timestamp(ts) => by_time(&store, &meta, ts)?,
        })
    })
    .await
    .map_err(|e| BackendError::Internal(e.to_string()))?
}

/// The first message at or after `ts`. Kafka timestamps are the producers' (not monotonic), so
/// this scans the retained log from its start.
fn by_time(store: &TopicStore, meta: &TopicMeta, ts: i64) -> Result<ListedOffset, BackendError> {
    let mut from = meta.start;
    while from < meta.next {
        let batch = store
            .read(meta, from, SCAN_STEP, u64::MAX)
            .map_err(storage)?;
        let Some(last) = batch.last().map(|m| m.offset) else {
            break;
        };
        if let Some(m) = batch.into_iter().find(|m| m.record.ts_ms as i64 >= ts) {
            return Ok(ListedOffset {
                offset: m.offset as i64,
                timestamp_ms: m.record.ts_ms as i64,
            });
        }
        from = last + 1;
    }
    Ok(ListedOffset {
        offset: -1,
        timestamp_ms: -1,
    })
}

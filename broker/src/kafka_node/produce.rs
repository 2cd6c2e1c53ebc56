//! Produce: the HTTP publish's write path (batcher, forwarded to the leader from a follower,
//! answered after the quorum commit and this node's apply), in two steps: [`queue`] returns once
//! the batch is in the batcher's queue, with the future of its commit, so a Kafka connection can
//! queue its next request, in order, while this one commits.

use super::convert::{headers_map, key_text, write_error};
use super::NodeBackend;
use crate::command::{KafkaPublish, NewMessage, ProducerSeq, Publish};
use crate::kafka::backend::{Appended, BackendError, PendingAppend, ProduceBatch};

pub async fn queue(b: &NodeBackend, batch: ProduceBatch) -> Result<PendingAppend, BackendError> {
    let partition =
        u32::try_from(batch.partition).map_err(|_| BackendError::UnknownTopicOrPartition)?;
    // Kafka never creates a topic on Produce (Metadata does, when allowed); the HTTP publish
    // would, so look first (this node's view: a topic it has not applied yet is retried). The one
    // read also gives the log start answered with the batch: read before the append, it may be
    // older than the start after it, never newer (retention only moves it forward), so a client
    // comparing it with its acknowledged offsets never sees its records as deleted when they
    // are not.
    let t = batch.topic.clone();
    let log_start_offset = b
        .store
        .blocking(move |st| Ok(st.partition(&t, partition)?.map(|m| m.start)))
        .await
        .map_err(super::convert::storage)?
        .ok_or(BackendError::UnknownTopicOrPartition)?;
    let max = b.node.config.max_message_bytes;
    let mut timestamps = Vec::with_capacity(batch.records.len());
    let mut messages = Vec::with_capacity(batch.records.len());
    for r in batch.records {
        let m = NewMessage {
            // Copied, not shared: a shared slice keeps the whole request frame alive as long as
            // any copy of the entry (the Raft log's in-memory tail, a retry) and frees it on
            // another thread. Measured after a Kafka Produce load: the leader held 68-74 MB
            // with shared values, 49-57 MB with copies (bench/README, "Values as bytes").
            value: crate::command::Value::Owned(r.value.map(|v| v.to_vec()).unwrap_or_default()),
            key: key_text(r.key)?,
            headers: headers_map(r.headers)?,
        };
        if m.size() > max {
            return Err(BackendError::RecordTooLarge(format!(
                "{} bytes, the limit is {max}",
                m.size()
            )));
        }
        // No timestamp (-1): this node's clock.
        timestamps.push(u64::try_from(r.timestamp_ms).unwrap_or_else(|_| crate::cluster::now_ms()));
        messages.push(m);
    }
    let publisher = b.auth.enabled().then(|| batch.publisher.clone()).flatten();
    let producer = batch.producer.map(|p| {
        ProducerSeq::scoped(
            publisher.as_deref(),
            format!("kafka-{}", p.producer_id),
            u64::try_from(p.producer_epoch).unwrap_or(0),
            u64::try_from(p.base_sequence).unwrap_or(0),
        )
    });
    let publish = Publish {
        topic: batch.topic,
        messages,
        producer,
        publisher,
        partition,
        kafka: Some(KafkaPublish { timestamps }),
    };
    // acks=0 clients may send no timeout: the node's commit timeout then. It covers the wait for
    // room in the batcher's queue and the commit.
    let timeout = if batch.timeout.is_zero() {
        b.node.config.commit_timeout
    } else {
        batch.timeout
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let commit = tokio::time::timeout_at(deadline, b.writer.queue(publish))
        .await
        .map_err(|_| BackendError::Timeout)?
        .map_err(write_error)?;
    Ok(Box::pin(async move {
        let published = tokio::time::timeout_at(deadline, commit)
            .await
            .map_err(|_| BackendError::Timeout)?
            .map_err(write_error)?;
        Ok(Appended {
            base_offset: published.base_offset as i64,
            log_start_offset: log_start_offset as i64,
        })
    }))
}

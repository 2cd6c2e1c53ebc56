//! The seed's named consumers (`GET /<topic>?consumer=NAME`): the answering node reads the values
//! after the consumer's position from its own applied state, then claims them with a
//! compare-and-set of the position through the Raft log ([`AdvanceConsumer`]).
//!
//! - Two calls of one consumer name never get the same values: the second claim finds the position
//!   moved, and that call reads again from the new position.
//! - Nothing is skipped: a position only moves past values a call is answering with.
//! - As fresh as the leader: a read barrier first, then the read of the node's applied state.
//! - Replicas hold no answers: the read happens once, on the answering node, bounded by
//!   `--max-request-bytes`.
//! - At-least-once when the outcome is unknown: if the claim's commit cannot be confirmed in time
//!   (504 inside), the call still answers its values; if the claim was in fact not stored, the next
//!   call answers them again.

use super::code::Code;
use super::error::ApiError;
use super::AppState;
use crate::command::{AdvanceConsumer, OpError};
use crate::write::WriteError;

/// Claims lost to concurrent calls of the same consumer before this call gives up (503).
const ATTEMPTS: usize = 16;

/// The next values of `consumer` on `topic` (at most `limit`, from one partition: the one whose
/// next unread message is the oldest), its position there moved past them.
pub(super) async fn next_values(
    s: &AppState,
    consumer: &str,
    topic: &str,
    limit: u32,
) -> Result<Vec<String>, ApiError> {
    let max_bytes = s.limits.max_request_bytes as u64;
    // Read as fresh as the leader (the old path read inside apply, on the leader's order): a
    // follower that lags answers what the leader has, not fewer values.
    s.node.read_barrier().await?;
    super::consumers::ensure_room(s, topic, consumer).await?;
    for _ in 0..ATTEMPTS {
        let (c, t) = (consumer.to_string(), topic.to_string());
        let read = s
            .store
            .blocking(move |st| {
                // Every partition may answer: the one whose first unread message is the oldest
                // (by timestamp, then partition) does, so a partition with a backlog cannot
                // starve the others (one topic partition: exactly as before partitions).
                let metas = st.partition_metas(&t)?;
                if metas.is_empty() {
                    return Ok(None);
                }
                let mut oldest: Option<(u64, u32, u64)> = None;
                for (p, meta) in metas.iter().enumerate() {
                    let p = p as u32;
                    let from = st.consumer_offset_at(&t, p, &c)?.unwrap_or(0);
                    if let Some(first) = st.read(meta, from, 1, u64::MAX)?.first() {
                        if oldest.is_none_or(|(ts, _, _)| first.record.ts_ms < ts) {
                            oldest = Some((first.record.ts_ms, p, from));
                        }
                    }
                }
                let Some((_, p, from)) = oldest else {
                    return Ok(Some((0, 0, 0, Vec::new())));
                };
                let messages = st.read(&metas[p as usize], from, limit as usize, max_bytes)?;
                let to = messages.last().map_or(from, |m| m.offset + 1);
                let values: Vec<String> = messages
                    .into_iter()
                    .map(|m| m.record.value_text().into_owned())
                    .collect();
                Ok(Some((p, from, to, values)))
            })
            .await?;
        let Some((partition, from, to, values)) = read else {
            return Ok(Vec::new());
        };
        if values.is_empty() {
            return Ok(values);
        }
        let claim = AdvanceConsumer {
            consumer: consumer.to_string(),
            topic: topic.to_string(),
            from,
            to,
            partition,
        };
        match s.writer.advance_consumer(claim).await {
            Ok(_) => return Ok(values),
            // Another call of this consumer claimed first; the writer waited until this node
            // applied that, so the next read starts at the new position.
            Err(WriteError::Op(OpError::ConsumerMoved { .. })) => continue,
            Err(WriteError::Timeout(why)) => {
                tracing::warn!(%topic, %consumer, from, to, %why,
                    "named consumer: the position update's outcome is unknown; answering its values (at-least-once)");
                return Ok(values);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::unavailable(
        Code::Unavailable,
        format!("consumer {consumer:?} of topic {topic:?} is read by many calls at once; retry"),
    ))
}

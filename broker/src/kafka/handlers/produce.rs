//! Produce, in two steps so a connection can keep several requests in flight (`conn`): [`queue`]
//! checks and decodes each partition's batch (records) and queues it through the backend (the
//! partitions of one request concurrently), then returns the future of the response, which awaits
//! the quorum commits. acks=1 and acks=all are the same here — Jumpnet acknowledges only what a
//! quorum stored. acks=0 gets no response; if its append fails the connection is closed, which is
//! the only signal Kafka has for such producers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::{join_all, BoxFuture};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};
use kafka_protocol::ResponseError;

use super::{count_error, partition_error, str_bytes, Ctx};
use crate::kafka::backend::{Appended, BackendError, KafkaBackend, PendingAppend, ProduceBatch};
use crate::kafka::error::ConnError;
use crate::kafka::records::{self, BatchError};
use crate::kafka::KafkaServer;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

struct Outcome {
    error: Option<ResponseError>,
    message: Option<String>,
    base_offset: i64,
    log_start_offset: i64,
}

impl Outcome {
    fn of(appended: Result<Appended, BackendError>) -> Outcome {
        match appended {
            Ok(a) => Outcome {
                error: None,
                message: None,
                base_offset: a.base_offset,
                log_start_offset: a.log_start_offset,
            },
            Err(e) => Outcome::error(partition_error(&e), e.to_string()),
        }
    }

    fn error(e: ResponseError, message: impl Into<String>) -> Outcome {
        Outcome {
            error: Some(e),
            message: Some(message.into()),
            base_offset: -1,
            log_start_offset: -1,
        }
    }
}

/// One partition of a request once queued: refused before queueing, or its commit to await.
enum Queued {
    Refused(Outcome),
    Commit(PendingAppend),
}

async fn partition<B: KafkaBackend>(
    ctx: &Ctx<'_, B>,
    req: &ProduceRequest,
    topic: &str,
    index: i32,
    data: Option<&bytes::Bytes>,
) -> Queued {
    match check_and_queue(ctx, req, topic, index, data).await {
        Ok(commit) => Queued::Commit(commit),
        Err(o) => Queued::Refused(o),
    }
}

async fn check_and_queue<B: KafkaBackend>(
    ctx: &Ctx<'_, B>,
    req: &ProduceRequest,
    topic: &str,
    index: i32,
    data: Option<&bytes::Bytes>,
) -> Result<PendingAppend, Outcome> {
    if req.transactional_id.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(Outcome::error(
            ResponseError::TransactionalIdAuthorizationFailed,
            "transactions are not supported",
        ));
    }
    if !matches!(req.acks, -1..=1) {
        return Err(Outcome::error(
            ResponseError::InvalidRequiredAcks,
            format!("acks={} (use 0, 1 or -1)", req.acks),
        ));
    }
    if !ctx.principal().publish {
        return Err(Outcome::error(
            ResponseError::TopicAuthorizationFailed,
            "the token may not publish",
        ));
    }
    let Some(data) = data else {
        return Err(Outcome::error(ResponseError::InvalidRecord, "no records"));
    };
    let batch = match records::decode_produce(data, ctx.server.config.max_batch_bytes, now_ms()) {
        Ok(b) => b,
        Err(e) => {
            let code = match &e {
                BatchError::Corrupt(_) => ResponseError::CorruptMessage,
                BatchError::Invalid(_) => ResponseError::InvalidRecord,
                BatchError::TooLarge(_) => ResponseError::MessageTooLarge,
                BatchError::Transactional => ResponseError::TransactionalIdAuthorizationFailed,
            };
            return Err(Outcome::error(code, e.to_string()));
        }
    };
    ctx.backend()
        .queue_produce(ProduceBatch {
            topic: topic.to_string(),
            partition: index,
            records: batch.records,
            producer: batch.producer,
            publisher: Some(ctx.principal().name.clone()),
            timeout: Duration::from_millis(req.timeout_ms.max(0) as u64),
        })
        .await
        .map_err(|e| Outcome::of(Err(e)))
}

/// The response of a queued request (`None`: acks=0, not answered), once its commits are known.
pub type Response<'s> = BoxFuture<'s, Result<Option<ProduceResponse>, ConnError>>;

/// Checks and queues every partition's batch; returns once all are queued (so a request queued
/// after this one is appended after it), with the future of the response.
pub async fn queue<'s, B: KafkaBackend>(
    server: &'s KafkaServer<B>,
    ctx: &Ctx<'_, B>,
    req: ProduceRequest,
) -> Response<'s> {
    let jobs = req.topic_data.iter().flat_map(|t| {
        let req = &req;
        t.partition_data.iter().map(move |p| async move {
            (
                t.name.to_string(),
                p.index,
                partition(ctx, req, t.name.as_str(), p.index, p.records.as_ref()).await,
            )
        })
    });
    let queued = join_all(jobs).await;
    let acks = req.acks;
    Box::pin(async move {
        let results = join_all(queued.into_iter().map(|(t, p, q)| async move {
            let outcome = match q {
                Queued::Refused(o) => o,
                Queued::Commit(c) => Outcome::of(c.await),
            };
            (t, p, outcome)
        }))
        .await;
        respond(acks, results, |e| count_error(server, ApiKey::Produce, e))
    })
}

fn respond(
    acks: i16,
    results: Vec<(String, i32, Outcome)>,
    code: impl Fn(Option<ResponseError>) -> i16,
) -> Result<Option<ProduceResponse>, ConnError> {
    if acks == 0 {
        return match results
            .iter()
            .find_map(|(t, p, o)| o.message.as_ref().map(|m| format!("{t}/{p}: {m}")))
        {
            Some(why) => Err(ConnError::AcksZeroFailed(why)),
            None => Ok(None),
        };
    }
    let mut topics: Vec<TopicProduceResponse> = Vec::new();
    for (topic, index, o) in results {
        let part = PartitionProduceResponse::default()
            .with_index(index)
            .with_error_code(code(o.error))
            .with_error_message(o.message.map(str_bytes))
            .with_base_offset(o.base_offset)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(o.log_start_offset);
        match topics.iter_mut().find(|t| t.name.as_str() == topic) {
            Some(t) => t.partition_responses.push(part),
            None => topics.push(
                TopicProduceResponse::default()
                    .with_name(super::topic_name(&topic))
                    .with_partition_responses(vec![part]),
            ),
        }
    }
    Ok(Some(ProduceResponse::default().with_responses(topics)))
}

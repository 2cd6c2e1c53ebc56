//! v1 publish and read: `POST|GET /v1/topics/{topic}/messages`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::code::Code;
use super::error::ApiError;
use super::extract::{parse_json, ApiPath, ApiQuery, JsonBytes};
use super::json_reply::{push_str, push_u64, RawJson};
use super::page_json::{read_page, PageEnd};
use super::publish_body;
use super::responses::{
    Auth, Internal, Invalid, Missing, OutOfRange, Refused, TooLarge, Unavailable, Unknown,
};
use super::{
    check_message_size, count_in, count_out_totals, read_consistency, topic_name, AppState, Caller,
};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::auth::Role;
use crate::command::{NewMessage, ProducerSeq, Publish};
use crate::topics::{Message, TopicMeta};

/// A message to publish (also what the Rust client sends): exactly one of `value` (text) and
/// `value_b64` (any bytes, standard base64 with padding).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The value's bytes in base64 (RFC 4648 standard alphabet, padded): for values that are not
    /// UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_b64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
}

impl From<&str> for MessageIn {
    fn from(v: &str) -> Self {
        MessageIn::from(v.to_string())
    }
}

impl From<String> for MessageIn {
    fn from(value: String) -> Self {
        MessageIn {
            value: Some(value),
            ..Default::default()
        }
    }
}

impl MessageIn {
    /// A message of any bytes: sent as `value` when they are UTF-8 text, else as `value_b64`.
    pub fn bytes(value: impl Into<Vec<u8>>) -> Self {
        match String::from_utf8(value.into()) {
            Ok(text) => MessageIn::from(text),
            Err(e) => MessageIn {
                value_b64: Some(B64.encode(e.as_bytes())),
                ..Default::default()
            },
        }
    }

    /// The value's bytes (`Err`: neither or both of `value` and `value_b64`, or bad base64).
    pub fn take_value(&mut self) -> Result<Vec<u8>, String> {
        match (self.value.take(), self.value_b64.take()) {
            (Some(v), None) => Ok(v.into_bytes()),
            (None, Some(b)) => B64
                .decode(b.as_bytes())
                .map_err(|e| format!("value_b64 is not base64 (standard alphabet, padded): {e}")),
            (None, None) => Err("each message needs `value` (text) or `value_b64`".into()),
            (Some(_), Some(_)) => Err("a message has `value` or `value_b64`, not both".into()),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// Stored atomically, at consecutive offsets.
    pub messages: Vec<MessageIn>,
    /// Exactly-once: a retry with the same producer_id and sequence returns the first answer.
    pub producer_id: Option<String>,
    pub sequence: Option<u64>,
    /// With `producer_id` (default 0): a higher epoch than the producer's starts its sequences
    /// over (any sequence is accepted) and fences the older ones (`409 producer_fenced`).
    pub producer_epoch: Option<u64>,
    /// The partition the batch goes to (`400 invalid_partition` when the topic has no such
    /// partition). Without it: the partition of the first message's `key` (Kafka's default
    /// partitioner), else round-robin.
    pub partition: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublishResponse {
    pub topic: String,
    /// The partition the batch was stored in (offsets count per partition).
    #[serde(default)]
    pub partition: u32,
    pub base_offset: u64,
    pub offsets: Vec<u64>,
    /// True when this was a retry of a batch already stored.
    #[serde(default)]
    pub duplicate: bool,
}

impl PublishResponse {
    /// `{"topic":..,"partition":..,"base_offset":..,"offsets":[..],"duplicate":..}`.
    pub fn to_json(&self) -> RawJson {
        let mut out = Vec::with_capacity(80 + self.topic.len() + 21 * self.offsets.len());
        out.extend_from_slice(b"{\"topic\":");
        push_str(&mut out, &self.topic);
        out.extend_from_slice(b",\"partition\":");
        push_u64(&mut out, u64::from(self.partition));
        out.extend_from_slice(b",\"base_offset\":");
        push_u64(&mut out, self.base_offset);
        out.extend_from_slice(b",\"offsets\":[");
        for (i, o) in self.offsets.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_u64(&mut out, *o);
        }
        out.extend_from_slice(if self.duplicate {
            b"],\"duplicate\":true}"
        } else {
            b"],\"duplicate\":false}"
        });
        RawJson(out)
    }
}

/// Round-robin of this node's publishes without a partition or key.
pub(super) static ROUND_ROBIN: crate::topics::partitioner::RoundRobin =
    crate::topics::partitioner::RoundRobin::new();

/// Publish a batch atomically (into one partition); answered with its partition and offsets once
/// a quorum stored it.
#[utoipa::path(post, path = "/v1/topics/{topic}/messages", tag = "messages", params(("topic" = String, Path)), request_body = PublishRequest,
    responses((status = 200, body = PublishResponse), Invalid, Auth, Refused, TooLarge, Unavailable, Unknown, Internal))]
pub async fn publish(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(topic): ApiPath<String>,
    JsonBytes(body): JsonBytes,
) -> Result<RawJson, ApiError> {
    let req: publish_body::PublishRequest = parse_json(&body)?;
    caller.require(Role::Publish)?;
    topic_name(&topic)?;
    if req.messages.is_empty() {
        return Err(ApiError::bad_request(
            Code::EmptyBatch,
            "`messages` must hold at least one message",
        ));
    }
    let producer = match (req.producer_id, req.sequence) {
        (Some(producer_id), Some(sequence)) => {
            if producer_id.is_empty() || producer_id.len() > 256 {
                return Err(ApiError::bad_request(
                    Code::InvalidField,
                    "producer_id must be 1 to 256 bytes",
                ));
            }
            Some(ProducerSeq::scoped(
                caller.principal.as_ref().map(|p| p.publisher.as_str()),
                producer_id,
                req.producer_epoch.unwrap_or(0),
                sequence,
            ))
        }
        (None, None) if req.producer_epoch.is_some() => {
            return Err(ApiError::bad_request(
                Code::InvalidField,
                "producer_epoch needs producer_id and sequence",
            ))
        }
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_request(
                Code::InvalidField,
                "producer_id and sequence go together",
            ))
        }
    };
    let mut bytes = 0u64;
    let messages: Vec<NewMessage> = req
        .messages
        .into_iter()
        .map(|mut m| {
            let value = m
                .take_value(&body)
                .map_err(|e| ApiError::bad_request(Code::InvalidField, e))?;
            let m = NewMessage {
                value: value.into(),
                key: m.key,
                headers: m.headers,
            };
            check_message_size(&s, m.size())?;
            bytes += m.value.len() as u64;
            Ok(m)
        })
        .collect::<Result<_, ApiError>>()?;
    // Without a key, a producer's batches go where its id hashes: a retry (same producer id and
    // sequence) must reach the partition that remembers the first attempt, which round-robin
    // would not (exactly-once is per partition, as in Kafka).
    let key = messages
        .first()
        .and_then(|m| m.key.clone())
        .or_else(|| producer.as_ref().map(|p| p.producer_id.clone()));
    // Known in memory after the topic's first publish here: no trip to the blocking pool.
    let partitions = match s.store.cached_partitions(&topic) {
        Some(n) => n,
        None => {
            let t = topic.clone();
            s.store.blocking(move |st| st.partitions(&t)).await?
        }
    };
    let partition =
        crate::topics::partitioner::route(req.partition, key.as_deref(), partitions, &ROUND_ROBIN)
            .map_err(|p| super::invalid_partition(&topic, p, partitions))?;
    let published = s
        .writer
        .publish(Publish {
            topic: topic.clone(),
            messages,
            producer,
            publisher: caller.publisher(),
            partition,
            kafka: None,
        })
        .await?;
    if !published.duplicate {
        count_in(&s, published.count, bytes);
    }
    Ok(PublishResponse {
        topic,
        partition,
        base_offset: published.base_offset,
        offsets: published.offsets().collect(),
        duplicate: published.duplicate,
    }
    .to_json())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReadQuery {
    /// First offset to read (default: the log start).
    pub offset: Option<u64>,
    /// At most this many messages (default 100, at most 10000).
    pub limit: Option<usize>,
    /// About this many bytes of messages (default 1 MiB); at least one message is returned.
    pub max_bytes: Option<u64>,
    /// Long-poll: when nothing is at `offset` yet (also when `offset` is past this node's high
    /// watermark: it may lag), wait up to this long for it (at most 60000).
    pub wait_ms: Option<u64>,
    /// `strong` for a linearizable read.
    pub consistency: Option<String>,
    /// `base64`: every value as `value_b64` (default: `value` for text, `value_b64` for the rest).
    pub encoding: Option<String>,
    /// The partition to read (default 0).
    pub partition: Option<u32>,
}

/// A message as read: `value` holds the value when it is UTF-8 text (else `null`), `value_b64`
/// its bytes in base64 when it is not (or on every message with `encoding=base64`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageOut {
    /// The partition the message is in (absent from servers before partitions: 0).
    #[serde(default)]
    pub partition: u32,
    pub offset: u64,
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_b64: Option<String>,
    pub key: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub timestamp_ms: u64,
    pub publisher: Option<String>,
}

impl From<Message> for MessageOut {
    fn from(m: Message) -> MessageOut {
        MessageOut::new(m, false)
    }
}

impl MessageOut {
    /// With `base64`, the value is always given as `value_b64`.
    pub fn new(m: Message, base64: bool) -> MessageOut {
        let (value, value_b64) = if base64 {
            (None, Some(B64.encode(&m.record.value)))
        } else {
            match String::from_utf8(m.record.value) {
                Ok(text) => (Some(text), None),
                Err(e) => (None, Some(B64.encode(e.as_bytes()))),
            }
        };
        MessageOut {
            partition: 0,
            offset: m.offset,
            value,
            value_b64,
            key: m.record.key,
            headers: m.record.headers,
            timestamp_ms: m.record.ts_ms,
            publisher: m.record.publisher,
        }
    }

    /// The value's bytes, whichever field carries them (`None`: bad base64 from the server).
    pub fn value_bytes(&self) -> Option<Vec<u8>> {
        match (&self.value, &self.value_b64) {
            (_, Some(b)) => B64.decode(b.as_bytes()).ok(),
            (Some(v), None) => Some(v.clone().into_bytes()),
            (None, None) => None,
        }
    }

    /// The value as text: the text itself, or its bytes with U+FFFD where they are not UTF-8.
    pub fn text(&self) -> String {
        match &self.value {
            Some(v) => v.clone(),
            None => String::from_utf8_lossy(&self.value_bytes().unwrap_or_default()).into_owned(),
        }
    }
}

/// Whether `encoding` asks for base64 values (`400 invalid_query` for an unknown encoding).
pub fn base64_encoding(encoding: Option<&str>) -> Result<bool, ApiError> {
    match encoding {
        None => Ok(false),
        Some("base64") => Ok(true),
        Some(other) => Err(ApiError::bad_request(
            Code::InvalidQuery,
            format!("encoding must be base64 (got {other:?})"),
        )),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReadResponse {
    pub messages: Vec<MessageOut>,
    /// Where to read next.
    pub next_offset: u64,
    pub high_watermark: u64,
    pub log_start_offset: u64,
}

pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// Read from an offset; with `wait_ms`, wait for the first message to exist. An offset past this
/// node's high watermark is `416` only once the node caught up with the leader's commit (a read
/// barrier) and, with `wait_ms`, waited for it.
#[utoipa::path(get, path = "/v1/topics/{topic}/messages", tag = "messages", params(("topic" = String, Path), ReadQuery),
    responses((status = 200, body = ReadResponse), Invalid, Auth, Missing, OutOfRange, Unavailable, Unknown, Internal))]
pub async fn read(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(topic): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReadQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::Consume)?;
    topic_name(&topic)?;
    let base64 = base64_encoding(q.encoding.as_deref())?;
    read_consistency(&s, q.consistency.as_deref()).await?;
    if q.limit == Some(0) {
        return Err(ApiError::bad_request(
            Code::InvalidQuery,
            "limit must be at least 1",
        ));
    }
    let limit = q.limit.unwrap_or(100).min(10_000);
    let max_bytes = q
        .max_bytes
        .unwrap_or(1 << 20)
        .min(s.limits.max_request_bytes as u64);
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(q.wait_ms.unwrap_or(0)).min(MAX_WAIT);
    // 404 before anything is registered for the name: a read of an unknown topic leaves nothing.
    let partition = q.partition.unwrap_or(0);
    super::partition_meta(&s, &topic, partition).await?;
    // Subscribe before looking, so a publish between the look and the wait still wakes us.
    let mut changes = s.store.subscribe(&topic);
    let mut caught_up = false;
    loop {
        let meta: TopicMeta = super::partition_meta(&s, &topic, partition).await?;
        let offset = q.offset.unwrap_or(meta.start);
        if offset < meta.start {
            return Err(ApiError::offset_out_of_range(offset, meta.start, meta.next));
        }
        let waiting = tokio::time::Instant::now() < deadline;
        if offset > meta.next && !waiting {
            // This node may only lag (a follower, or a node that just restarted): catch up with
            // the leader's commit once (a read barrier) before calling the offset out of range.
            if !caught_up && s.node.read_barrier().await.is_ok() {
                caught_up = true;
                continue;
            }
            return Err(ApiError::offset_out_of_range(offset, meta.start, meta.next));
        }
        if offset < meta.next || (offset == meta.next && !waiting) {
            let m = meta.clone();
            // Read and encode on the blocking thread: the runtime workers only send the bytes.
            let (body, n, bytes) = s
                .store
                .blocking(move |st| {
                    let messages = st.read(&m, offset, limit, max_bytes)?;
                    let end = PageEnd {
                        next_offset: messages.last().map_or(offset, |m| m.offset + 1),
                        high_watermark: m.next,
                        log_start_offset: m.start,
                    };
                    let bytes: usize = messages.iter().map(|m| m.record.value.len()).sum();
                    let body = read_page(&messages, partition, base64, end);
                    Ok((body, messages.len() as u64, bytes as u64))
                })
                .await?;
            count_out_totals(&s, n, bytes);
            return Ok((
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response());
        }
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = s.node.lifecycle().api_closed() => return Err(ApiError::unavailable(Code::ShuttingDown, "the node is shutting down")),
        }
    }
}

//! Named consumer positions: `GET|PUT|DELETE /v1/consumers/{name}/topics/{topic}`, replicated
//! through the log so they survive restarts and leader changes; `GET /v1/consumers` and
//! `GET /v1/topics/{topic}/consumers` list them with their lag (issue 16).
//!
//! A `PUT` may move a position anywhere in `[0, high_watermark]`, backwards included: that is how
//! a consumer is reset (e.g. to replay). A topic holds at most `--max-consumers-per-topic`
//! positions: committing a new one beyond it answers 409 `too_many_consumers`. The node that
//! receives the call checks its applied state, so calls creating positions at the same moment
//! can pass the cap by as many as are in flight; the cap bounds growth, it is not a quota.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::code::Code;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::responses::Refused;
use super::responses::{
    Auth, Internal, Invalid, Missing, OutOfRange, TooLarge, Unavailable, Unknown,
};
use super::{consumer_name, topic_name, AppState, Caller};
use crate::auth::Role;
use crate::command::{CommitOffset, DeleteConsumer};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsumerPosition {
    pub consumer: String,
    pub topic: String,
    /// The partition this position is on (`?partition=`, default 0).
    #[serde(default)]
    pub partition: u32,
    /// The next offset this consumer reads (0 when it never committed).
    pub offset: u64,
    pub committed: bool,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    /// Messages between the position (or the log start, if later) and the high watermark.
    pub lag: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    /// The next offset to read, anywhere in `[0, high_watermark]`: lower than the current
    /// position resets the consumer back.
    pub offset: u64,
}

/// One named consumer position, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsumerLag {
    pub name: String,
    pub topic: String,
    /// Named consumers have one position per topic partition.
    pub partition: u32,
    /// The next offset this consumer reads.
    pub offset: u64,
    /// The topic's high watermark (the offset the next message gets).
    pub end_offset: u64,
    /// Messages between the position (or the log start, if later) and `end_offset`.
    pub lag: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsumerList {
    /// By topic, then name.
    pub consumers: Vec<ConsumerLag>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only this topic's positions.
    pub topic: Option<String>,
    /// `strong`: as fresh as the leader (a read barrier first); default `local`.
    pub consistency: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsumerRemoved {
    pub consumer: String,
    pub topic: String,
    pub deleted: bool,
}

/// Every position (of one topic with `topic`), with its lag, from this node's applied state.
async fn positions(s: &AppState, topic: Option<String>) -> Result<ConsumerList, ApiError> {
    let lags = s
        .store
        .blocking(move |st| st.consumer_lags(topic.as_deref()))
        .await?;
    let mut consumers: Vec<ConsumerLag> = lags
        .into_iter()
        .map(|p| ConsumerLag {
            name: p.consumer,
            topic: p.topic,
            partition: p.partition,
            offset: p.offset,
            end_offset: p.end,
            lag: p.lag,
        })
        .collect();
    // Key order sorts topics by name length first.
    consumers.sort_by(|a, b| (&a.topic, &a.name).cmp(&(&b.topic, &b.name)));
    Ok(ConsumerList { consumers })
}

/// Refuse a new position on a topic that holds `--max-consumers-per-topic` already (an existing
/// one may always move).
pub(super) async fn ensure_room(s: &AppState, topic: &str, consumer: &str) -> Result<(), ApiError> {
    let max = s.limits.max_consumers_per_topic;
    let (t, c) = (topic.to_string(), consumer.to_string());
    let held = s
        .store
        .blocking(move |st| {
            if st.consumer_offset(&t, &c)?.is_some() {
                return Ok(None);
            }
            st.consumer_count(&t).map(Some)
        })
        .await?;
    match held {
        Some(n) if n >= max => Err(ApiError::conflict(
            Code::TooManyConsumers,
            format!(
                "topic {topic:?} holds {n} named consumer positions, the most \
                 --max-consumers-per-topic ({max}) allows; delete unused ones \
                 (DELETE /v1/consumers/{{name}}/topics/{{topic}}) or raise the limit"
            ),
        )),
        _ => Ok(()),
    }
}

/// `?partition=P` of the per-position calls (default 0).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct PartitionQuery {
    pub partition: Option<u32>,
}

async fn position(
    s: &AppState,
    consumer: String,
    topic: String,
    partition: u32,
) -> Result<ConsumerPosition, ApiError> {
    let meta = super::partition_meta(s, &topic, partition).await?;
    s.store
        .blocking(move |st| {
            let committed = st.consumer_offset_at(&topic, partition, &consumer)?;
            let offset = committed.unwrap_or(0);
            Ok(Ok(ConsumerPosition {
                lag: meta.lag(offset),
                consumer,
                topic,
                partition,
                offset,
                committed: committed.is_some(),
                high_watermark: meta.next,
                log_start_offset: meta.start,
            }))
        })
        .await?
}

/// A consumer's position on a topic, with its lag.
#[utoipa::path(get, path = "/v1/consumers/{name}/topics/{topic}", tag = "consumers", params(("name" = String, Path), ("topic" = String, Path), PartitionQuery),
    responses((status = 200, body = ConsumerPosition), Invalid, Auth, Missing, Unavailable, Internal))]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((name, topic)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<PartitionQuery>,
) -> Result<Json<ConsumerPosition>, ApiError> {
    caller.require(Role::Consume)?;
    consumer_name(&name)?;
    topic_name(&topic)?;
    position(&s, name, topic, q.partition.unwrap_or(0))
        .await
        .map(Json)
}

/// Commit a consumer's position (the next offset it will read); a lower offset resets it back.
#[utoipa::path(put, path = "/v1/consumers/{name}/topics/{topic}", tag = "consumers", params(("name" = String, Path), ("topic" = String, Path), PartitionQuery),
    request_body = CommitRequest, responses((status = 200, body = ConsumerPosition), Invalid, Auth, Missing, Refused, TooLarge, OutOfRange, Unavailable, Unknown, Internal))]
pub async fn commit(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((name, topic)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<PartitionQuery>,
    ApiJson(req): ApiJson<CommitRequest>,
) -> Result<Json<ConsumerPosition>, ApiError> {
    let partition = q.partition.unwrap_or(0);
    caller.require(Role::Consume)?;
    consumer_name(&name)?;
    topic_name(&topic)?;
    ensure_room(&s, &topic, &name).await?;
    s.writer
        .commit_offset(CommitOffset {
            consumer: name.clone(),
            topic: topic.clone(),
            offset: req.offset,
            partition,
        })
        .await?;
    position(&s, name, topic, partition).await.map(Json)
}

/// Every named consumer position with its lag (of one topic with `?topic=`).
#[utoipa::path(get, path = "/v1/consumers", tag = "consumers", params(ListQuery),
    responses((status = 200, body = ConsumerList), Invalid, Auth, Unavailable, Internal))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ConsumerList>, ApiError> {
    caller.require(Role::Consume)?;
    if let Some(t) = &q.topic {
        topic_name(t)?;
    }
    super::read_consistency(&s, q.consistency.as_deref()).await?;
    positions(&s, q.topic).await.map(Json)
}

/// A topic's named consumer positions with their lag.
#[utoipa::path(get, path = "/v1/topics/{topic}/consumers", tag = "consumers", params(("topic" = String, Path)),
    responses((status = 200, body = ConsumerList), Invalid, Auth, Missing, Unavailable, Internal))]
pub async fn list_topic(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(topic): ApiPath<String>,
) -> Result<Json<ConsumerList>, ApiError> {
    caller.require(Role::Consume)?;
    topic_name(&topic)?;
    super::topic_meta(&s, &topic).await?;
    positions(&s, Some(topic)).await.map(Json)
}

/// Delete a consumer's position (replicated); its next commit starts it again.
#[utoipa::path(delete, path = "/v1/consumers/{name}/topics/{topic}", tag = "consumers", params(("name" = String, Path), ("topic" = String, Path)),
    responses((status = 200, body = ConsumerRemoved), Invalid, Auth, Missing, Unavailable, Unknown, Internal))]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((name, topic)): ApiPath<(String, String)>,
) -> Result<Json<ConsumerRemoved>, ApiError> {
    caller.require(Role::Consume)?;
    consumer_name(&name)?;
    topic_name(&topic)?;
    let deleted = s
        .writer
        .delete_consumer(DeleteConsumer {
            consumer: name.clone(),
            topic: topic.clone(),
        })
        .await?;
    if !deleted.existed {
        return Err(ApiError::not_found(
            Code::ConsumerNotFound,
            format!("consumer {name:?} has no position on topic {topic:?}"),
        ));
    }
    Ok(Json(ConsumerRemoved {
        consumer: name,
        topic,
        deleted: true,
    }))
}

//! Named consumer positions: `GET|PUT /v1/consumers/{name}/topics/{topic}`, replicated through
//! the log so they survive restarts and leader changes.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::responses::{
    Auth, Internal, Invalid, Missing, OutOfRange, TooLarge, Unavailable, Unknown,
};
use super::{consumer_name, topic_name, AppState, Caller};
use crate::auth::Role;
use crate::command::CommitOffset;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsumerPosition {
    pub consumer: String,
    pub topic: String,
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
    pub offset: u64,
}

async fn position(
    s: &AppState,
    consumer: String,
    topic: String,
) -> Result<ConsumerPosition, ApiError> {
    s.store
        .blocking(move |st| {
            let Some(meta) = st.topic(&topic)? else {
                return Ok(Err(ApiError::topic_not_found(&topic)));
            };
            let committed = st.consumer_offset(&topic, &consumer)?;
            let offset = committed.unwrap_or(0);
            Ok(Ok(ConsumerPosition {
                lag: meta.next - offset.clamp(meta.start, meta.next),
                consumer,
                topic,
                offset,
                committed: committed.is_some(),
                high_watermark: meta.next,
                log_start_offset: meta.start,
            }))
        })
        .await?
}

/// A consumer's position on a topic, with its lag.
#[utoipa::path(get, path = "/v1/consumers/{name}/topics/{topic}", tag = "consumers", params(("name" = String, Path), ("topic" = String, Path)),
    responses((status = 200, body = ConsumerPosition), Invalid, Auth, Missing, Unavailable, Internal))]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((name, topic)): ApiPath<(String, String)>,
) -> Result<Json<ConsumerPosition>, ApiError> {
    caller.require(Role::Consume)?;
    consumer_name(&name)?;
    topic_name(&topic)?;
    position(&s, name, topic).await.map(Json)
}

/// Commit a consumer's position (the next offset it will read).
#[utoipa::path(put, path = "/v1/consumers/{name}/topics/{topic}", tag = "consumers", params(("name" = String, Path), ("topic" = String, Path)),
    request_body = CommitRequest, responses((status = 200, body = ConsumerPosition), Invalid, Auth, Missing, TooLarge, OutOfRange, Unavailable, Unknown, Internal))]
pub async fn commit(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((name, topic)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<CommitRequest>,
) -> Result<Json<ConsumerPosition>, ApiError> {
    caller.require(Role::Consume)?;
    consumer_name(&name)?;
    topic_name(&topic)?;
    s.writer
        .commit_offset(CommitOffset {
            consumer: name.clone(),
            topic: topic.clone(),
            offset: req.offset,
        })
        .await?;
    position(&s, name, topic).await.map(Json)
}

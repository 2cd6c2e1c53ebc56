//! Topic admin: `GET /v1/topics`, `GET|PUT|DELETE /v1/topics/{topic}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::{ApiPath, MaybeJson};
use super::responses::{Auth, Internal, Invalid, Missing, TooLarge, Unavailable, Unknown};
use super::{topic_name, AppState, Caller};
use crate::auth::Role;
use crate::command::{self, DeleteTopic, Retention};
use crate::topics::TopicMeta;

use super::code::Code;

/// Most partitions a topic can have.
pub const MAX_PARTITIONS: u32 = 1024;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionJson {
    /// Keep at most this many messages.
    pub max_messages: Option<u64>,
    /// Keep at most this many bytes of messages.
    pub max_bytes: Option<u64>,
    /// Drop messages older than this.
    pub max_age_ms: Option<u64>,
}

impl From<Retention> for RetentionJson {
    fn from(r: Retention) -> Self {
        RetentionJson {
            max_messages: r.max_messages,
            max_bytes: r.max_bytes,
            max_age_ms: r.max_age_ms,
        }
    }
}

impl From<RetentionJson> for Retention {
    fn from(r: RetentionJson) -> Self {
        Retention {
            max_messages: r.max_messages,
            max_bytes: r.max_bytes,
            max_age_ms: r.max_age_ms,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopicInfo {
    pub name: String,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    /// Retained messages.
    pub messages: u64,
    /// Retained bytes (values, keys and headers).
    pub bytes: u64,
    /// The topic's own retention; unset fields follow the node-wide default.
    pub retention: RetentionJson,
    pub created_ms: u64,
    /// How many partitions the topic has (offsets count per partition; `high_watermark` and
    /// `log_start_offset` above are partition 0's, `messages` and `bytes` the whole topic's).
    pub partitions: u32,
    /// Each partition's offsets, in partition order.
    pub partition_offsets: Vec<PartitionInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PartitionInfo {
    pub partition: u32,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    pub messages: u64,
    pub bytes: u64,
}

impl TopicInfo {
    /// A topic's stats from its partitions' metas (partition 0 first; never empty).
    pub fn new(name: String, parts: &[TopicMeta]) -> TopicInfo {
        let m = &parts[0];
        TopicInfo {
            name,
            high_watermark: m.next,
            log_start_offset: m.start,
            messages: parts.iter().map(TopicMeta::messages).sum(),
            bytes: parts.iter().map(TopicMeta::bytes).sum(),
            retention: m.retention.into(),
            created_ms: m.created_ms,
            partitions: parts.len() as u32,
            partition_offsets: parts
                .iter()
                .enumerate()
                .map(|(i, p)| PartitionInfo {
                    partition: i as u32,
                    high_watermark: p.next,
                    log_start_offset: p.start,
                    messages: p.messages(),
                    bytes: p.bytes(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopicList {
    pub topics: Vec<TopicInfo>,
}

/// Every topic with its stats.
#[utoipa::path(get, path = "/v1/topics", tag = "topics", responses((status = 200, body = TopicList), Auth, Unavailable, Internal))]
pub async fn list(State(s): State<AppState>, caller: Caller) -> Result<Json<TopicList>, ApiError> {
    caller.require_any(&[Role::Consume, Role::Admin])?;
    let topics = s
        .store
        .blocking(|st| {
            st.topics()?
                .into_iter()
                .map(|(n, _)| Ok((st.partition_metas(&n)?, n)))
                .collect::<crate::Result<Vec<_>>>()
        })
        .await?;
    Ok(Json(TopicList {
        topics: topics
            .into_iter()
            // A topic deleted between the two reads has no partitions left: not listed.
            .filter(|(parts, _)| !parts.is_empty())
            .map(|(parts, n)| TopicInfo::new(n, &parts))
            .collect(),
    }))
}

/// One topic's stats.
#[utoipa::path(get, path = "/v1/topics/{topic}", tag = "topics", params(("topic" = String, Path)),
    responses((status = 200, body = TopicInfo), Invalid, Auth, Missing, Unavailable, Internal))]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(topic): ApiPath<String>,
) -> Result<Json<TopicInfo>, ApiError> {
    caller.require_any(&[Role::Consume, Role::Admin])?;
    topic_name(&topic)?;
    info(&s, topic).await.map(Json)
}

async fn info(s: &AppState, topic: String) -> Result<TopicInfo, ApiError> {
    let t = topic.clone();
    let parts = s.store.blocking(move |st| st.partition_metas(&t)).await?;
    if parts.is_empty() {
        return Err(ApiError::topic_not_found(&topic));
    }
    Ok(TopicInfo::new(topic, &parts))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutTopic {
    pub retention: Option<RetentionJson>,
    /// The partition count: at least 1, never below the topic's (raise only).
    pub partitions: Option<u32>,
}

/// Create a topic, or set its retention or raise its partition count; `201` when created.
#[utoipa::path(put, path = "/v1/topics/{topic}", tag = "topics", params(("topic" = String, Path)), request_body = PutTopic,
    responses((status = 200, body = TopicInfo), (status = 201, body = TopicInfo), Invalid, Auth, TooLarge, Unavailable, Unknown, Internal))]
pub async fn put(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(topic): ApiPath<String>,
    MaybeJson(body): MaybeJson<PutTopic>,
) -> Result<(StatusCode, Json<TopicInfo>), ApiError> {
    caller.require(Role::Admin)?;
    topic_name(&topic)?;
    let body = body.unwrap_or_default();
    let retention = body.retention.map(Retention::from);
    if let Some(n) = body.partitions {
        if n == 0 || n > MAX_PARTITIONS {
            return Err(ApiError::bad_request(
                Code::InvalidPartitions,
                format!("partitions must be 1 to {MAX_PARTITIONS}, got {n}"),
            ));
        }
    }
    let put = s
        .writer
        .put_topic(command::PutTopic {
            topic: topic.clone(),
            retention,
            create_only: false,
            partitions: body.partitions,
        })
        .await?;
    let status = if put.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(info(&s, topic).await?)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    pub name: String,
    pub deleted: bool,
}

/// Delete a topic and its messages.
#[utoipa::path(delete, path = "/v1/topics/{topic}", tag = "topics", params(("topic" = String, Path)),
    responses((status = 200, body = Deleted), Invalid, Auth, Missing, Unavailable, Unknown, Internal))]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(topic): ApiPath<String>,
) -> Result<Json<Deleted>, ApiError> {
    caller.require(Role::Admin)?;
    topic_name(&topic)?;
    let deleted = s
        .writer
        .delete_topic(DeleteTopic {
            topic: topic.clone(),
        })
        .await?;
    if !deleted.existed {
        return Err(ApiError::topic_not_found(&topic));
    }
    Ok(Json(Deleted {
        name: topic,
        deleted: true,
    }))
}

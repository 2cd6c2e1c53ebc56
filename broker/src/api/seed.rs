//! The seed's API, kept verbatim: `PUT /` (and `/publish`) with `{"Key", "Value"}`,
//! `GET /<topic>` (newest values, or a named consumer's next ones), `GET /history/<topic>`.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::json_reply::{push_str, push_u64, RawJson};
use super::responses::{Auth, Internal, Invalid, Refused, TooLarge, Unavailable, Unknown};
use super::{
    check_message_size, consumer_name, count_in, count_out, read_consistency, topic_name, AppState,
    Caller,
};
use crate::auth::Role;
use crate::command::{NewMessage, Publish};

#[derive(Debug, Deserialize, ToSchema)]
pub struct SeedPublish {
    /// The topic.
    #[serde(rename = "Key")]
    pub key: String,
    /// The message.
    #[serde(rename = "Value")]
    pub value: String,
    /// Bearer token, for clients that cannot set headers.
    #[serde(rename = "Token", default)]
    pub token: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SeedPublished {
    pub topic: String,
    pub offset: u64,
}

impl SeedPublished {
    /// `{"topic":..,"offset":..}`.
    pub fn to_json(&self) -> RawJson {
        let mut out = Vec::with_capacity(32 + self.topic.len());
        out.extend_from_slice(b"{\"topic\":");
        push_str(&mut out, &self.topic);
        out.extend_from_slice(b",\"offset\":");
        push_u64(&mut out, self.offset);
        out.push(b'}');
        RawJson(out)
    }
}

/// Publish one message (seed API); answered once a quorum stored it.
#[utoipa::path(put, path = "/", tag = "seed", request_body = SeedPublish,
    responses((status = 200, body = SeedPublished), Invalid, Auth, TooLarge, Unavailable, Unknown, Internal))]
pub async fn publish(
    State(s): State<AppState>,
    mut caller: Caller,
    ApiJson(body): ApiJson<SeedPublish>,
) -> Result<RawJson, ApiError> {
    if let (false, None, Some(token)) = (caller.open, &caller.principal, &body.token) {
        caller.principal = Some(
            s.auth
                .principal(token)
                .cloned()
                .ok_or_else(|| ApiError::unauthorized("unknown token"))?,
        );
    }
    caller.require(Role::Publish)?;
    topic_name(&body.key)?;
    check_message_size(&s, body.value.len())?;
    let bytes = body.value.len() as u64;
    let published = s
        .writer
        .publish(Publish {
            topic: body.key.clone(),
            messages: vec![NewMessage::new(body.value)],
            producer: None,
            publisher: caller.publisher(),
            partition: 0,
            kafka: None,
        })
        .await?;
    count_in(&s, 1, bytes);
    Ok(SeedPublished {
        topic: body.key,
        offset: published.base_offset,
    }
    .to_json())
}

/// Publish at the seed's `PUT /publish` path too. (Only the OpenAPI document's entry: the route
/// is served by [`publish`]; utoipa documents one path per function.)
#[utoipa::path(put, path = "/publish", tag = "seed", request_body = SeedPublish,
    responses((status = 200, body = SeedPublished), Invalid, Auth, TooLarge, Unavailable, Unknown, Internal))]
#[allow(dead_code)]
fn publish_alias_doc() {}

#[derive(Debug, Deserialize, IntoParams)]
pub struct NewestQuery {
    /// How many of the newest values (default 10, at most 10000).
    pub limit: Option<u32>,
    /// A named consumer: answer the values after its position and advance it.
    pub consumer: Option<String>,
    /// `strong` for a linearizable read.
    pub consistency: Option<String>,
}

/// The newest values of a topic, oldest first; or a named consumer's next ones.
#[utoipa::path(get, path = "/{topic}", tag = "seed", params(("topic" = String, Path), NewestQuery),
    responses((status = 200, body = Vec<String>), Invalid, Auth, Refused, Unavailable, Unknown, Internal))]
pub async fn newest(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(topic): ApiPath<String>,
    ApiQuery(q): ApiQuery<NewestQuery>,
) -> Result<Json<Vec<String>>, ApiError> {
    caller.require(Role::Consume)?;
    topic_name(&topic)?;
    let limit = q.limit.unwrap_or(10).min(10_000);
    if let Some(consumer) = q.consumer {
        consumer_name(&consumer)?;
        let values = super::claim::next_values(&s, &consumer, &topic, limit).await?;
        count_out(&s, values.iter().map(|v| v.len()));
        return Ok(Json(values));
    }
    read_consistency(&s, q.consistency.as_deref()).await?;
    let budget = s.limits.max_request_bytes as u64;
    let values = s
        .store
        .blocking(move |st| newest_values(st, &topic, limit as u64, budget))
        .await?;
    count_out(&s, values.iter().map(|v| v.len()));
    Ok(Json(values))
}

/// The newest values of `topic` (at most `limit`, about `budget` bytes: at least one), oldest
/// first. Reads only the tail: each try reads at most `budget` bytes from `from`; when they do
/// not reach the end, the next try starts later (as many from the end as the last try held).
fn newest_values(
    st: &crate::topics::TopicStore,
    topic: &str,
    limit: u64,
    budget: u64,
) -> crate::Result<Vec<String>> {
    let metas = st.partition_metas(topic)?;
    if metas.len() > 1 {
        return newest_of_partitions(st, &metas, limit, budget);
    }
    let Some(meta) = metas.into_iter().next() else {
        return Ok(Vec::new());
    };
    Ok(newest_messages(st, &meta, limit, budget)?
        .into_iter()
        .map(|m| m.record.value_text().into_owned())
        .collect())
}

/// The newest values of every partition together (at most `limit`, oldest first by timestamp,
/// then partition, then offset; about `budget` bytes).
fn newest_of_partitions(
    st: &crate::topics::TopicStore,
    metas: &[crate::topics::TopicMeta],
    limit: u64,
    budget: u64,
) -> crate::Result<Vec<String>> {
    let mut all = Vec::new();
    for (p, meta) in metas.iter().enumerate() {
        for m in newest_messages(st, meta, limit, budget)? {
            all.push((m.record.ts_ms, p, m.offset, m.record));
        }
    }
    all.sort_by_key(|(ts, p, o, _)| (*ts, *p, *o));
    let mut out = Vec::new();
    let mut bytes = 0u64;
    for (_, _, _, r) in all.into_iter().rev().take(limit as usize) {
        bytes += r.size();
        if !out.is_empty() && bytes > budget {
            break;
        }
        out.push(r.value_text().into_owned());
    }
    out.reverse();
    Ok(out)
}

/// The newest messages of one partition (see [`newest_values`]).
fn newest_messages(
    st: &crate::topics::TopicStore,
    meta: &crate::topics::TopicMeta,
    limit: u64,
    budget: u64,
) -> crate::Result<Vec<crate::topics::Message>> {
    let mut from = meta.next.saturating_sub(limit).max(meta.start);
    loop {
        let want = meta.next - from;
        let page = st.read(meta, from, want as usize, budget)?;
        let got = page.len() as u64;
        // `got < want` only when the budget cut the read; `got >= 1` then, so `from` moves on.
        if got >= want || got == 0 {
            return Ok(page);
        }
        from = meta.next - got;
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct HistoryQuery {
    pub consistency: Option<String>,
}

const HISTORY_PAGE: usize = 1000;

/// Every retained value of a topic, oldest first, streamed as one JSON array.
#[utoipa::path(get, path = "/history/{topic}", tag = "seed", params(("topic" = String, Path), HistoryQuery),
    responses((status = 200, body = Vec<String>), Invalid, Auth, Unavailable, Unknown, Internal))]
pub async fn history(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(topic): ApiPath<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::Consume)?;
    topic_name(&topic)?;
    read_consistency(&s, q.consistency.as_deref()).await?;
    let metas = s
        .store
        .blocking(move |st| st.partition_metas(&topic))
        .await?;
    if metas.is_empty() {
        return Ok(Json(Vec::<String>::new()).into_response());
    }
    // One page at a time, read when the client took the previous one: a page is one bounded
    // read on the blocking pool (at most HISTORY_PAGE messages, about `max_request_bytes`); while
    // the client is slow the stream waits on the async side and holds no blocking thread.
    let budget = s.limits.max_request_bytes as u64;
    // Partition after partition (one partition: exactly as before partitions).
    let last = metas.len() - 1;
    let pages = async_stream::stream! {
        let mut first = true;
        let mut buf = b"[".to_vec();
        for (p, meta) in metas.into_iter().enumerate() {
        let mut from = meta.start;
        loop {
            let m = meta.clone();
            let page = match s.store.blocking(move |st| st.read(&m, from, HISTORY_PAGE, budget)).await {
                Ok(p) => p,
                Err(e) => {
                    yield Err(std::io::Error::other(e.to_string()));
                    return;
                }
            };
            count_out(&s, page.iter().map(|m| m.record.value.len()));
            for m in &page {
                if !first {
                    buf.push(b',');
                }
                first = false;
                serde_json::to_writer(&mut buf, &m.record.value_text()).expect("string encodes");
            }
            let done = page.is_empty() || page.last().is_some_and(|m| m.offset + 1 >= meta.next);
            from = page.last().map_or(from, |m| m.offset + 1);
            if done && p == last {
                buf.push(b']');
            }
            if done && p < last && buf.is_empty() {
                break;
            }
            yield Ok::<_, std::io::Error>(Bytes::from(std::mem::take(&mut buf)));
            if done {
                break;
            }
        }
        }
    };
    let body = Body::from_stream(pages);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

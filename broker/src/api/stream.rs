//! `GET /v1/topics/{topic}/stream`: Server-Sent Events, one event per message with `id:` = offset,
//! resumable with `Last-Event-ID`. The stream reads pages as fast as the client takes them and
//! parks on the topic's wake-up when it reached the end; it ends when the client goes away
//! (axum drops it) or the topic is deleted.
//!
//! Each page read is encoded on the blocking thread that read it and sent as **one body chunk**
//! of its events (one chunk per event made a backlog read 6x slower than paged reads: every event
//! was its own HTTP chunk; bench/README.md, "Backlog read"). While idle, a `:` comment line every
//! 15 s keeps proxies from closing the stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::code::Code;
use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery};
use super::messages::base64_encoding;
use super::page_json::sse_events;
use super::responses::{Auth, Internal, Invalid, Missing, OutOfRange, Unavailable};
use super::{count_out_totals, topic_name, AppState, Caller};
use crate::auth::Role;

const PAGE: usize = 1000;

/// A comment line sent while the stream waits for messages.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize, IntoParams)]
pub struct StreamQuery {
    /// First offset (default: the end of the log, i.e. only new messages). `Last-Event-ID` wins.
    pub offset: Option<u64>,
    /// `base64`: every value as `value_b64` (default: `value` for text, `value_b64` for the rest).
    pub encoding: Option<String>,
    /// The partition to follow (default 0).
    pub partition: Option<u32>,
}

/// Follow a topic as Server-Sent Events.
#[utoipa::path(get, path = "/v1/topics/{topic}/stream", tag = "messages", params(("topic" = String, Path), StreamQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "resume after this offset")),
    responses((status = 200, content_type = "text/event-stream", description = "`id:` offset, `event: message`, `data:` the message as JSON"),
        Invalid, Auth, Missing, OutOfRange, Unavailable, Internal))]
pub async fn stream(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(topic): ApiPath<String>,
    ApiQuery(q): ApiQuery<StreamQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(Role::Consume)?;
    topic_name(&topic)?;
    let base64 = base64_encoding(q.encoding.as_deref())?;
    let resume = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        Code::InvalidHeader,
                        "Last-Event-ID must be a message offset",
                    )
                })?
                // The offset after u64::MAX does not exist: saturate (then 416), never wrap to 0.
                .saturating_add(1),
        ),
        None => None,
    };
    let partition = q.partition.unwrap_or(0);
    let mut meta = super::partition_meta(&s, &topic, partition).await?;
    let start = resume.or(q.offset).unwrap_or(meta.next);
    if start > meta.next && s.node.read_barrier().await.is_ok() {
        // This node may only lag: catch up with the leader's commit before answering 416.
        meta = super::partition_meta(&s, &topic, partition).await?;
    }
    if start < meta.start || start > meta.next {
        return Err(ApiError::offset_out_of_range(start, meta.start, meta.next));
    }

    let events = async_stream::stream! {
        let mut changes = s.store.subscribe(&topic);
        let mut offset = start;
        loop {
            let t = topic.clone();
            let meta = match s.store.blocking(move |st| st.partition(&t, partition)).await {
                Ok(Some(m)) if m.id == meta.id => m,
                _ => break, // deleted (or recreated): this stream is over
            };
            // Retention overtook a slow reader: continue at the log start.
            offset = offset.max(meta.start);
            if offset < meta.next {
                let m = meta.clone();
                let page = s.store.blocking(move |st| {
                    let page = st.read(&m, offset, PAGE, 4 << 20)?;
                    let bytes: usize = page.iter().map(|m| m.record.value.len()).sum();
                    let next = page.last().map_or(offset, |m| m.offset + 1);
                    Ok((sse_events(&page, partition, base64), page.len() as u64, bytes as u64, next))
                }).await;
                let Ok((chunk, n, bytes, next)) = page else { break };
                count_out_totals(&s, n, bytes);
                offset = next;
                yield Ok::<Bytes, Infallible>(Bytes::from(chunk));
                continue;
            }
            let idle = tokio::select! {
                r = changes.changed() => if r.is_err() { break } else { false },
                _ = tokio::time::sleep(KEEP_ALIVE) => true,
                _ = s.node.lifecycle().api_closed() => break,
            };
            if idle {
                yield Ok(Bytes::from_static(b":\n\n"));
            }
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(events),
    )
        .into_response())
}

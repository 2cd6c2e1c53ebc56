//! The client HTTP API (SPEC §3) on `--api`: the seed's calls, the v1 API, admin, health,
//! metrics and the OpenAPI document. [`router`] builds it; tests drive it with `oneshot`.
//!
//! A handler validates its input, calls one typed function — a write on [`Writer`]
//! (`writer.publish(..)` answers the offsets), a read on [`TopicStore`], an admin call on the
//! node — and shapes the answer. Failures are [`ApiError`]s, which `error.rs` builds from the
//! node's errors in one place.
//!
//! Every request passes three middlewares, in one layer: [`track_request`] (`track.rs`) records the
//! SPEC §7 HTTP metrics, opens the request span (debug) and logs failures (from the response's
//! [`error::Failure`] extension), [`limit_in_flight`] answers `503 unavailable` beyond
//! `--max-in-flight-requests` (health and metrics exempt), and [`authenticate`] resolves the
//! bearer token into a [`Caller`].

pub mod admin;
mod claim;
pub mod code;
pub mod consumers;
pub mod cors;
pub mod error;
pub mod extract;
pub mod groups;
pub mod health;
mod json_reply;
#[cfg(test)]
mod json_reply_tests;
pub mod messages;
pub mod openapi;
mod page_json;
#[cfg(test)]
mod page_json_tests;
mod publish_body;
#[cfg(test)]
mod publish_body_tests;
pub mod responses;
pub mod seed;
pub mod stream;
pub mod topics;
mod track;
#[cfg(test)]
mod track_tests;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;

use crate::auth::{Auth, Principal, Role};
use crate::cluster::Node;
use crate::metrics::Metrics;
use crate::topics::{TopicMeta, TopicStore};
use crate::write::Writer;
use code::Code;
use error::ApiError;
use track::{track_request, RouteMetrics};

/// What the handlers work with: typed writes, reads, the node's cluster calls, and little else.
/// One `Arc`: axum clones the state for the middleware and for each handler's `State` (one
/// reference count, not one per field).
#[derive(Clone)]
pub struct AppState(Arc<StateInner>);

/// The fields of [`AppState`] (read through it).
pub struct StateInner {
    pub(crate) writer: Writer,
    pub(crate) store: TopicStore,
    /// Admin calls, views, readiness and read barriers (its methods, not its fields).
    pub(crate) node: Arc<Node>,
    pub(crate) metrics: Metrics,
    pub(crate) limits: Limits,
    pub(crate) auth: Arc<Auth>,
    /// One permit per request being served (`--max-in-flight-requests`).
    pub(crate) in_flight: Arc<tokio::sync::Semaphore>,
    /// The HTTP metrics' handles per route ([`track`]).
    pub(crate) routes: RouteMetrics,
}

/// Size limits of requests (from the node's config).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_request_bytes: usize,
    pub max_consumers_per_topic: usize,
}

impl AppState {
    pub fn new(node: &Arc<Node>, writer: Writer, auth: Auth) -> AppState {
        AppState(Arc::new(StateInner {
            writer,
            store: node.store.clone(),
            node: node.clone(),
            metrics: node.metrics.clone(),
            limits: Limits {
                max_message_bytes: node.config.max_message_bytes,
                max_request_bytes: node.config.max_request_bytes,
                max_consumers_per_topic: node.config.max_consumers_per_topic,
            },
            auth: Arc::new(auth),
            in_flight: Arc::new(tokio::sync::Semaphore::new(
                node.config.max_in_flight_requests,
            )),
            routes: track::table(&node.metrics),
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = StateInner;
    fn deref(&self) -> &StateInner {
        &self.0
    }
}

/// Who is calling, as the auth middleware resolved it.
#[derive(Clone, Debug)]
pub struct Caller {
    pub open: bool,
    pub principal: Option<Principal>,
}

impl Caller {
    /// Anyone, on a node without `--auth-file`.
    const OPEN: Caller = Caller {
        open: true,
        principal: None,
    };

    /// Allow the call if the API is open or the caller holds `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        self.require_any(&[role])
    }

    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.open {
            return Ok(());
        }
        match &self.principal {
            None => Err(ApiError::unauthorized(
                "this call needs `Authorization: Bearer <token>`",
            )),
            Some(p) if roles.iter().any(|r| p.has(*r)) => Ok(()),
            Some(p) => Err(ApiError::forbidden(format!(
                "token of {:?} lacks the role this call needs ({})",
                p.publisher,
                roles
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ))),
        }
    }

    /// The publisher id recorded on messages.
    pub fn publisher(&self) -> Option<String> {
        self.principal.as_ref().map(|p| p.publisher.clone())
    }
}

impl axum::extract::FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        // An open API: every caller is the same, nothing to look up (the middleware stores no
        // extension then: one map insert per request less).
        if !state.auth.enabled() {
            return Ok(Caller::OPEN);
        }
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::internal("auth middleware missing"))
    }
}

/// Every route: (path, methods). `tests/api_routes.rs` checks it against the OpenAPI document.
fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/", put(seed::publish)),
        ("/publish", put(seed::publish)),
        ("/history/{topic}", get(seed::history)),
        ("/{topic}", get(seed::newest)),
        ("/v1/topics", get(topics::list)),
        (
            "/v1/topics/{topic}",
            get(topics::get).put(topics::put).delete(topics::delete),
        ),
        (
            "/v1/topics/{topic}/messages",
            post(messages::publish).get(messages::read),
        ),
        ("/v1/topics/{topic}/stream", get(stream::stream)),
        ("/v1/topics/{topic}/consumers", get(consumers::list_topic)),
        ("/v1/consumers", get(consumers::list)),
        ("/v1/topics/{topic}/groups", get(groups::list)),
        (
            "/v1/topics/{topic}/groups/{group}",
            get(groups::get).put(groups::put).delete(groups::delete),
        ),
        (
            "/v1/topics/{topic}/groups/{group}/fetch",
            post(groups::fetch),
        ),
        ("/v1/topics/{topic}/groups/{group}/ack", post(groups::ack)),
        ("/v1/topics/{topic}/groups/{group}/nack", post(groups::nack)),
        (
            "/v1/consumers/{name}/topics/{topic}",
            get(consumers::get)
                .put(consumers::commit)
                .delete(consumers::delete),
        ),
        ("/v1/cluster", get(admin::cluster)),
        ("/v1/cluster/init", post(admin::init)),
        ("/v1/cluster/members", post(admin::add_member)),
        ("/v1/cluster/members/{id}", delete(admin::remove_member)),
        ("/v1/cluster/members/{id}/promote", post(admin::promote)),
        ("/v1/cluster/transfer-leader", post(admin::transfer_leader)),
        (
            "/v1/cluster/force-new-cluster",
            post(admin::force_new_cluster),
        ),
        ("/v1/admin/snapshot", get(admin::snapshot)),
        ("/livez", get(health::livez)),
        ("/readyz", get(health::readyz)),
        ("/metrics", get(health::metrics)),
        ("/openapi.json", get(openapi::document)),
    ]
}

/// The paths [`router`] serves (templates, as in the OpenAPI document).
pub fn route_paths() -> Vec<&'static str> {
    routes().into_iter().map(|(p, _)| p).collect()
}

pub fn router(state: AppState) -> Router {
    let router = routes()
        .into_iter()
        .fold(Router::new(), |r, (path, methods)| r.route(path, methods))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // One layer running the three in turn (a layer each cost a boxed service and future per
        // request): track_request, then limit_in_flight, then authenticate.
        .layer(middleware::from_fn_with_state(state.clone(), track_request))
        .with_state(state.clone());
    // Outermost: a preflight is answered before authentication and the in-flight limit.
    match cors::layer(&state.node.config.cors_allowed_origins) {
        Some(c) => router
            .layer(c)
            .layer(middleware::map_response(cors::preflight_no_content)),
        None => router,
    }
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(
        Code::NotFound,
        format!("no route for {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        Code::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

const OPEN_PATHS: &[&str] = &["/livez", "/readyz", "/metrics"];

/// Resolve the bearer token into the request's [`Caller`]; an unknown token is a 401 at once.
async fn authenticate(state: &AppState, mut req: Request, next: Next) -> Response {
    if !state.auth.enabled() {
        // Every caller is [`Caller::OPEN`]: the extractor answers that without an extension.
        return next.run(req).await;
    }
    let caller = if OPEN_PATHS.contains(&req.uri().path()) {
        Caller::OPEN
    } else {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        match token.map(|t| state.auth.principal(t)) {
            None => Caller {
                open: false,
                principal: None,
            },
            Some(Some(p)) => Caller {
                open: false,
                principal: Some(p.clone()),
            },
            Some(None) => return ApiError::unauthorized("unknown token").into_response(),
        }
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// At most `--max-in-flight-requests` requests at once: beyond it `503 unavailable` with
/// `Retry-After`, before the body is read. A streaming answer (`/history`, SSE) keeps its permit
/// until its body ends or the client goes away. Health and metrics never wait on the limit.
async fn limit_in_flight(state: &AppState, req: Request, next: Next) -> Response {
    if OPEN_PATHS.contains(&req.uri().path()) {
        return authenticate(state, req, next).await;
    }
    let Ok(permit) = state.in_flight.clone().try_acquire_owned() else {
        return ApiError::unavailable(
            Code::Unavailable,
            "too many requests in flight on this node; retry shortly",
        )
        .into_response();
    };
    let resp = authenticate(state, req, next).await;
    if axum::body::HttpBody::size_hint(resp.body())
        .exact()
        .is_some()
    {
        return resp; // a whole answer: done, the permit goes
    }
    let (parts, body) = resp.into_parts();
    let body = axum::body::Body::from_stream(futures::StreamExt::map(
        body.into_data_stream(),
        move |chunk| {
            let _held = &permit;
            chunk
        },
    ));
    Response::from_parts(parts, body)
}

/// The topic's metadata as this node applied it, or 404.
pub async fn topic_meta(s: &AppState, topic: &str) -> Result<TopicMeta, ApiError> {
    let t = topic.to_string();
    s.store
        .blocking(move |st| st.topic(&t))
        .await?
        .ok_or_else(|| ApiError::topic_not_found(topic))
}

/// [`topic_meta`] for calls that write anyway: a topic this node has not applied yet is looked
/// for again once it applied everything committed before the call (a topic created through
/// another node a moment ago is not "not found" on a follower that lags by an entry).
pub async fn topic_meta_settled(s: &AppState, topic: &str) -> Result<TopicMeta, ApiError> {
    let t = topic.to_string();
    if let Some(meta) = s.store.blocking(move |st| st.topic(&t)).await? {
        return Ok(meta);
    }
    // The barrier only decides how sure the 404 is; without a leader it stays this node's view.
    let _ = s.node.read_barrier().await;
    topic_meta(s, topic).await
}

/// One partition's metadata: `404` for an unknown topic, `400 invalid_partition` for a partition
/// the topic does not have.
pub async fn partition_meta(
    s: &AppState,
    topic: &str,
    partition: u32,
) -> Result<TopicMeta, ApiError> {
    let t = topic.to_string();
    let (meta, count) = s
        .store
        .blocking(move |st| Ok((st.partition(&t, partition)?, st.partitions(&t)?)))
        .await?;
    match meta {
        Some(m) => Ok(m),
        None if partition == 0 || partition < count => Err(ApiError::topic_not_found(topic)),
        None => {
            // The topic may not exist at all: that is the 404.
            topic_meta(s, topic).await?;
            Err(invalid_partition(topic, partition, count))
        }
    }
}

/// `400 invalid_partition`.
pub fn invalid_partition(topic: &str, partition: u32, partitions: u32) -> ApiError {
    ApiError::bad_request(
        Code::InvalidPartition,
        format!("topic {topic:?} has {partitions} partitions: there is no partition {partition}"),
    )
}

/// Validate a topic name from a path or body.
pub fn topic_name(name: &str) -> Result<(), ApiError> {
    crate::topics::validate_topic_name(name)
        .map_err(|m| ApiError::bad_request(Code::InvalidTopic, m))
}

/// Validate a named consumer's name.
pub fn consumer_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 249 || name.chars().any(|c| c.is_control()) {
        return Err(ApiError::bad_request(
            Code::InvalidConsumer,
            "consumer names are 1 to 249 printable characters",
        ));
    }
    Ok(())
}

/// A message (value + key + headers, [`crate::command::message_size`]) within `--max-message-bytes`.
pub fn check_message_size(s: &AppState, size: usize) -> Result<(), ApiError> {
    let max = s.limits.max_message_bytes;
    if size > max {
        return Err(ApiError::too_large(
            Code::MessageTooLarge,
            format!("a message of {size} bytes is over the {max}-byte limit"),
        ));
    }
    Ok(())
}

/// Count messages served to readers (SPEC §7 `messages_consumed`, `message_bytes{direction="out"}`).
pub fn count_out(s: &AppState, sizes: impl Iterator<Item = usize>) {
    let (mut n, mut bytes) = (0u64, 0u64);
    for len in sizes {
        n += 1;
        bytes += len as u64;
    }
    count_out_totals(s, n, bytes);
}

/// [`count_out`] for a page already summed where it was read.
pub fn count_out_totals(s: &AppState, n: u64, bytes: u64) {
    s.metrics.messages_consumed.inc_by(n);
    s.metrics.message_bytes_out.inc_by(bytes);
}

/// Count a stored publish (`messages_published`, `message_bytes{direction="in"}`).
pub fn count_in(s: &AppState, messages: u64, bytes: u64) {
    s.metrics.messages_published.inc_by(messages);
    s.metrics.message_bytes_in.inc_by(bytes);
}

/// `?consistency=strong` waits for a read barrier through the leader.
pub async fn read_consistency(s: &AppState, c: Option<&str>) -> Result<(), ApiError> {
    match c {
        None | Some("local") | Some("") => Ok(()),
        Some("strong") => Ok(s.node.read_barrier().await?),
        Some(other) => Err(ApiError::bad_request(
            Code::InvalidQuery,
            format!("consistency must be `strong` or `local`, not {other:?}"),
        )),
    }
}

//! The client HTTP API (SPEC §3) on `--api`: the seed's calls, the v1 API, admin, health,
//! metrics and the OpenAPI document. [`router`] builds it; tests drive it with `oneshot`.
//!
//! Every request passes one middleware that records the SPEC §7 HTTP metrics, opens the request
//! span (method, route, status, latency) and resolves the caller's bearer token ([`Caller`]).

pub mod admin;
pub mod consumers;
pub mod error;
pub mod extract;
pub mod health;
pub mod messages;
pub mod openapi;
pub mod seed;
pub mod stream;
pub mod topics;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use tracing::Instrument;

use crate::auth::{Auth, Principal, Role};
use crate::cluster::Node;
use error::ApiError;

#[derive(Clone)]
pub struct AppState {
    pub node: Arc<Node>,
    pub auth: Arc<Auth>,
}

/// Who is calling, as the auth middleware resolved it.
#[derive(Clone, Debug)]
pub struct Caller {
    pub open: bool,
    pub principal: Option<Principal>,
}

impl Caller {
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
        _: &AppState,
    ) -> Result<Self, ApiError> {
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
        (
            "/v1/consumers/{name}/topics/{topic}",
            get(consumers::get).put(consumers::commit),
        ),
        ("/v1/cluster", get(admin::cluster)),
        ("/v1/cluster/init", post(admin::init)),
        ("/v1/cluster/members", post(admin::add_member)),
        ("/v1/cluster/members/{id}", delete(admin::remove_member)),
        ("/v1/cluster/members/{id}/promote", post(admin::promote)),
        ("/v1/cluster/transfer-leader", post(admin::transfer_leader)),
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
    routes()
        .into_iter()
        .fold(Router::new(), |r, (path, methods)| r.route(path, methods))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found("not_found", format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

const OPEN_PATHS: &[&str] = &["/livez", "/readyz", "/metrics"];

/// Metrics, the request span, and the caller's identity.
async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = match *req.method() {
        Method::GET
        | Method::PUT
        | Method::POST
        | Method::DELETE
        | Method::HEAD
        | Method::OPTIONS
        | Method::PATCH => req.method().clone(),
        // Methods are user input too: keep the label set bounded.
        _ => Method::from_bytes(b"OTHER").expect("valid method token"),
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let span = tracing::info_span!("request", method = %method, route = %route, status = tracing::field::Empty, latency_ms = tracing::field::Empty);

    let caller = if !state.auth.enabled() || OPEN_PATHS.contains(&req.uri().path()) {
        Ok(Caller {
            open: true,
            principal: None,
        })
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
        match token {
            None => Ok(Caller {
                open: false,
                principal: None,
            }),
            Some(t) => match state.auth.principal(t) {
                Some(p) => Ok(Caller {
                    open: false,
                    principal: Some(p.clone()),
                }),
                None => Err(ApiError::unauthorized("unknown token")),
            },
        }
    };
    state.node.metrics.http_in_flight.inc();
    let resp = match caller {
        Ok(c) => {
            req.extensions_mut().insert(c);
            next.run(req).instrument(span.clone()).await
        }
        Err(e) => e.into_response(),
    };

    state.node.metrics.http_in_flight.dec();
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let m = &state.node.metrics;
    m.http_requests
        .with_label_values(&[method.as_str(), route.as_str(), &status.to_string()])
        .inc();
    m.http_duration
        .with_label_values(&[method.as_str(), route.as_str()])
        .observe(elapsed.as_secs_f64());
    span.record("status", status);
    span.record("latency_ms", elapsed.as_secs_f64() * 1000.0);
    span.in_scope(|| tracing::debug!("request done"));
    resp
}

/// The topic's metadata as this node applied it, or 404.
pub async fn topic_meta(s: &AppState, topic: &str) -> Result<crate::topics::TopicMeta, ApiError> {
    let t = topic.to_string();
    s.node
        .store
        .blocking(move |st| st.topic(&t))
        .await?
        .ok_or_else(|| ApiError::topic_not_found(topic))
}

/// Validate a topic name from a path or body.
pub fn topic_name(name: &str) -> Result<(), ApiError> {
    crate::topics::validate_topic_name(name).map_err(|m| ApiError::bad_request("invalid_topic", m))
}

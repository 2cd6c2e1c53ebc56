//! What every request passes first: the SPEC §7 HTTP metrics, the request span, and one log line
//! per failed request ([`track_request`]).
//!
//! Per request this is on the publish path, so it is kept cheap (issue 18's profile: the span and
//! the label lookups were ~11% of a single publish's instructions):
//! - the span is at `debug`: with the default `info` filter it is never built, and the log line of
//!   a failed request carries the method, route, status and latency itself.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::error::Failure;
use super::AppState;

/// The label of a request that matched no route.
const UNMATCHED: &str = "unmatched";

/// Methods with a label of their own; any other is `OTHER` (methods are user input too: the label
/// set stays bounded).
const METHODS: [&str; 8] = ["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH", "OTHER"];

fn method_index(m: &Method) -> usize {
    match *m {
        Method::GET => 0,
        Method::PUT => 1,
        Method::POST => 2,
        Method::DELETE => 3,
        Method::HEAD => 4,
        Method::OPTIONS => 5,
        Method::PATCH => 6,
        _ => 7,
    }
}

/// The HTTP metrics (bounded labels: the route template, a known method), the request span (at
/// `debug`), and one log line per failed request.
pub(super) async fn track_request(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = method_index(req.method());
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = || matched.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    let span = tracing::debug_span!("request", method = METHODS[method], route = route(), status = tracing::field::Empty, latency_ms = tracing::field::Empty);

    let m = &state.metrics;
    m.http_in_flight.inc();
    let resp = if span.is_disabled() {
        next.run(req).await
    } else {
        next.run(req).instrument(span.clone()).await
    };
    m.http_in_flight.dec();

    let status = resp.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    m.http_requests
        .with_label_values(&[METHODS[method], route(), &status.to_string()])
        .inc();
    m.http_duration
        .with_label_values(&[METHODS[method], route()])
        .observe(elapsed);
    let latency_ms = elapsed * 1000.0;
    if !span.is_disabled() {
        span.record("status", status);
        span.record("latency_ms", latency_ms);
    }
    // The failure line names the request itself: it is logged without the (debug) span at `info`.
    span.in_scope(|| match resp.extensions().get::<Failure>() {
        Some(f) if status >= 500 && f.cause.is_some() => tracing::error!(
            method = METHODS[method],
            route = route(),
            status,
            latency_ms,
            code = %f.code,
            cause = f.cause.as_deref(),
            "request failed"
        ),
        Some(f) => tracing::debug!(code = %f.code, message = %f.message, "request refused"),
        None => tracing::debug!("request done"),
    });
    resp
}

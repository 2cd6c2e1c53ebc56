//! What every request passes first: the SPEC §7 HTTP metrics, the request span, and one log line
//! per failed request ([`track_request`]).
//!
//! Per request this is on the publish path, so it is kept cheap (issue 18's profile: the span and
//! the label lookups were ~11% of a single publish's instructions):
//! - the span is at `debug`: with the default `info` filter it is never built, and the log line of
//!   a failed request carries the method, route, status and latency itself;
//! - the metric handles of each (route, method) and of the usual status codes are looked up in the
//!   registry once, then held in [`RouteMetrics`] (a table built with the router, no lock).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{Histogram, IntCounter};
use tracing::Instrument;

use super::error::Failure;
use super::AppState;
use crate::metrics::Metrics;

/// The label of a request that matched no route.
const UNMATCHED: &str = "unmatched";

/// Methods with a label of their own; any other is `OTHER` (methods are user input too: the label
/// set stays bounded).
const METHODS: [&str; 8] = [
    "GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH", "OTHER",
];

/// Status codes whose counter handle is kept; others are looked up per request (rare answers).
const STATUSES: [u16; 16] = [
    200, 201, 204, 400, 401, 403, 404, 405, 409, 410, 413, 416, 429, 500, 503, 504,
];

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

/// FNV-1a: the table's keys are the router's own route templates (not client input), so a fast
/// unkeyed hash is safe here.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// One (route, method)'s handles, each looked up on first use (a series appears in `/metrics`
/// once a request was answered, as before).
#[derive(Default)]
struct MethodHandles {
    duration: OnceLock<Histogram>,
    requests: [OnceLock<IntCounter>; STATUSES.len()],
}

/// The HTTP metric handles of every route the router serves (and of unmatched requests).
pub struct RouteMetrics {
    metrics: Metrics,
    routes: HashMap<&'static str, Box<[MethodHandles; METHODS.len()]>, BuildHasherDefault<Fnv>>,
}

impl RouteMetrics {
    pub fn new(metrics: Metrics, routes: impl IntoIterator<Item = &'static str>) -> RouteMetrics {
        let routes = routes
            .into_iter()
            .chain([UNMATCHED])
            .map(|r| (r, Box::default()))
            .collect();
        RouteMetrics { metrics, routes }
    }

    /// Count one answered request and its latency.
    pub(super) fn observe(&self, method: usize, route: &str, status: u16, secs: f64) {
        let m = &self.metrics;
        let label = || [METHODS[method], route];
        let Some(h) = self.routes.get(route).map(|r| &r[method]) else {
            // Not a route of this table (a router built from other routes): no cache.
            let status = status.to_string();
            m.http_requests
                .with_label_values(&[METHODS[method], route, &status])
                .inc();
            m.http_duration.with_label_values(&label()).observe(secs);
            return;
        };
        h.duration
            .get_or_init(|| m.http_duration.with_label_values(&label()))
            .observe(secs);
        match STATUSES.iter().position(|s| *s == status) {
            Some(i) => h.requests[i]
                .get_or_init(|| {
                    m.http_requests.with_label_values(&[
                        METHODS[method],
                        route,
                        &status.to_string(),
                    ])
                })
                .inc(),
            None => m
                .http_requests
                .with_label_values(&[METHODS[method], route, &status.to_string()])
                .inc(),
        }
    }
}

/// The HTTP metrics (bounded labels: the route template, a known method), the request span (at
/// `debug`), and one log line per failed request; then the in-flight limit and authentication.
pub(super) async fn track_request(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = method_index(req.method());
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = || matched.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    let span = tracing::debug_span!(
        "request",
        method = METHODS[method],
        route = route(),
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty
    );

    let m = &state.metrics;
    m.http_in_flight.inc();
    let resp = if span.is_disabled() {
        super::limit_in_flight(&state, req, next).await
    } else {
        super::limit_in_flight(&state, req, next)
            .instrument(span.clone())
            .await
    };
    m.http_in_flight.dec();

    let status = resp.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    state.routes.observe(method, route(), status, elapsed);
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

/// The table of a router's state.
pub(super) fn table(metrics: &Metrics) -> RouteMetrics {
    RouteMetrics::new(metrics.clone(), super::route_paths())
}

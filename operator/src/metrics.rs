//! Operator metrics (SPEC §7, prefix `jumpnet_operator_`) and the small HTTP server that serves
//! them with the health endpoints: `GET /metrics`, `GET /livez`, `GET /readyz`.
//!
//! `/readyz` turns 200 once the process talked to the API server (the lease loop or the
//! controller did), on the leader and on standbys alike: a standby is healthy, just idle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use kube::runtime::reflector::Store;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::crd::JumpnetCluster;
use crate::{Error, Result};

/// Every operator metric, registered in its own registry.
pub struct Metrics {
    pub registry: Registry,
    /// `result` = `success` | `error`.
    pub reconciliations: IntCounterVec,
    pub reconcile_duration: Histogram,
    /// `error` = [`Error::metric_label`].
    pub reconcile_errors: IntCounterVec,
    pub clusters: IntGauge,
    /// `step` = the membership step's reason (`Bootstrap`, `AddLearner`, ...).
    pub membership_steps: IntCounterVec,
    /// 1 while this replica holds the leader-election Lease.
    pub leader: IntGauge,
    stores: Mutex<Vec<Store<JumpnetCluster>>>,
}

fn metric_err(source: prometheus::Error) -> Error {
    Error::Metrics { source }
}

impl Metrics {
    pub fn new() -> Result<Self> {
        let registry = Registry::new();
        let reconciliations = IntCounterVec::new(
            Opts::new(
                "jumpnet_operator_reconciliations_total",
                "Reconciliations by result",
            ),
            &["result"],
        )
        .map_err(metric_err)?;
        let reconcile_duration = Histogram::with_opts(
            HistogramOpts::new(
                "jumpnet_operator_reconcile_duration_seconds",
                "Duration of one reconcile, broker calls included",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        )
        .map_err(metric_err)?;
        let reconcile_errors = IntCounterVec::new(
            Opts::new(
                "jumpnet_operator_reconcile_errors_total",
                "Failed reconciliations by error kind",
            ),
            &["error"],
        )
        .map_err(metric_err)?;
        let clusters = IntGauge::new(
            "jumpnet_operator_clusters",
            "JumpnetClusters watched by this operator",
        )
        .map_err(metric_err)?;
        let membership_steps = IntCounterVec::new(
            Opts::new(
                "jumpnet_operator_membership_steps_total",
                "Membership and rollout steps taken",
            ),
            &["step"],
        )
        .map_err(metric_err)?;
        let leader = IntGauge::new(
            "jumpnet_operator_leader",
            "1 while this operator replica holds the leader-election Lease",
        )
        .map_err(metric_err)?;
        registry
            .register(Box::new(reconciliations.clone()))
            .map_err(metric_err)?;
        registry
            .register(Box::new(reconcile_duration.clone()))
            .map_err(metric_err)?;
        registry
            .register(Box::new(reconcile_errors.clone()))
            .map_err(metric_err)?;
        registry
            .register(Box::new(clusters.clone()))
            .map_err(metric_err)?;
        registry
            .register(Box::new(membership_steps.clone()))
            .map_err(metric_err)?;
        registry
            .register(Box::new(leader.clone()))
            .map_err(metric_err)?;
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .map_err(metric_err)?;
        // Series exist from the start so rate() and alerts see zeros, not absences.
        for result in ["success", "error"] {
            reconciliations.with_label_values(&[result]);
        }
        Ok(Self {
            registry,
            reconciliations,
            reconcile_duration,
            reconcile_errors,
            clusters,
            membership_steps,
            leader,
            stores: Mutex::default(),
        })
    }

    /// Lets `jumpnet_operator_clusters` follow a controller's cache (one per namespace).
    pub fn watch_store(&self, store: Store<JumpnetCluster>) {
        if let Ok(mut stores) = self.stores.lock() {
            stores.push(store);
        }
    }

    /// Starts timing one reconcile; call [`ReconcileTimer::finish`] with its outcome.
    pub fn reconcile_started(&self) -> ReconcileTimer<'_> {
        ReconcileTimer {
            metrics: self,
            start: Instant::now(),
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        if let Ok(stores) = self.stores.lock() {
            if !stores.is_empty() {
                self.clusters
                    .set(stores.iter().map(|s| s.state().len() as i64).sum());
            }
        }
        let mut buf = Vec::new();
        // Encoding our own well-formed families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    start: Instant,
}

impl ReconcileTimer<'_> {
    pub fn finish(self, outcome: std::result::Result<(), &Error>) {
        self.metrics
            .reconcile_duration
            .observe(self.start.elapsed().as_secs_f64());
        match outcome {
            Ok(()) => self
                .metrics
                .reconciliations
                .with_label_values(&["success"])
                .inc(),
            Err(e) => {
                self.metrics
                    .reconciliations
                    .with_label_values(&["error"])
                    .inc();
                self.metrics
                    .reconcile_errors
                    .with_label_values(&[e.metric_label()])
                    .inc();
            }
        }
    }
}

/// Shared state of the HTTP endpoints.
#[derive(Clone)]
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    /// Set once the API server answered.
    pub ready: Arc<AtomicBool>,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/livez", get(|| async { (StatusCode::OK, "ok\n") }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics_handler(State(state): State<HttpState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(app: Router, path: &str) -> (StatusCode, String) {
        let resp = app
            .oneshot(http::Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn metrics_page_has_the_spec_families() {
        let metrics = Arc::new(Metrics::new().unwrap());
        metrics.reconcile_started().finish(Ok(()));
        let err = Error::InvalidSpec {
            name: "x".into(),
            reason: "y".into(),
        };
        metrics.reconcile_started().finish(Err(&err));
        let state = HttpState {
            metrics,
            ready: Arc::default(),
        };
        let (status, body) = get(router(state), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        for needle in [
            "jumpnet_operator_reconciliations_total{result=\"success\"} 1",
            "jumpnet_operator_reconciliations_total{result=\"error\"} 1",
            "jumpnet_operator_reconcile_errors_total{error=\"invalid_spec\"} 1",
            "jumpnet_operator_reconcile_duration_seconds_count 2",
            "jumpnet_operator_clusters 0",
        ] {
            assert!(body.contains(needle), "missing {needle} in\n{body}");
        }
    }

    #[tokio::test]
    async fn readyz_follows_the_ready_flag_and_livez_is_always_ok() {
        let state = HttpState {
            metrics: Arc::new(Metrics::new().unwrap()),
            ready: Arc::default(),
        };
        assert_eq!(get(router(state.clone()), "/livez").await.0, StatusCode::OK);
        assert_eq!(
            get(router(state.clone()), "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        state.ready.store(true, Ordering::Relaxed);
        assert_eq!(get(router(state), "/readyz").await.0, StatusCode::OK);
    }
}

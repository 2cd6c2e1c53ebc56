//! `/livez`, `/readyz`, `/metrics`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::code::Code;
use super::error::ApiError;
use super::responses::Unavailable;
use super::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// The process answers and its Raft runs: after a fatal storage error Raft stops for good, so this
/// fails (503) and Kubernetes restarts the pod (the process also exits shortly after: `server.rs`).
#[utoipa::path(get, path = "/livez", tag = "health", responses((status = 200, body = Health), Unavailable))]
pub async fn livez(State(s): State<AppState>) -> Result<Json<Health>, ApiError> {
    if let Some(why) = s.node.raft_failure() {
        return Err(ApiError::unavailable(
            Code::Unavailable,
            format!("raft stopped on a fatal error; this node must be restarted: {why}"),
        ));
    }
    Ok(Json(Health {
        status: "ok".into(),
    }))
}

/// Ready: a member that knows a leader and applied everything it knows is committed.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Health), Unavailable))]
pub async fn readyz(State(s): State<AppState>) -> Result<Json<Health>, ApiError> {
    s.node
        .readiness()
        .map_err(|why| ApiError::unavailable(Code::NotReady, why))?;
    Ok(Json(Health {
        status: "ready".into(),
    }))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, content_type = "text/plain", description = "Prometheus text format 0.0.4")))]
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    s.node.sample_consumer_lag().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

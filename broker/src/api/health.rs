//! `/livez`, `/readyz`, `/metrics`.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// The process answers.
#[utoipa::path(get, path = "/livez", tag = "health", responses((status = 200, body = Health)))]
pub async fn livez() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Ready: a member that knows a leader and applied everything it knows is committed.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub async fn readyz(State(s): State<AppState>) -> Result<Json<Health>, ApiError> {
    let node = &s.node;
    if node.is_shutting_down() {
        return Err(ApiError::unavailable(
            "not_ready",
            "the node is shutting down",
        ));
    }
    let m = node.metrics_now();
    if m.membership_config
        .membership()
        .get_node(&node.id)
        .is_none()
    {
        return Err(ApiError::unavailable(
            "not_ready",
            "this node is not a member of a cluster yet",
        ));
    }
    if m.current_leader.is_none() {
        return Err(ApiError::unavailable("not_ready", "no leader is known"));
    }
    if m.current_leader == Some(node.id) && !node.has_quorum() {
        return Err(ApiError::unavailable(
            "not_ready",
            "this leader has lost contact with the majority",
        ));
    }
    if node.store.cluster_id().ok().flatten().is_none() {
        return Err(ApiError::unavailable(
            "not_ready",
            "the cluster id is not recorded yet",
        ));
    }
    let applied = m.last_applied.map_or(0, |l| l.index);
    let committed = node.committed.load(Ordering::Acquire);
    if applied < committed {
        return Err(ApiError::unavailable(
            "not_ready",
            format!("catching up: applied {applied} of {committed} committed entries"),
        ));
    }
    Ok(Json(Health {
        status: "ready".into(),
    }))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, content_type = "text/plain", description = "Prometheus text format 0.0.4")))]
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.node.metrics.render(),
    )
}

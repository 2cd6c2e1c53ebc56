//! Cluster view and membership admin (SPEC §3): what the operator and `--join` use.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::code::Code;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::responses::{Auth, Internal, Invalid, Missing, Refused, TooLarge, Unavailable, Unknown};
use super::{AppState, Caller};
use crate::auth::Role;
use crate::cluster::ClusterView;
use crate::raft::NodeAddr;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ViewQuery {
    /// `true`: this node's own view, without asking the leader.
    pub local: Option<bool>,
}

/// Members, roles, leader and replication progress.
#[utoipa::path(get, path = "/v1/cluster", tag = "cluster", params(ViewQuery), responses((status = 200, body = ClusterView), Invalid, Auth, Unavailable))]
pub async fn cluster(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ViewQuery>,
) -> Result<Json<ClusterView>, ApiError> {
    caller.require_any(&[Role::Consume, Role::Publish, Role::Admin])?;
    if q.local.unwrap_or(false) {
        return Ok(Json(s.node.local_view()));
    }
    Ok(Json(s.node.cluster_view().await))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InitResponse {
    pub cluster_id: String,
    pub leader_id: u64,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitRequest {
    /// Start from a backup: an http(s) URL answering it to a plain GET (redirects followed), such
    /// as another cluster's `GET /v1/admin/snapshot` or an object store's pre-signed URL. The new
    /// cluster holds its data under a new cluster id.
    #[serde(default)]
    pub restore_from: Option<String>,
}

/// Bootstrap a one-voter cluster of this node (managed mode; once per cluster), empty or from a
/// backup (`400 invalid_snapshot`, `502 restore_fetch_failed`: nothing changed).
#[utoipa::path(post, path = "/v1/cluster/init", tag = "cluster", request_body(content = Option<InitRequest>),
    responses((status = 200, body = InitResponse), Invalid, Auth, Refused, Unavailable, Unknown, Internal,
        (status = 502, description = "`restore_fetch_failed`: the backup could not be downloaded; nothing changed", body = super::error::ErrorBody)))]
pub async fn init(
    State(s): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Json<InitResponse>, ApiError> {
    caller.require(Role::Admin)?;
    let req: InitRequest = if body.iter().all(u8::is_ascii_whitespace) {
        InitRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(Code::MalformedJson, e.to_string()))?
    };
    let init = match req.restore_from {
        Some(url) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ApiError::bad_request(
                    Code::InvalidField,
                    format!("restore_from must be an http(s) URL, got {url:?}"),
                ));
            }
            s.node.init_from_backup(&url).await?
        }
        None => s.node.init_cluster().await?,
    };
    Ok(Json(InitResponse {
        cluster_id: init.cluster_id,
        leader_id: init.leader_id,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SnapshotQuery {
    /// `strong`: first catch up with the leader's commit index.
    pub consistency: Option<String>,
}

/// A backup: a consistent point-in-time copy of this node's applied state (topics, messages,
/// offsets, consumer groups, producer ids), streamed while writes go on, with an integrity
/// trailer. Headers `Jumpnet-Cluster-Id`, `Jumpnet-Applied-Index`, `Jumpnet-Snapshot-Format`.
#[utoipa::path(get, path = "/v1/admin/snapshot", tag = "cluster", params(SnapshotQuery),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), Invalid, Auth, Refused, Unavailable, Internal))]
pub async fn snapshot(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SnapshotQuery>,
) -> Result<axum::response::Response, ApiError> {
    caller.require(Role::Admin)?;
    super::read_consistency(&s, q.consistency.as_deref()).await?;
    let Some(cluster_id) = s.node.cluster_id() else {
        return Err(ApiError::conflict(
            Code::NotAMember,
            "this node belongs to no cluster: nothing to back up",
        ));
    };
    let snap = s
        .node
        .raft()
        .get_snapshot()
        .await
        .map_err(|e| ApiError::unavailable(Code::Unavailable, format!("raft: {e}")))?
        .ok_or_else(|| ApiError::conflict(Code::NotAMember, "nothing applied yet"))?;
    let applied = snap.meta.last_log_id.map_or(0, |l| l.index);
    axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "application/octet-stream")
        .header("Jumpnet-Cluster-Id", cluster_id)
        .header("Jumpnet-Applied-Index", applied.to_string())
        .header("Jumpnet-Snapshot-Format", crate::raft::backup::FORMAT)
        .body(axum::body::Body::from_stream(crate::raft::backup::stream(
            snap.snapshot,
        )))
        .map_err(|e| ApiError::internal(e.to_string()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub id: u64,
    pub raft_addr: String,
    pub api_addr: String,
    /// The new member's incarnation (its `GET /v1/cluster?local=true` says it): recorded with the
    /// member; Raft RPCs to it carry it.
    #[serde(default)]
    pub incarnation: Option<String>,
    /// `host:port` Kafka clients are told for the new member (its `--advertise-kafka`); without it,
    /// the member's API host with the answering node's Kafka port stands in.
    #[serde(default)]
    pub kafka_addr: Option<String>,
}

fn check_incarnation(i: &str) -> Result<(), ApiError> {
    if i.is_empty() || i.len() > 64 || !i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ApiError::bad_request(
            Code::InvalidField,
            format!("incarnation must be 1 to 64 letters, digits or '-', got {i:?}"),
        ));
    }
    Ok(())
}

fn check_addr(field: &str, a: &str) -> Result<(), ApiError> {
    match a.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(ApiError::bad_request(
            Code::InvalidField,
            format!("{field} must be HOST:PORT, got {a:?}"),
        )),
    }
}

/// Add a learner (idempotent; `409 incarnation_mismatch` for a member of that id with another
/// incarnation).
#[utoipa::path(post, path = "/v1/cluster/members", tag = "cluster", request_body = AddMember,
    responses((status = 200, body = ClusterView), Invalid, Auth, Refused, TooLarge, Unavailable, Unknown, Internal))]
pub async fn add_member(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(m): ApiJson<AddMember>,
) -> Result<Json<ClusterView>, ApiError> {
    caller.require(Role::Admin)?;
    check_addr("raft_addr", &m.raft_addr)?;
    check_addr("api_addr", &m.api_addr)?;
    if let Some(i) = &m.incarnation {
        check_incarnation(i)?;
    }
    if let Some(k) = &m.kafka_addr {
        check_addr("kafka_addr", k)?;
    }
    let node = NodeAddr {
        raft_addr: m.raft_addr,
        api_addr: m.api_addr,
        incarnation: m.incarnation,
        kafka_addr: m.kafka_addr,
    };
    Ok(Json(s.node.add_learner(m.id, node).await?))
}

/// Promote a caught-up learner to voter (idempotent).
#[utoipa::path(post, path = "/v1/cluster/members/{id}/promote", tag = "cluster", params(("id" = u64, Path)),
    responses((status = 200, body = ClusterView), Invalid, Auth, Missing, Refused, Unavailable, Unknown, Internal))]
pub async fn promote(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<ClusterView>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(Json(s.node.promote(id).await?))
}

/// Remove a member from Raft (idempotent).
#[utoipa::path(delete, path = "/v1/cluster/members/{id}", tag = "cluster", params(("id" = u64, Path)),
    responses((status = 200, body = ClusterView), Invalid, Auth, Refused, Unavailable, Unknown, Internal))]
pub async fn remove_member(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<ClusterView>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(Json(s.node.remove_member(id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferLeader {
    pub to: u64,
}

/// Hand leadership to a caught-up voter.
#[utoipa::path(post, path = "/v1/cluster/transfer-leader", tag = "cluster", request_body = TransferLeader,
    responses((status = 200, body = ClusterView), Invalid, Auth, Missing, Refused, TooLarge, Unavailable, Unknown, Internal))]
pub async fn transfer_leader(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(t): ApiJson<TransferLeader>,
) -> Result<Json<ClusterView>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(Json(s.node.transfer_leader(t.to).await?))
}

/// Forced recovery after losing a quorum for good (etcd's `--force-new-cluster`): this node
/// becomes the only voter, keeping its log, state and cluster id (answered by this node, never
/// forwarded; idempotent). `409 has_quorum` while a leader with a live quorum exists, `409
/// not_a_member` on a node of no cluster.
#[utoipa::path(post, path = "/v1/cluster/force-new-cluster", tag = "cluster",
    responses((status = 200, body = ClusterView), Auth, Refused, Unavailable, Unknown, Internal))]
pub async fn force_new_cluster(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<ClusterView>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(Json(s.node.force_new_cluster_view().await?))
}

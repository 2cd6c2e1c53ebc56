//! Cluster view and membership admin (SPEC §3): what the operator and `--join` use.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::{AppState, Caller};
use crate::auth::Role;
use crate::cluster::ClusterView;
use crate::raft::network::{AdminRequest, AdminResponse};
use crate::raft::NodeAddr;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ViewQuery {
    /// `true`: this node's own view, without asking the leader.
    pub local: Option<bool>,
}

/// Members, roles, leader and replication progress.
#[utoipa::path(get, path = "/v1/cluster", tag = "cluster", params(ViewQuery), responses((status = 200, body = ClusterView), (status = 401, body = ErrorBody)))]
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

/// Bootstrap a one-voter cluster of this node (managed mode; once per cluster).
#[utoipa::path(post, path = "/v1/cluster/init", tag = "cluster", responses((status = 200, body = InitResponse), (status = 409, body = ErrorBody)))]
pub async fn init(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<InitResponse>, ApiError> {
    caller.require(Role::Admin)?;
    let cluster_id = s.node.init_cluster().await?;
    Ok(Json(InitResponse {
        cluster_id,
        leader_id: s.node.leader_id().unwrap_or(s.node.id),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub id: u64,
    pub raft_addr: String,
    pub api_addr: String,
}

fn view(r: AdminResponse) -> Result<Json<ClusterView>, ApiError> {
    match r {
        AdminResponse::View(v) => Ok(Json(v)),
        other => Err(ApiError::internal(format!("unexpected answer {other:?}"))),
    }
}

fn check_addr(field: &str, a: &str) -> Result<(), ApiError> {
    match a.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(ApiError::bad_request(
            "invalid_field",
            format!("{field} must be HOST:PORT, got {a:?}"),
        )),
    }
}

/// Add a learner (idempotent).
#[utoipa::path(post, path = "/v1/cluster/members", tag = "cluster", request_body = AddMember,
    responses((status = 200, body = ClusterView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn add_member(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(m): ApiJson<AddMember>,
) -> Result<Json<ClusterView>, ApiError> {
    caller.require(Role::Admin)?;
    check_addr("raft_addr", &m.raft_addr)?;
    check_addr("api_addr", &m.api_addr)?;
    view(
        s.node
            .admin(AdminRequest::AddLearner {
                id: m.id,
                node: NodeAddr {
                    raft_addr: m.raft_addr,
                    api_addr: m.api_addr,
                },
            })
            .await?,
    )
}

/// Promote a caught-up learner to voter (idempotent).
#[utoipa::path(post, path = "/v1/cluster/members/{id}/promote", tag = "cluster", params(("id" = u64, Path)),
    responses((status = 200, body = ClusterView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn promote(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<ClusterView>, ApiError> {
    caller.require(Role::Admin)?;
    view(s.node.admin(AdminRequest::Promote { id }).await?)
}

/// Remove a member from Raft (idempotent).
#[utoipa::path(delete, path = "/v1/cluster/members/{id}", tag = "cluster", params(("id" = u64, Path)),
    responses((status = 200, body = ClusterView), (status = 409, body = ErrorBody)))]
pub async fn remove_member(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<ClusterView>, ApiError> {
    caller.require(Role::Admin)?;
    view(s.node.admin(AdminRequest::Remove { id }).await?)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferLeader {
    pub to: u64,
}

/// Hand leadership to a caught-up voter.
#[utoipa::path(post, path = "/v1/cluster/transfer-leader", tag = "cluster", request_body = TransferLeader,
    responses((status = 200, body = ClusterView), (status = 400, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn transfer_leader(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(t): ApiJson<TransferLeader>,
) -> Result<Json<ClusterView>, ApiError> {
    caller.require(Role::Admin)?;
    view(
        s.node
            .admin(AdminRequest::TransferLeader { to: t.to })
            .await?,
    )
}

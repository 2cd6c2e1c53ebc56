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

/// Bootstrap a one-voter cluster of this node (managed mode; once per cluster).
#[utoipa::path(post, path = "/v1/cluster/init", tag = "cluster", responses((status = 200, body = InitResponse), Auth, Refused, Unavailable, Unknown, Internal))]
pub async fn init(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<InitResponse>, ApiError> {
    caller.require(Role::Admin)?;
    let init = s.node.init_cluster().await?;
    Ok(Json(InitResponse {
        cluster_id: init.cluster_id,
        leader_id: init.leader_id,
    }))
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
    let node = NodeAddr {
        raft_addr: m.raft_addr,
        api_addr: m.api_addr,
        incarnation: m.incarnation,
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

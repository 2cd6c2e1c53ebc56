//! FindCoordinator and the classic group APIs, on top of [`crate::kafka::coordinator`]. The
//! coordinator of every group is the node that can commit; any other node answers
//! NOT_COORDINATOR, and clients look the coordinator up again.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator as FoundCoordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError;
use std::time::Duration;

use super::{broker, group_id, str_bytes, Ctx};
use crate::kafka::backend::KafkaBackend;
use crate::kafka::coordinator::group::{JoinRequest, JoinResult, Reply, SyncResult};

const GROUP_KEY: i8 = 0;
const TRANSACTION_KEY: i8 = 1;

/// Leadership and role checks every group request passes first.
fn gate<B: KafkaBackend>(ctx: &Ctx<'_, B>, group: &str) -> Option<ResponseError> {
    if !ctx.principal().consume {
        return Some(ResponseError::GroupAuthorizationFailed);
    }
    if group.is_empty() {
        return Some(ResponseError::InvalidGroupId);
    }
    if !ctx.server.sync_leadership().is_leader() {
        return Some(ResponseError::NotCoordinator);
    }
    None
}

pub fn find_coordinator<B: KafkaBackend>(
    ctx: &Ctx<'_, B>,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let view = ctx.backend().cluster();
    let lookup = |key: &str| -> (Option<ResponseError>, i32, String, i32) {
        let error = match req.key_type {
            GROUP_KEY if !ctx.principal().consume => Some(ResponseError::GroupAuthorizationFailed),
            // Transactions are refused where clients expect it to be fatal at once:
            // InitProducerId answers TRANSACTIONAL_ID_AUTHORIZATION_FAILED. The lookup itself
            // succeeds so every client reaches that answer instead of retrying the lookup.
            TRANSACTION_KEY if !ctx.principal().publish => {
                Some(ResponseError::TransactionalIdAuthorizationFailed)
            }
            GROUP_KEY | TRANSACTION_KEY if key.is_empty() => Some(ResponseError::InvalidRequest),
            GROUP_KEY | TRANSACTION_KEY => None,
            _ => Some(ResponseError::InvalidRequest),
        };
        if error.is_some() {
            return (error, -1, String::new(), -1);
        }
        match view.leader.and_then(|l| view.broker(l)) {
            Some(b) => (None, b.id, b.host.clone(), i32::from(b.port)),
            None => (
                Some(ResponseError::CoordinatorNotAvailable),
                -1,
                String::new(),
                -1,
            ),
        }
    };
    if ctx.version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| {
                let (e, id, host, port) = lookup(k.as_str());
                FoundCoordinator::default()
                    .with_key(k.clone())
                    .with_node_id(broker(id))
                    .with_host(str_bytes(host))
                    .with_port(port)
                    .with_error_code(ctx.code(e))
                    .with_error_message(e.map(|e| str_bytes(e.to_string())))
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let (e, id, host, port) = lookup(req.key.as_str());
    FindCoordinatorResponse::default()
        .with_error_code(ctx.code(e))
        .with_error_message(e.map(|e| str_bytes(e.to_string())))
        .with_node_id(broker(id))
        .with_host(str_bytes(host))
        .with_port(port)
}

pub async fn join<B: KafkaBackend>(ctx: &Ctx<'_, B>, req: JoinGroupRequest) -> JoinGroupResponse {
    let result = match gate(ctx, req.group_id.as_str()) {
        Some(e) => JoinResult::error(e, req.member_id.as_str()),
        None => {
            let session = Duration::from_millis(req.session_timeout_ms.max(0) as u64);
            let rebalance = if ctx.version == 0 {
                session
            } else {
                Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64)
            };
            let join = JoinRequest {
                member_id: req.member_id.to_string(),
                instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
                client_id: ctx.client_id(),
                client_host: ctx.session.client_host.clone(),
                session_timeout: session,
                rebalance_timeout: rebalance,
                protocol_type: req.protocol_type.to_string(),
                protocols: req
                    .protocols
                    .iter()
                    .map(|p| (p.name.to_string(), p.metadata.clone()))
                    .collect(),
                require_known_member_id: ctx.version >= 4,
            };
            match ctx.server.coordinator.join(req.group_id.as_str(), join) {
                Reply::Now(r) => r,
                Reply::Wait(rx) => rx.await.unwrap_or_else(|_| {
                    JoinResult::error(ResponseError::NotCoordinator, req.member_id.as_str())
                }),
            }
        }
    };
    JoinGroupResponse::default()
        .with_error_code(ctx.code(result.error))
        .with_generation_id(result.generation)
        .with_protocol_type(result.protocol_type.map(str_bytes))
        .with_protocol_name(Some(str_bytes(result.protocol.unwrap_or_default())))
        .with_leader(str_bytes(result.leader))
        .with_member_id(str_bytes(result.member_id))
        .with_members(
            result
                .members
                .into_iter()
                .map(|(id, instance, meta)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(str_bytes(id))
                        .with_group_instance_id(instance.map(str_bytes))
                        .with_metadata(meta)
                })
                .collect(),
        )
}

pub async fn sync<B: KafkaBackend>(ctx: &Ctx<'_, B>, req: SyncGroupRequest) -> SyncGroupResponse {
    let result = match gate(ctx, req.group_id.as_str()) {
        Some(e) => SyncResult::error(e),
        None => {
            let assignments = req
                .assignments
                .iter()
                .map(|a| (a.member_id.to_string(), a.assignment.clone()))
                .collect();
            let reply = ctx.server.coordinator.sync(
                req.group_id.as_str(),
                req.member_id.as_str(),
                req.generation_id,
                req.protocol_type.as_ref().map(|s| s.as_str()),
                req.protocol_name.as_ref().map(|s| s.as_str()),
                assignments,
            );
            match reply {
                Reply::Now(r) => r,
                Reply::Wait(rx) => rx
                    .await
                    .unwrap_or_else(|_| SyncResult::error(ResponseError::NotCoordinator)),
            }
        }
    };
    SyncGroupResponse::default()
        .with_error_code(ctx.code(result.error))
        .with_protocol_type(result.protocol_type.map(str_bytes))
        .with_protocol_name(result.protocol.map(str_bytes))
        .with_assignment(result.assignment)
}

pub fn heartbeat<B: KafkaBackend>(ctx: &Ctx<'_, B>, req: HeartbeatRequest) -> HeartbeatResponse {
    let error = gate(ctx, req.group_id.as_str()).or_else(|| {
        ctx.server.coordinator.heartbeat(
            req.group_id.as_str(),
            req.member_id.as_str(),
            req.generation_id,
        )
    });
    HeartbeatResponse::default().with_error_code(ctx.code(error))
}

pub fn leave<B: KafkaBackend>(ctx: &Ctx<'_, B>, req: LeaveGroupRequest) -> LeaveGroupResponse {
    if let Some(e) = gate(ctx, req.group_id.as_str()) {
        return LeaveGroupResponse::default().with_error_code(ctx.code(Some(e)));
    }
    let group = req.group_id.as_str();
    if ctx.version < 3 {
        let error = ctx
            .server
            .coordinator
            .leave(group, req.member_id.as_str(), None);
        return LeaveGroupResponse::default().with_error_code(ctx.code(error));
    }
    let members = req
        .members
        .iter()
        .map(|m| {
            let error = ctx.server.coordinator.leave(
                group,
                m.member_id.as_str(),
                m.group_instance_id.as_ref().map(|s| s.as_str()),
            );
            MemberResponse::default()
                .with_member_id(m.member_id.clone())
                .with_group_instance_id(m.group_instance_id.clone())
                .with_error_code(ctx.code(error))
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}

pub async fn list<B: KafkaBackend>(ctx: &Ctx<'_, B>, req: ListGroupsRequest) -> ListGroupsResponse {
    if !ctx.principal().consume {
        return ListGroupsResponse::default()
            .with_error_code(ctx.code(Some(ResponseError::GroupAuthorizationFailed)));
    }
    // Every broker answers with the groups it coordinates: only the leader has any.
    if !ctx.server.sync_leadership().is_leader() {
        return ListGroupsResponse::default();
    }
    let mut groups: Vec<(String, String, &str)> = ctx
        .server
        .coordinator
        .list()
        .into_iter()
        .map(|g| (g.id, g.protocol_type, g.state))
        .collect();
    match ctx.backend().offset_groups().await {
        Ok(with_offsets) => {
            for g in with_offsets {
                if !groups.iter().any(|(id, _, _)| *id == g) {
                    groups.push((g, "consumer".into(), "Empty"));
                }
            }
        }
        Err(e) => {
            return ListGroupsResponse::default()
                .with_error_code(ctx.code(Some(super::coordinator_error(&e))));
        }
    }
    let filter: Vec<String> = req
        .states_filter
        .iter()
        .map(|s| s.to_string().to_lowercase())
        .collect();
    let listed = groups
        .into_iter()
        .filter(|(_, _, state)| filter.is_empty() || filter.contains(&state.to_lowercase()))
        .map(|(id, ptype, state)| {
            ListedGroup::default()
                .with_group_id(group_id(&id))
                .with_protocol_type(str_bytes(ptype))
                .with_group_state(str_bytes(state))
        })
        .collect();
    ListGroupsResponse::default().with_groups(listed)
}

pub async fn describe<B: KafkaBackend>(
    ctx: &Ctx<'_, B>,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let mut out = Vec::with_capacity(req.groups.len());
    for g in &req.groups {
        let base = DescribedGroup::default().with_group_id(g.clone());
        if let Some(e) = gate(ctx, g.as_str()) {
            out.push(base.with_error_code(ctx.code(Some(e))));
            continue;
        }
        let described = match ctx.server.coordinator.describe(g.as_str()) {
            Some(s) => base
                .with_group_state(str_bytes(s.state))
                .with_protocol_type(str_bytes(s.protocol_type))
                .with_protocol_data(str_bytes(s.protocol))
                .with_members(
                    s.members
                        .into_iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(str_bytes(m.member_id))
                                .with_group_instance_id(m.instance_id.map(str_bytes))
                                .with_client_id(str_bytes(m.client_id))
                                .with_client_host(str_bytes(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment)
                        })
                        .collect(),
                ),
            None => {
                let has_offsets = ctx
                    .backend()
                    .offset_groups()
                    .await
                    .map(|v| v.iter().any(|x| x == g.as_str()))
                    .unwrap_or(false);
                if has_offsets {
                    base.with_group_state(str_bytes("Empty"))
                        .with_protocol_type(str_bytes("consumer"))
                } else {
                    base.with_group_state(str_bytes("Dead"))
                }
            }
        };
        out.push(described);
    }
    DescribeGroupsResponse::default().with_groups(out)
}

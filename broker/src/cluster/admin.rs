//! Membership administration (SPEC §3 admin endpoints, `--join`): executed on the leader, one
//! change at a time; any node accepts the call and forwards it. The front doors call one typed
//! function per call ([`Node::add_learner`], [`Node::promote`], ...), each answering the cluster
//! view once the change is done.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::ChangeMembers;

use super::propose::from_write;
use super::rpc::{Admin, AdminRequest, AdminResponse};
use super::{ClusterView, Node};
use crate::command::{AssignNodeId, Request, SetClusterId};
use crate::raft::{NodeAddr, NodeId};
use crate::write::{propose_one, single_reply, MembershipError, WriteError};

/// A learner this close to the leader's log counts as caught up.
const CAUGHT_UP_ENTRIES: u64 = 64;
const PROMOTE_WAIT: Duration = Duration::from_secs(10);

/// Why [`Node::wait_caught_up`] gave up.
pub enum CatchUp {
    NotLeader(WriteError),
    /// Still behind by this many entries (`None`: no replication progress known yet).
    Behind(Option<u64>),
}

/// What an admin request answers: `ReserveId` a node id, the others the view after the change.
pub trait AdminReply: Sized {
    /// `None`: an answer of another kind.
    fn take(r: AdminResponse) -> Option<Self>;
}

impl AdminReply for ClusterView {
    fn take(r: AdminResponse) -> Option<Self> {
        match r {
            AdminResponse::View(v) => Some(v),
            AdminResponse::NodeId(_) => None,
        }
    }
}

/// Passed through as it is (the answer to a peer's `AdminAny`).
impl AdminReply for AdminResponse {
    fn take(r: AdminResponse) -> Option<Self> {
        Some(r)
    }
}

impl AdminReply for NodeId {
    fn take(r: AdminResponse) -> Option<Self> {
        match r {
            AdminResponse::NodeId(id) => Some(id),
            AdminResponse::View(_) => None,
        }
    }
}

/// The typed answer of an admin request: the one place an [`AdminResponse`] is matched.
pub(crate) fn admin_reply<T: AdminReply>(r: AdminResponse) -> Result<T, WriteError> {
    let kind = match &r {
        AdminResponse::NodeId(id) => format!("node id {id}"),
        AdminResponse::View(_) => "a cluster view".to_string(),
    };
    T::take(r).ok_or_else(|| {
        WriteError::Internal(format!(
            "an admin call for a {} was answered with {kind}",
            std::any::type_name::<T>()
        ))
    })
}

/// The initialized cluster, from `POST /v1/cluster/init`.
#[derive(Debug, Clone)]
pub struct Initialized {
    pub cluster_id: String,
    pub leader_id: NodeId,
}

impl Node {
    /// Add a learner (idempotent for the same addresses).
    pub async fn add_learner(&self, id: NodeId, node: NodeAddr) -> Result<ClusterView, WriteError> {
        self.admin(AdminRequest::AddLearner { id, node }).await
    }

    /// Promote a caught-up learner to voter (idempotent for a voter).
    pub async fn promote(&self, id: NodeId) -> Result<ClusterView, WriteError> {
        self.admin(AdminRequest::Promote { id }).await
    }

    /// Remove a member from Raft (idempotent).
    pub async fn remove_member(&self, id: NodeId) -> Result<ClusterView, WriteError> {
        self.admin(AdminRequest::Remove { id }).await
    }

    /// Hand leadership to voter `to`; the view names the new leader.
    pub async fn transfer_leader(&self, to: NodeId) -> Result<ClusterView, WriteError> {
        self.admin(AdminRequest::TransferLeader { to }).await
    }

    /// The leader's view of the cluster (replication progress known), else this node's own.
    pub async fn cluster_view(&self) -> ClusterView {
        match self.admin(AdminRequest::View).await {
            Ok(v) => v,
            Err(_) => self.local_view(),
        }
    }

    /// Run an admin request on the leader, wherever it was received, with its typed answer.
    pub(crate) async fn admin<T: AdminReply>(&self, req: AdminRequest) -> Result<T, WriteError> {
        if self.is_leader() {
            match self.admin_local(req.clone()).await {
                Err(WriteError::NotLeader { .. }) => {}
                other => return admin_reply(other?),
            }
        }
        let answer = match self
            .call_leader(Admin(req), self.config.commit_timeout * 2)
            .await??
        {
            // Views travel without Kafka addresses (`view::MemberView`): ours are the same.
            AdminResponse::View(v) => {
                AdminResponse::View(v.with_kafka_addrs(|id| self.kafka_addr_of(id)))
            }
            other => other,
        };
        admin_reply(answer)
    }

    /// Execute on this node, which must be the leader.
    pub(crate) async fn admin_local(&self, req: AdminRequest) -> Result<AdminResponse, WriteError> {
        if !self.is_leader() {
            return Err(WriteError::NotLeader {
                leader: self.leader_id(),
            });
        }
        if let AdminRequest::View = req {
            return Ok(AdminResponse::View(self.local_view()));
        }
        let _one_at_a_time = self.admin_lock.lock().await;
        let view = match req {
            AdminRequest::View => self.local_view(),
            AdminRequest::ReserveId { raft_addr } => {
                let assigned = self.propose_here(AssignNodeId { raft_addr }).await?;
                return Ok(AdminResponse::NodeId(assigned.node_id));
            }
            AdminRequest::AddLearner { id, node } => {
                self.change_add_learner(id, node).await?;
                self.local_view()
            }
            AdminRequest::Promote { id } => {
                self.change_promote(id).await?;
                self.local_view()
            }
            AdminRequest::Remove { id } => {
                self.change_remove(id).await?;
                self.local_view()
            }
            AdminRequest::TransferLeader { to } => {
                let leader = self
                    .transfer_leadership(to, self.config.commit_timeout)
                    .await?;
                let mut view = self.local_view();
                view.leader_id = Some(leader);
                view
            }
        };
        Ok(AdminResponse::View(view))
    }

    /// Propose one command on this node, which must lead (no forwarding: the caller is the
    /// leader's own admin code, holding the admin lock).
    async fn propose_here<C: Request>(&self, c: C) -> Result<C::Reply, WriteError> {
        single_reply::<C>(self.propose_local(vec![c.into()]).await?)
    }

    async fn change_add_learner(&self, id: NodeId, node: NodeAddr) -> Result<(), WriteError> {
        if let Some(existing) = self.member_addr(id) {
            if let (Some(recorded), Some(given)) = (&existing.incarnation, &node.incarnation) {
                if recorded != given {
                    return Err(MembershipError::IncarnationMismatch {
                        id,
                        recorded: recorded.clone(),
                        given: given.clone(),
                    }
                    .into());
                }
            }
            // The same member (an incarnation the caller left out, or one recorded before
            // incarnations existed, cannot tell otherwise).
            if existing.raft_addr == node.raft_addr && existing.api_addr == node.api_addr {
                return Ok(());
            }
            return Err(MembershipError::MemberExists {
                id,
                existing: existing.to_string(),
            }
            .into());
        }
        if let Some((other, _)) = self
            .metrics_now()
            .membership_config
            .membership()
            .nodes()
            .find(|(_, a)| a.raft_addr == node.raft_addr)
        {
            return Err(MembershipError::AddressInUse {
                other: *other,
                raft_addr: node.raft_addr,
            }
            .into());
        }
        tracing::info!(id, %node, "adding learner");
        self.raft()
            .change_membership(ChangeMembers::AddNodes(BTreeMap::from([(id, node)])), true)
            .await
            .map_err(from_write)?;
        Ok(())
    }

    async fn change_promote(&self, id: NodeId) -> Result<(), WriteError> {
        let m = self.metrics_now();
        let membership = m.membership_config.membership();
        if membership.get_node(&id).is_none() {
            return Err(MembershipError::UnknownMember { id }.into());
        }
        if membership.voter_ids().any(|v| v == id) {
            return Ok(());
        }
        self.wait_caught_up(id, CAUGHT_UP_ENTRIES, PROMOTE_WAIT)
            .await
            .map_err(|e| match e {
                CatchUp::NotLeader(e) => e,
                CatchUp::Behind(behind) => MembershipError::LearnerLagging { id, behind }.into(),
            })?;
        tracing::info!(id, "promoting learner to voter");
        self.raft()
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
            .map_err(from_write)?;
        Ok(())
    }

    /// Wait until member `id`'s replicated log is at most `max_lag` entries behind the leader's,
    /// up to `timeout`; the callers name the failure in their own terms.
    pub async fn wait_caught_up(
        &self,
        id: NodeId,
        max_lag: u64,
        timeout: Duration,
    ) -> Result<(), CatchUp> {
        let mut rx = self.raft().metrics();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (lag, leading) = {
                let m = rx.borrow_and_update();
                let last = m.last_log_index.unwrap_or(0);
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(&id).cloned())
                    .flatten()
                    .map(|l| l.index);
                (
                    matched.map(|x| last.saturating_sub(x)),
                    m.current_leader == Some(self.id),
                )
            };
            if !leading {
                return Err(CatchUp::NotLeader(WriteError::NotLeader {
                    leader: self.leader_id(),
                }));
            }
            if lag.is_some_and(|l| l <= max_lag) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return Err(CatchUp::Behind(lag));
            }
        }
    }

    async fn change_remove(&self, id: NodeId) -> Result<(), WriteError> {
        let m = self.metrics_now();
        let membership = m.membership_config.membership();
        if membership.get_node(&id).is_none() {
            return Ok(());
        }
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let change = if voters.contains(&id) {
            if voters.len() == 1 {
                return Err(MembershipError::LastVoter { id }.into());
            }
            tracing::info!(id, "removing voter");
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            tracing::info!(id, "removing learner");
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        self.raft()
            .change_membership(change, false)
            .await
            .map_err(from_write)?;
        Ok(())
    }

    /// `POST /v1/cluster/init`: bootstrap a one-voter cluster of this node (managed mode).
    pub async fn init_cluster(&self) -> Result<Initialized, WriteError> {
        self.refuse_if_initialized().await?;
        self.bootstrap().await?;
        let cluster_id = self.ensure_cluster_id().await?;
        Ok(Initialized {
            cluster_id,
            leader_id: self.leader_id().unwrap_or(self.id),
        })
    }

    /// `409 already_initialized` when this node belongs to a cluster (what `init` needs first).
    pub(crate) async fn refuse_if_initialized(&self) -> Result<(), WriteError> {
        let initialized = self
            .raft()
            .is_initialized()
            .await
            .map_err(|e| WriteError::Unavailable(e.to_string()))?;
        if initialized {
            return Err(MembershipError::AlreadyInitialized {
                cluster_id: self.cluster_id(),
            }
            .into());
        }
        Ok(())
    }

    /// Initialize Raft with this node as the only voter.
    pub async fn bootstrap(&self) -> Result<(), WriteError> {
        tracing::info!(id = self.id, addr = %self.addr, "bootstrapping a new cluster");
        self.raft()
            .initialize(BTreeMap::from([(self.id, self.addr.clone())]))
            .await
            .map_err(|e| {
                tracing::info!(error = %e, "not bootstrapping");
                MembershipError::AlreadyInitialized {
                    cluster_id: self.cluster_id(),
                }
                .into()
            })
    }

    /// The cluster id, recording a fresh one through the log if the cluster has none yet.
    pub async fn ensure_cluster_id(&self) -> Result<String, WriteError> {
        if let Some(id) = self.cluster_id() {
            return Ok(id);
        }
        let fresh = uuid::Uuid::new_v4().to_string();
        let set = propose_one(self, SetClusterId { cluster_id: fresh }).await?;
        Ok(set.cluster_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_answers_are_typed_and_a_mismatch_is_internal() {
        assert_eq!(admin_reply::<NodeId>(AdminResponse::NodeId(4)), Ok(4));
        assert!(matches!(
            admin_reply::<ClusterView>(AdminResponse::NodeId(4)),
            Err(WriteError::Internal(m)) if m.contains("ClusterView") && m.contains("node id 4")
        ));
    }
}

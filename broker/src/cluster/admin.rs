//! Membership administration (SPEC §3 admin endpoints, `--join`): executed on the leader, one
//! change at a time; any node accepts the call and forwards it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::ChangeMembers;

use super::{ClusterError, ClusterView, Node};
use crate::raft::command::{Op, OpResult};
use crate::raft::network::{AdminRequest, AdminResponse, RpcRequest, RpcResponse};
use crate::raft::{NodeAddr, NodeId};

/// A learner this close to the leader's log counts as caught up.
const CAUGHT_UP_ENTRIES: u64 = 64;
const PROMOTE_WAIT: Duration = Duration::from_secs(10);

/// Why [`Node::wait_caught_up`] gave up.
pub enum CatchUp {
    NotLeader(ClusterError),
    /// Still behind by this many entries (`None`: no replication progress known yet).
    Behind(Option<u64>),
}

impl Node {
    /// Run an admin request on the leader, wherever it was received.
    pub async fn admin(&self, req: AdminRequest) -> Result<AdminResponse, ClusterError> {
        if self.is_leader() {
            match self.admin_local(req.clone()).await {
                Err(ClusterError::NotLeader { .. }) => {}
                other => return other,
            }
        }
        match self
            .call_leader(RpcRequest::Admin(req), self.config.commit_timeout * 2)
            .await?
        {
            RpcResponse::Admin(r) => r,
            _ => Err(ClusterError::Internal(
                "unexpected answer to an admin call".into(),
            )),
        }
    }

    /// The leader's view of the cluster (replication progress known), else this node's own.
    pub async fn cluster_view(&self) -> ClusterView {
        match self.admin(AdminRequest::View).await {
            Ok(AdminResponse::View(v)) => v,
            _ => self.local_view(),
        }
    }

    /// Execute on this node, which must be the leader.
    pub async fn admin_local(&self, req: AdminRequest) -> Result<AdminResponse, ClusterError> {
        if !self.is_leader() {
            return Err(ClusterError::NotLeader {
                leader: self.leader_id(),
            });
        }
        if let AdminRequest::View = req {
            return Ok(AdminResponse::View(self.local_view()));
        }
        let _one_at_a_time = self.admin_lock.lock().await;
        match req {
            AdminRequest::View => unreachable!("answered above"),
            AdminRequest::ReserveId { raft_addr } => match self
                .propose_local(vec![Op::AssignNodeId { raft_addr }])
                .await?
                .0
                .pop()
            {
                Some(OpResult::NodeId { node_id }) => Ok(AdminResponse::NodeId(node_id)),
                other => Err(ClusterError::Internal(format!(
                    "unexpected result {other:?}"
                ))),
            },
            AdminRequest::AddLearner { id, node } => {
                self.add_learner(id, node).await?;
                Ok(AdminResponse::View(self.local_view()))
            }
            AdminRequest::Promote { id } => {
                self.promote(id).await?;
                Ok(AdminResponse::View(self.local_view()))
            }
            AdminRequest::Remove { id } => {
                self.remove_member(id).await?;
                Ok(AdminResponse::View(self.local_view()))
            }
            AdminRequest::TransferLeader { to } => {
                let leader = self
                    .transfer_leadership(to, self.config.commit_timeout)
                    .await?;
                let mut view = self.local_view();
                view.leader_id = Some(leader);
                Ok(AdminResponse::View(view))
            }
        }
    }

    async fn add_learner(&self, id: NodeId, node: NodeAddr) -> Result<(), ClusterError> {
        if let Some(existing) = self.member_addr(id) {
            if existing == node {
                return Ok(());
            }
            return Err(ClusterError::conflict(
                "member_exists",
                format!("node {id} is already a member with different addresses ({existing})"),
            ));
        }
        if let Some((other, _)) = self
            .metrics_now()
            .membership_config
            .membership()
            .nodes()
            .find(|(_, a)| a.raft_addr == node.raft_addr)
        {
            return Err(ClusterError::conflict(
                "address_in_use",
                format!("node {other} already uses raft address {}", node.raft_addr),
            ));
        }
        tracing::info!(id, %node, "adding learner");
        self.raft
            .change_membership(ChangeMembers::AddNodes(BTreeMap::from([(id, node)])), true)
            .await
            .map_err(ClusterError::from_write)?;
        Ok(())
    }

    async fn promote(&self, id: NodeId) -> Result<(), ClusterError> {
        let m = self.metrics_now();
        let membership = m.membership_config.membership();
        if membership.get_node(&id).is_none() {
            return Err(ClusterError::not_found(
                "unknown_member",
                format!("node {id} is not a member; add it as a learner first"),
            ));
        }
        if membership.voter_ids().any(|v| v == id) {
            return Ok(());
        }
        self.wait_caught_up(id, CAUGHT_UP_ENTRIES, PROMOTE_WAIT).await.map_err(|e| match e {
            CatchUp::NotLeader(e) => e,
            CatchUp::Behind(lag) => ClusterError::conflict(
                "learner_lagging",
                format!("node {id} is not caught up with the leader (behind by {lag:?} entries); try again"),
            ),
        })?;
        tracing::info!(id, "promoting learner to voter");
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
            .map_err(ClusterError::from_write)?;
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
        let mut rx = self.raft.metrics();
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
                return Err(CatchUp::NotLeader(ClusterError::NotLeader {
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

    async fn remove_member(&self, id: NodeId) -> Result<(), ClusterError> {
        let m = self.metrics_now();
        let membership = m.membership_config.membership();
        if membership.get_node(&id).is_none() {
            return Ok(());
        }
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        if voters.contains(&id) {
            if voters.len() == 1 {
                return Err(ClusterError::conflict(
                    "last_voter",
                    format!("node {id} is the only voter; a cluster cannot remove its last voter"),
                ));
            }
            tracing::info!(id, "removing voter");
            self.raft
                .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
                .await
                .map_err(ClusterError::from_write)?;
        } else {
            tracing::info!(id, "removing learner");
            self.raft
                .change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false)
                .await
                .map_err(ClusterError::from_write)?;
        }
        Ok(())
    }

    /// `POST /v1/cluster/init`: bootstrap a one-voter cluster of this node (managed mode).
    pub async fn init_cluster(&self) -> Result<String, ClusterError> {
        let initialized = self
            .raft
            .is_initialized()
            .await
            .map_err(|e| ClusterError::Unavailable(e.to_string()))?;
        if initialized {
            let id = self.store.cluster_id().ok().flatten();
            return Err(ClusterError::conflict(
                "already_initialized",
                format!(
                    "this node already belongs to cluster {}",
                    id.as_deref().unwrap_or("(id not yet recorded)")
                ),
            ));
        }
        self.bootstrap().await?;
        self.ensure_cluster_id().await
    }

    /// Initialize Raft with this node as the only voter.
    pub async fn bootstrap(&self) -> Result<(), ClusterError> {
        tracing::info!(id = self.id, addr = %self.addr, "bootstrapping a new cluster");
        self.raft
            .initialize(BTreeMap::from([(self.id, self.addr.clone())]))
            .await
            .map_err(|e| ClusterError::conflict("already_initialized", e.to_string()))
    }

    /// The cluster id, recording a fresh one through the log if the cluster has none yet.
    pub async fn ensure_cluster_id(&self) -> Result<String, ClusterError> {
        if let Ok(Some(id)) = self.store.cluster_id() {
            return Ok(id);
        }
        let fresh = uuid::Uuid::new_v4().to_string();
        let (results, _) = self
            .propose(vec![Op::SetClusterId { cluster_id: fresh }])
            .await?;
        match results.into_iter().next() {
            Some(OpResult::ClusterId { cluster_id }) => Ok(cluster_id),
            other => Err(ClusterError::Internal(format!(
                "unexpected result {other:?}"
            ))),
        }
    }
}

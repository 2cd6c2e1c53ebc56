//! The classic group coordinator. It lives on the node that can commit (the Raft leader), as
//! FindCoordinator tells clients; membership is in memory, committed offsets go through the
//! backend (replicated). When this node stops leading, every group here is dropped and waiting
//! members are answered NOT_COORDINATOR: clients look the coordinator up again, rejoin there, and
//! resume from the replicated offsets — a coordinator change rebalances the group and loses no
//! commit.

pub mod group;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;

use group::{Group, GroupState, GroupTimers, JoinRequest, JoinResult, Reply, SyncResult};

/// Group rules (Kafka's broker settings of the same meaning).
#[derive(Debug, Clone, Copy)]
pub struct GroupConfig {
    /// group.min.session.timeout.ms
    pub min_session_timeout: Duration,
    /// group.max.session.timeout.ms
    pub max_session_timeout: Duration,
    /// group.initial.rebalance.delay.ms
    pub initial_rebalance_delay: Duration,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout: Duration::from_secs(6),
            max_session_timeout: Duration::from_secs(30 * 60),
            initial_rebalance_delay: Duration::from_secs(3),
        }
    }
}

/// A group's summary (ListGroups, DescribeGroups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub id: String,
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    /// (member id, instance id, client id, client host, metadata of the chosen protocol, assignment)
    pub members: Vec<MemberSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSummary {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: bytes::Bytes,
    pub assignment: bytes::Bytes,
}

#[derive(Default)]
struct State {
    /// The leader epoch the groups belong to; a different epoch means they were lost meanwhile.
    epoch: Option<i32>,
    groups: HashMap<String, Group>,
}

pub struct Coordinator {
    config: GroupConfig,
    state: Mutex<State>,
}

impl Coordinator {
    pub fn new(config: GroupConfig) -> Coordinator {
        Coordinator {
            config,
            state: Mutex::new(State::default()),
        }
    }

    pub fn config(&self) -> GroupConfig {
        self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a group half-updated in a way later calls
        // depend on more than on availability; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Aligns the groups with leadership: leading in `epoch` keeps them (or starts afresh after a
    /// change); not leading drops them, answering waiters NOT_COORDINATOR.
    pub fn set_leadership(&self, leading_epoch: Option<i32>) {
        let mut st = self.lock();
        if st.epoch != leading_epoch {
            for g in st.groups.values_mut() {
                g.abandon(ResponseError::NotCoordinator);
            }
            st.groups.clear();
            st.epoch = leading_epoch;
        }
    }

    pub fn join(&self, group_id: &str, req: JoinRequest) -> Reply<JoinResult> {
        if req.session_timeout < self.config.min_session_timeout
            || req.session_timeout > self.config.max_session_timeout
        {
            return Reply::Now(JoinResult::error(
                ResponseError::InvalidSessionTimeout,
                &req.member_id,
            ));
        }
        let mut st = self.lock();
        if !req.member_id.is_empty() && !st.groups.contains_key(group_id) {
            return Reply::Now(JoinResult::error(
                ResponseError::UnknownMemberId,
                &req.member_id,
            ));
        }
        let timers = GroupTimers {
            initial_rebalance_delay: self.config.initial_rebalance_delay,
        };
        st.groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id, timers))
            .join(req, Instant::now())
    }

    pub fn sync(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
        protocol_type: Option<&str>,
        protocol: Option<&str>,
        assignments: Vec<(String, bytes::Bytes)>,
    ) -> Reply<SyncResult> {
        match self.lock().groups.get_mut(group_id) {
            Some(g) => g.sync(
                member_id,
                generation,
                protocol_type,
                protocol,
                assignments,
                Instant::now(),
            ),
            None => Reply::Now(SyncResult::error(ResponseError::UnknownMemberId)),
        }
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
    ) -> Option<ResponseError> {
        match self.lock().groups.get_mut(group_id) {
            Some(g) => g.heartbeat(member_id, generation, Instant::now()),
            None => Some(ResponseError::UnknownMemberId),
        }
    }

    pub fn leave(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Option<ResponseError> {
        match self.lock().groups.get_mut(group_id) {
            Some(g) => g.leave(member_id, instance_id, Instant::now()),
            None => Some(ResponseError::UnknownMemberId),
        }
    }

    pub fn validate_commit(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
    ) -> Option<ResponseError> {
        match self.lock().groups.get(group_id) {
            Some(g) => g.validate_commit(member_id, generation),
            // No live group: only commits outside group management are valid.
            None if generation < 0 => None,
            None => Some(ResponseError::IllegalGeneration),
        }
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupSummary> {
        self.lock().groups.get(group_id).map(summary)
    }

    pub fn list(&self) -> Vec<GroupSummary> {
        let mut v: Vec<_> = self.lock().groups.values().map(summary).collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Session expiry and phase deadlines; drops groups nobody is in.
    pub fn tick(&self) {
        let now = Instant::now();
        let mut st = self.lock();
        for g in st.groups.values_mut() {
            g.tick(now);
        }
        st.groups
            .retain(|_, g| !(g.is_idle() && g.state == GroupState::Empty));
    }
}

fn summary(g: &Group) -> GroupSummary {
    let protocol = g.protocol.clone().unwrap_or_default();
    GroupSummary {
        id: g.id.clone(),
        state: g.state.name(),
        protocol_type: g.protocol_type.clone().unwrap_or_default(),
        protocol: protocol.clone(),
        members: g
            .members
            .values()
            .map(|m| MemberSummary {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: m
                    .protocols
                    .iter()
                    .find(|(n, _)| *n == protocol)
                    .map(|(_, b)| b.clone())
                    .unwrap_or_default(),
                assignment: m.assignment.clone(),
            })
            .collect(),
    }
}

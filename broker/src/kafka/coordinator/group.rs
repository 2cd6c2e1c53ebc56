//! One consumer group under the classic protocol (KIP-62/345/394 rules), as a state machine over
//! explicit instants so tests drive time:
//!
//! ```text
//!   Empty ──join──▶ PreparingRebalance ──all rejoined / timeout──▶ CompletingRebalance
//!     ▲                  ▲        ▲                                     │ leader's SyncGroup
//!     └── last member ───┘        └── join / leave / expiry ◀── Stable ◀┘
//! ```
//!
//! Members waiting in JoinGroup or SyncGroup hold a oneshot sender; completing a phase answers
//! them all. Assignment is the clients' business (range, roundrobin, cooperative-sticky all work):
//! the leader gets every member's metadata and returns every member's assignment.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    /// Kafka's names (DescribeGroups, ListGroups).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// What JoinGroup answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinResult {
    pub error: Option<ResponseError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Only for the leader: (member id, group instance id, metadata for the chosen protocol).
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    pub fn error(error: ResponseError, member_id: &str) -> JoinResult {
        JoinResult {
            error: Some(error),
            generation: -1,
            member_id: member_id.into(),
            ..Default::default()
        }
    }
}

/// What SyncGroup answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncResult {
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(error: ResponseError) -> SyncResult {
        SyncResult {
            error: Some(error),
            ..Default::default()
        }
    }
}

/// An answer now, or one to wait for.
pub enum Reply<T> {
    Now(T),
    Wait(oneshot::Receiver<T>),
}

/// A JoinGroup as the coordinator needs it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// KIP-394 (JoinGroup v4+): a new member first gets its id with MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
}

#[derive(Debug)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    last_seen: Instant,
    join_waiter: Option<oneshot::Sender<JoinResult>>,
    sync_waiter: Option<oneshot::Sender<SyncResult>>,
}

/// Timing rules every group follows.
#[derive(Debug, Clone, Copy)]
pub struct GroupTimers {
    /// A first rebalance waits this long for more members (group.initial.rebalance.delay.ms).
    pub initial_rebalance_delay: Duration,
}

#[derive(Debug)]
pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// Ordered by member id: deterministic leader choice and listings.
    pub members: BTreeMap<String, Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, until they join or expire.
    pending: HashMap<String, Instant>,
    /// PreparingRebalance: when the join phase ends whoever has rejoined.
    join_deadline: Option<Instant>,
    /// PreparingRebalance of an empty group: the join phase does not end before this.
    not_before: Option<Instant>,
    /// CompletingRebalance: when a missing leader assignment restarts the rebalance.
    sync_deadline: Option<Instant>,
    timers: GroupTimers,
}

impl Group {
    pub fn new(id: &str, timers: GroupTimers) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            join_deadline: None,
            not_before: None,
            sync_deadline: None,
            timers,
        }
    }

    pub fn join(&mut self, req: JoinRequest, now: Instant) -> Reply<JoinResult> {
        if req.protocols.is_empty()
            || self
                .protocol_type
                .as_deref()
                .is_some_and(|t| t != req.protocol_type)
                && !self.members.is_empty()
        {
            return Reply::Now(JoinResult::error(
                ResponseError::InconsistentGroupProtocol,
                &req.member_id,
            ));
        }
        if !self.members.is_empty() && !self.protocols_compatible(&req) {
            return Reply::Now(JoinResult::error(
                ResponseError::InconsistentGroupProtocol,
                &req.member_id,
            ));
        }
        let member_id = if req.member_id.is_empty() {
            let id = format!("{}-{}", req.client_id, uuid::Uuid::new_v4());
            if let Some(instance) = &req.instance_id {
                // Static membership: the new incarnation replaces the old one (fencing it).
                if let Some(old) = self
                    .members
                    .values()
                    .find(|m| m.instance_id.as_ref() == Some(instance))
                    .map(|m| m.id.clone())
                {
                    self.remove_member(&old, ResponseError::FencedInstanceId);
                }
            } else if req.require_known_member_id {
                self.pending.insert(id.clone(), now + req.session_timeout);
                return Reply::Now(JoinResult::error(ResponseError::MemberIdRequired, &id));
            }
            id
        } else if self.members.contains_key(&req.member_id)
            || self.pending.remove(&req.member_id).is_some()
        {
            req.member_id.clone()
        } else {
            return Reply::Now(JoinResult::error(
                ResponseError::UnknownMemberId,
                &req.member_id,
            ));
        };

        let (tx, rx) = oneshot::channel();
        let changed = match self.members.get_mut(&member_id) {
            Some(m) => {
                let changed = m.protocols != req.protocols;
                m.protocols = req.protocols;
                m.session_timeout = req.session_timeout;
                m.rebalance_timeout = req.rebalance_timeout;
                m.last_seen = now;
                changed
            }
            None => {
                self.members.insert(
                    member_id.clone(),
                    Member {
                        id: member_id.clone(),
                        instance_id: req.instance_id,
                        client_id: req.client_id,
                        client_host: req.client_host,
                        session_timeout: req.session_timeout,
                        rebalance_timeout: req.rebalance_timeout,
                        protocols: req.protocols,
                        assignment: Bytes::new(),
                        last_seen: now,
                        join_waiter: None,
                        sync_waiter: None,
                    },
                );
                true
            }
        };
        if self.members.len() == 1 {
            self.protocol_type = Some(req.protocol_type);
        }
        let is_leader = self.leader.as_deref() == Some(member_id.as_str());
        match self.state {
            GroupState::Stable if !changed && !is_leader => {
                return Reply::Now(self.join_result(&member_id));
            }
            GroupState::CompletingRebalance if !changed => {
                return Reply::Now(self.join_result(&member_id));
            }
            GroupState::PreparingRebalance => {}
            _ => self.prepare_rebalance(now),
        }
        if let Some(m) = self.members.get_mut(&member_id) {
            m.join_waiter = Some(tx);
        }
        self.try_complete_join(now);
        Reply::Wait(rx)
    }

    pub fn sync(
        &mut self,
        member_id: &str,
        generation: i32,
        protocol_type: Option<&str>,
        protocol: Option<&str>,
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> Reply<SyncResult> {
        let Some(member) = self.members.get_mut(member_id) else {
            return Reply::Now(SyncResult::error(ResponseError::UnknownMemberId));
        };
        member.last_seen = now;
        if generation != self.generation {
            return Reply::Now(SyncResult::error(ResponseError::IllegalGeneration));
        }
        if protocol_type.is_some_and(|t| Some(t) != self.protocol_type.as_deref())
            || protocol.is_some_and(|p| Some(p) != self.protocol.as_deref())
        {
            return Reply::Now(SyncResult::error(ResponseError::InconsistentGroupProtocol));
        }
        match self.state {
            GroupState::Empty => Reply::Now(SyncResult::error(ResponseError::UnknownMemberId)),
            GroupState::PreparingRebalance => {
                Reply::Now(SyncResult::error(ResponseError::RebalanceInProgress))
            }
            GroupState::Stable => Reply::Now(self.sync_result(member_id)),
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = self.members.get_mut(member_id) {
                    m.sync_waiter = Some(tx);
                }
                if self.leader.as_deref() == Some(member_id) {
                    let mut given: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for m in self.members.values_mut() {
                        m.assignment = given.remove(&m.id).unwrap_or_default();
                    }
                    self.state = GroupState::Stable;
                    self.sync_deadline = None;
                    let answers: Vec<_> = self.members.keys().cloned().collect();
                    for id in answers {
                        let result = self.sync_result(&id);
                        if let Some(tx) =
                            self.members.get_mut(&id).and_then(|m| m.sync_waiter.take())
                        {
                            let _ = tx.send(result);
                        }
                    }
                }
                Reply::Wait(rx)
            }
        }
    }

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        generation: i32,
        now: Instant,
    ) -> Option<ResponseError> {
        let Some(member) = self.members.get_mut(member_id) else {
            return Some(ResponseError::UnknownMemberId);
        };
        member.last_seen = now;
        if generation != self.generation {
            return Some(ResponseError::IllegalGeneration);
        }
        match self.state {
            GroupState::Empty => Some(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => Some(ResponseError::RebalanceInProgress),
            GroupState::CompletingRebalance | GroupState::Stable => None,
        }
    }

    /// Removes a member by id, or by static instance id when `member_id` is empty.
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        now: Instant,
    ) -> Option<ResponseError> {
        let id = if member_id.is_empty() {
            match instance_id.and_then(|i| {
                self.members
                    .values()
                    .find(|m| m.instance_id.as_deref() == Some(i))
            }) {
                Some(m) => m.id.clone(),
                None => return Some(ResponseError::UnknownMemberId),
            }
        } else {
            member_id.to_string()
        };
        if self.pending.remove(&id).is_some() {
            return None;
        }
        if !self.members.contains_key(&id) {
            return Some(ResponseError::UnknownMemberId);
        }
        if let Some(i) = instance_id {
            if self.members[&id]
                .instance_id
                .as_deref()
                .is_some_and(|mine| mine != i)
            {
                return Some(ResponseError::FencedInstanceId);
            }
        }
        self.remove_member(&id, ResponseError::UnknownMemberId);
        self.after_departure(now);
        None
    }

    /// Whether an offset commit with this identity is allowed now.
    pub fn validate_commit(&self, member_id: &str, generation: i32) -> Option<ResponseError> {
        if generation < 0 && member_id.is_empty() {
            // A commit outside group management (assign() consumers, admin tools).
            return if self.state == GroupState::Empty {
                None
            } else {
                Some(ResponseError::UnknownMemberId)
            };
        }
        if !self.members.contains_key(member_id) {
            return Some(ResponseError::UnknownMemberId);
        }
        if generation != self.generation {
            return Some(ResponseError::IllegalGeneration);
        }
        if self.state == GroupState::CompletingRebalance {
            return Some(ResponseError::RebalanceInProgress);
        }
        // Stable, and PreparingRebalance too: members commit what they processed before rejoining.
        None
    }

    /// Expires silent members and ends overdue phases.
    pub fn tick(&mut self, now: Instant) {
        self.pending.retain(|_, until| *until > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.join_waiter.is_none()
                    && m.sync_waiter.is_none()
                    && now.duration_since(m.last_seen) > m.session_timeout
            })
            .map(|m| m.id.clone())
            .collect();
        for id in &expired {
            self.remove_member(id, ResponseError::UnknownMemberId);
        }
        if !expired.is_empty() {
            self.after_departure(now);
        }
        match self.state {
            GroupState::PreparingRebalance => {
                if self.join_deadline.is_some_and(|d| now >= d) {
                    let late: Vec<String> = self
                        .members
                        .values()
                        .filter(|m| m.join_waiter.is_none())
                        .map(|m| m.id.clone())
                        .collect();
                    for id in late {
                        self.remove_member(&id, ResponseError::UnknownMemberId);
                    }
                    self.complete_join(now);
                } else {
                    self.try_complete_join(now);
                }
            }
            GroupState::CompletingRebalance if self.sync_deadline.is_some_and(|d| now >= d) => {
                // The leader never sent the assignment: start over with whoever is still there.
                self.prepare_rebalance(now);
            }
            _ => {}
        }
    }

    /// Answers every waiting member with `error` (the coordinator is going away).
    pub fn abandon(&mut self, error: ResponseError) {
        for m in self.members.values_mut() {
            if let Some(tx) = m.join_waiter.take() {
                let _ = tx.send(JoinResult::error(error, &m.id));
            }
            if let Some(tx) = m.sync_waiter.take() {
                let _ = tx.send(SyncResult::error(error));
            }
        }
    }

    pub fn is_idle(&self) -> bool {
        self.members.is_empty() && self.pending.is_empty()
    }

    fn protocols_compatible(&self, req: &JoinRequest) -> bool {
        req.protocols.iter().any(|(name, _)| {
            self.members
                .values()
                .filter(|m| m.id != req.member_id)
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    fn prepare_rebalance(&mut self, now: Instant) {
        let was_empty = self.state == GroupState::Empty;
        self.state = GroupState::PreparingRebalance;
        self.sync_deadline = None;
        for m in self.members.values_mut() {
            if let Some(tx) = m.sync_waiter.take() {
                let _ = tx.send(SyncResult::error(ResponseError::RebalanceInProgress));
            }
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.join_deadline = Some(now + timeout);
        self.not_before = was_empty.then(|| now + self.timers.initial_rebalance_delay.min(timeout));
    }

    fn try_complete_join(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance || self.not_before.is_some_and(|t| now < t)
        {
            return;
        }
        if self.members.values().all(|m| m.join_waiter.is_some()) {
            self.complete_join(now);
        }
    }

    fn complete_join(&mut self, now: Instant) {
        self.join_deadline = None;
        self.not_before = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol = None;
            self.leader = None;
            return;
        }
        self.protocol = self.select_protocol();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.state = GroupState::CompletingRebalance;
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.sync_deadline = Some(now + timeout);
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.join_result(&id);
            if let Some(m) = self.members.get_mut(&id) {
                m.last_seen = now;
                if let Some(tx) = m.join_waiter.take() {
                    let _ = tx.send(result);
                }
            }
        }
    }

    /// Each member votes for its most preferred protocol among those every member supports.
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == *n))
            })
            .collect();
        let mut votes: Vec<(usize, &String)> = candidates.iter().map(|c| (0, *c)).collect();
        for m in self.members.values() {
            if let Some(choice) = m
                .protocols
                .iter()
                .map(|(n, _)| n)
                .find(|n| candidates.contains(n))
            {
                if let Some(v) = votes.iter_mut().find(|(_, c)| *c == choice) {
                    v.0 += 1;
                }
            }
        }
        // Highest vote wins; ties go to the first member's preference order.
        let best = votes.iter().map(|(n, _)| *n).max()?;
        votes
            .into_iter()
            .find(|(n, _)| *n == best)
            .map(|(_, c)| c.clone())
    }

    fn join_result(&self, member_id: &str) -> JoinResult {
        let leader = self.leader.clone().unwrap_or_default();
        let members = if leader == member_id {
            let protocol = self.protocol.as_deref().unwrap_or_default();
            self.members
                .values()
                .map(|m| {
                    let meta = m
                        .protocols
                        .iter()
                        .find(|(n, _)| n == protocol)
                        .map(|(_, b)| b.clone())
                        .unwrap_or_default();
                    (m.id.clone(), m.instance_id.clone(), meta)
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            leader,
            member_id: member_id.to_string(),
            members,
        }
    }

    fn sync_result(&self, member_id: &str) -> SyncResult {
        SyncResult {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    fn remove_member(&mut self, id: &str, error: ResponseError) {
        if let Some(mut m) = self.members.remove(id) {
            if let Some(tx) = m.join_waiter.take() {
                let _ = tx.send(JoinResult::error(error, id));
            }
            if let Some(tx) = m.sync_waiter.take() {
                let _ = tx.send(SyncResult::error(error));
            }
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = None;
        }
    }

    fn after_departure(&mut self, now: Instant) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                if self.members.is_empty() {
                    self.generation += 1;
                    self.state = GroupState::Empty;
                    self.protocol = None;
                } else {
                    self.prepare_rebalance(now);
                }
            }
            GroupState::PreparingRebalance => self.try_complete_join(now),
            GroupState::Empty => {}
        }
    }
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;

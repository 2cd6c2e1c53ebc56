//! The Raft membership state machine: from what is observed *now* (desired size, pods, each
//! broker's own view) decide the StatefulSet size and the **one** next step. Pure: no I/O, no
//! memory between reconciles, so a crash between any two steps is repaired by the next
//! reconcile, which simply observes the half-done state and continues from there.
//!
//! ```text
//! no cluster id ──all pods answer, none has data──▶ Bootstrap pod 0 (once; status.clusterId)
//!      │ a pod already has a cluster id ──▶ adopt it (never a second bootstrap)
//!      ▼
//! recovery    annotation jumpnet.io/force-new-cluster=POD and no leader ──▶ ForceNewCluster on POD
//!             (the most up-to-date survivor) ──▶ DiscardData of every other pod holding the old
//!             cluster's data ──▶ RecoveryDone (annotation removed); they rejoin empty, as learners
//! no leader   pods down on an outdated template (a bad image reverted) ──▶ RestartPod
//! repair      member whose pod came back empty or with another incarnation (a new volume)
//!             ──▶ RemoveMember (then re-added below as a fresh learner, never trusted as the old one)
//! scale down  members with id >= replicas, highest first:
//!             learner ──▶ RemoveMember · leader ──▶ TransferLeader · voter ──▶ RemoveMember if quorum holds
//!             (the StatefulSet only shrinks below a member once Raft has let go of it)
//! scale up    pod running, not a member ──▶ AddLearner ; learner caught up ──▶ Promote
//! roll        a pod down on an outdated template ──▶ RestartPod at once (it serves nothing);
//!             pods on an old revision, all ready and caught up: followers (highest first)
//!             ──▶ RestartPod ; the leader last ──▶ TransferLeader, then RestartPod; a restarted
//!             pod not Ready within spec.rollout.readyTimeoutSeconds ──▶ RolloutStuck (stops)
//!             except when the cluster secret changed (auth turned on or off, secret rotated):
//!             pods with different secrets cannot talk, so one by one would stall with the first
//!             restarted pod ──▶ RestartPod one canary; once it runs and answers ──▶ RestartAll
//!             pods still on the old secret, together (a template that does not start stops at
//!             the canary instead of taking every broker down)
//! otherwise   Converged
//! ```
//! Every change is gated on health: a leader is known and every voter's pod is ready, and a
//! removal must leave a ready majority in both the old and the new configuration.
//! [`protected_voters`] sizes the PodDisruptionBudget from the same facts.

use std::collections::{BTreeMap, BTreeSet};

use crate::broker_client::{ClusterView, Member, Role};

/// A learner within this many log entries of the commit index counts as caught up.
pub const CATCH_UP_SLACK: u64 = 100;

/// What the reconciler saw of one broker pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodObservation {
    /// Running with an IP: the broker can be asked.
    pub running: bool,
    /// The pod's Ready condition (the broker's `/readyz`).
    pub ready: bool,
    /// Has a deletionTimestamp.
    pub terminating: bool,
    /// Created moments ago (a restart or a new pod): not ready yet is expected, not degraded.
    pub starting: bool,
    /// Seconds the pod has not been Ready: since its Ready condition last turned false, or since
    /// it was created when it never was; 0 while ready.
    pub unready_secs: u64,
    /// `controller-revision-hash` label.
    pub revision: Option<String>,
    /// Fingerprint of the cluster secret the pod runs with (its annotation); `None`: none.
    pub cluster_secret: Option<String>,
    /// The broker's own view; `None` when not running or it did not answer.
    pub view: Option<ClusterView>,
    /// What keeps the pod from running or being ready, in the words of the kubelet, the scheduler
    /// or the volume binder (image pull failures, crash loops, unschedulable, PVC pending).
    pub problem: Option<PodProblem>,
}

/// Why a pod cannot get ready, for conditions and events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodProblem {
    /// CamelCase condition reason: `ImagePullBackOff`, `CrashLoopBackOff`, `Unschedulable`,
    /// `PersistentVolumeClaimPending`, or the kubelet's own waiting reason.
    pub reason: String,
    /// Human detail, e.g. the kubelet's message.
    pub message: String,
}

/// Everything the decision depends on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// `spec.replicas`.
    pub desired: u32,
    /// `status.clusterId`.
    pub recorded_cluster_id: Option<String>,
    /// `.spec.replicas` of the live StatefulSet, if it exists.
    pub statefulset_replicas: Option<u32>,
    /// `.status.updateRevision` of the StatefulSet, only when its status is current
    /// (`observedGeneration == generation`).
    pub update_revision: Option<String>,
    /// Fingerprint of the cluster secret of the current pod template; `None` without auth.
    pub cluster_secret: Option<String>,
    /// Pods by ordinal.
    pub pods: BTreeMap<u64, PodObservation>,
    /// `spec.rollout.readyTimeoutSeconds`.
    pub ready_timeout_secs: u64,
    /// Ordinal named by the `jumpnet.io/force-new-cluster` annotation (quorum-loss recovery).
    pub force_new_cluster: Option<u64>,
    /// Voters listed in `status.members`: the PodDisruptionBudget's fallback while no leader answers.
    pub recorded_voters: Option<u32>,
}

pub use step::{Purpose, RecoveryBlock, RemoveReason, Step, Wait};

/// Facts derived from the observation, shared by the decision and the status.
#[derive(Clone, Debug, PartialEq)]
pub struct Facts<'a> {
    /// Recorded, or adopted from the pods.
    pub cluster_id: Option<String>,
    /// True when `cluster_id` came from the pods, not from status.
    pub adopted: bool,
    /// The leader's own view: authoritative members and matched indexes.
    pub leader_view: Option<&'a ClusterView>,
    pub conflict: Option<Wait>,
}

impl Facts<'_> {
    pub fn leader(&self) -> Option<u64> {
        self.leader_view.and_then(|v| v.leader_id)
    }
    pub fn members(&self) -> &[Member] {
        self.leader_view
            .map(|v| v.members.as_slice())
            .unwrap_or(&[])
    }
}

pub fn facts(o: &Observed) -> Facts<'_> {
    let reported: BTreeSet<&str> = o
        .pods
        .values()
        .filter_map(|p| p.view.as_ref()?.cluster_id.as_deref())
        .collect();
    let (cluster_id, adopted, mut conflict) = match (&o.recorded_cluster_id, reported.len()) {
        (Some(id), _) => (Some(id.clone()), false, None),
        (None, 0) => (None, false, None),
        (None, 1) => (reported.first().map(|s| s.to_string()), true, None),
        (None, _) => (
            None,
            false,
            Some(Wait::SplitClusters {
                ids: reported.iter().map(|s| s.to_string()).collect(),
            }),
        ),
    };
    if let (Some(id), None) = (&cluster_id, &conflict) {
        conflict = o.pods.iter().find_map(|(ordinal, p)| {
            let other = p.view.as_ref()?.cluster_id.as_deref()?;
            (other != id).then(|| Wait::ForeignData {
                ordinal: *ordinal,
                cluster_id: other.to_string(),
            })
        });
    }
    // A leader cut off from the majority leads nothing: its pod's readiness fails and its lease
    // figure is old (either alone is not enough: probes lag, and the figure is refreshed lazily).
    let leader_view = cluster_id.as_deref().and_then(|id| {
        o.pods
            .values()
            .filter(|p| p.ready || !p.view.as_ref().is_some_and(|v| v.lease_stale()))
            .filter_map(|p| p.view.as_ref())
            .filter(|v| v.is_leader_view() && v.cluster_id.as_deref() == Some(id))
            .max_by_key(|v| v.term)
    });
    Facts {
        cluster_id,
        adopted,
        leader_view,
        conflict,
    }
}

/// How many pods the StatefulSet should have: `spec.replicas`, but never fewer than needed to
/// keep every pod that is still a Raft member (removal comes first), and never shrunk blindly
/// while membership is unknown.
pub fn statefulset_replicas(o: &Observed) -> u32 {
    let f = facts(o);
    let current = o.statefulset_replicas.unwrap_or(o.desired);
    if let Some(view) = f.leader_view {
        // Every member keeps its pod, even if someone shrank the StatefulSet by hand.
        let needed = view.members.iter().map(|m| m.id + 1).max().unwrap_or(0);
        let needed = u32::try_from(needed).unwrap_or(u32::MAX);
        return o.desired.max(needed);
    }
    let fresh =
        f.cluster_id.is_none() && f.conflict.is_none() && o.pods.values().all(|p| p.view.is_some());
    if fresh {
        o.desired
    } else {
        o.desired.max(current)
    }
}

fn pod_ready(o: &Observed, id: u64) -> bool {
    o.pods.get(&id).is_some_and(|p| p.ready && !p.terminating)
}

/// A member whose pod answers as someone else: another incarnation (state-dir id) than the member
/// was added with, or, for a voter, no cluster data at all (a learner just added has none until it
/// receives the log). Its volume was replaced; it must never vote as the old member.
fn lost_data(o: &Observed, m: &Member) -> bool {
    o.pods.get(&m.id).is_some_and(|p| {
        !p.terminating
            && p.view.as_ref().is_some_and(|v| {
                (m.role == Role::Voter && v.cluster_id.is_none())
                    || matches!((&v.incarnation, &m.incarnation), (Some(a), Some(b)) if a != b)
            })
    })
}

/// The voters a PodDisruptionBudget must keep a majority of: the leader's voters that stay (below
/// `spec.replicas`, volume intact), so the budget is already the smaller one while a voter is being
/// removed. Learners never count: an eviction budget of `(n - 1) / 2` pods over *all* pods then
/// cannot take a majority of the voters, whether learners are ready or not. Without a leader view:
/// the configuration the most recent answering member knows, else the voters of the last status
/// (never more than `spec.replicas`), else none.
pub fn protected_voters(o: &Observed) -> u32 {
    let f = facts(o);
    if let Some(lv) = f.leader_view {
        return lv
            .members
            .iter()
            .filter(|m| m.role == Role::Voter && m.id < u64::from(o.desired) && !lost_data(o, m))
            .count() as u32;
    }
    let known = o
        .pods
        .values()
        .filter_map(|p| p.view.as_ref())
        .filter(|v| v.cluster_id.is_some() && v.cluster_id == f.cluster_id && v.voter_count() > 0)
        .max_by_key(|v| v.term)
        .map(|v| v.voter_count() as u32);
    known.or(o.recorded_voters).unwrap_or(0).min(o.desired)
}

fn caught_up(view: &ClusterView, m: &Member) -> bool {
    m.id == view.node_id.unwrap_or(u64::MAX)
        || m.matched_index
            .is_some_and(|i| i + CATCH_UP_SLACK >= view.commit_index)
}

fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Removing `id` keeps a ready majority in the old and in the new voter set (joint consensus
/// needs both), and never removes the last voter.
pub fn removal_keeps_quorum(o: &Observed, voters: &BTreeSet<u64>, id: u64) -> bool {
    let after: BTreeSet<u64> = voters.iter().copied().filter(|v| *v != id).collect();
    if after.is_empty() {
        return false;
    }
    let ready = |set: &BTreeSet<u64>| set.iter().filter(|v| pod_ready(o, **v)).count();
    ready(voters) >= majority(voters.len()) && ready(&after) >= majority(after.len())
}

/// The one next step (call after the StatefulSet was applied, with its fresh update revision).
pub fn next_step(o: &Observed) -> Step {
    let f = facts(o);
    if let Some(w) = f.conflict.clone() {
        return Step::Wait(w);
    }
    if let Some(from) = o.force_new_cluster {
        return recovery_step(o, &f, from);
    }
    if let Some(step) = cluster_secret_step(o, &f) {
        return step;
    }
    let Some(_) = f.cluster_id else {
        return bootstrap_step(o);
    };
    let Some(lv) = f.leader_view else {
        let all_answered_empty = !o.pods.is_empty()
            && o.pods
                .values()
                .all(|p| p.view.as_ref().is_some_and(|v| v.cluster_id.is_none()));
        if o.recorded_cluster_id.is_some() && all_answered_empty {
            return Step::Wait(Wait::ClusterDataMissing);
        }
        // Brokers that do not even run, on a template that was changed back (a bad image
        // reverted): waiting for them to get ready would wait forever.
        if let Some(id) = down_and_outdated(o, false) {
            return Step::RestartPod { ordinal: id };
        }
        return Step::Wait(Wait::NoLeader);
    };
    membership_step(o, lv).unwrap_or_else(|| rolling_step(o, lv))
}

/// A pod that is not ready and runs an outdated pod template: restarting it costs nothing. With
/// `quorum_ready` false only one that does not answer at all (its process is down), since a
/// broker that is merely not ready may still be acknowledging the log for a bare majority.
fn down_and_outdated(o: &Observed, quorum_ready: bool) -> Option<u64> {
    let rev = o.update_revision.as_deref()?;
    o.pods
        .iter()
        .rev()
        .find(|(_, p)| {
            !p.terminating
                && !p.ready
                && p.revision.as_deref().is_some_and(|r| r != rev)
                && (p.view.is_none() || quorum_ready)
        })
        .map(|(id, _)| *id)
}

/// The unsafe recovery a human asked for with the `jumpnet.io/force-new-cluster` annotation:
/// only while no leader exists, only from a pod that holds this cluster's data and is at least as
/// far along as every other answering pod. Other pods' copies of the old cluster are discarded
/// (their logs may hold entries the survivor lacks, which Raft must never see again); they rejoin
/// empty through the ordinary learner path once the annotation is gone.
fn recovery_step(o: &Observed, f: &Facts<'_>, from: u64) -> Step {
    let blocked = |why| Step::Wait(Wait::RecoveryBlocked { ordinal: from, why });
    let Some(cid) = f.cluster_id.as_deref() else {
        return blocked(RecoveryBlock::NoCluster);
    };
    let holds_cluster = |p: &PodObservation| {
        !p.terminating
            && p.view
                .as_ref()
                .is_some_and(|v| v.cluster_id.as_deref() == Some(cid))
    };
    match f.leader_view {
        Some(lv) if lv.leader_id == Some(from) && voter_ids(lv) == BTreeSet::from([from]) => {
            let stale = o.pods.iter().find(|(id, p)| {
                **id != from && holds_cluster(p) && !lv.members.iter().any(|m| m.id == **id)
            });
            match stale {
                Some((id, _)) => Step::DiscardData { ordinal: *id },
                None => Step::RecoveryDone { ordinal: from },
            }
        }
        // A leader with another configuration: the quorum is back, nothing to force.
        Some(_) => Step::RecoveryDone { ordinal: from },
        None => {
            let Some(p) = o.pods.get(&from).filter(|p| p.running && holds_cluster(p)) else {
                return blocked(RecoveryBlock::NotAnswering);
            };
            let mine = p.view.as_ref().map_or(0, |v| v.last_log_index);
            let better = o
                .pods
                .iter()
                .filter(|(id, p)| **id != from && holds_cluster(p))
                .filter_map(|(id, p)| Some((*id, p.view.as_ref()?.last_log_index)))
                .filter(|(_, last)| *last > mine)
                .max_by_key(|(_, last)| *last);
            match better {
                Some((better, _)) => blocked(RecoveryBlock::NotMostRecent { better }),
                None => Step::ForceNewCluster { ordinal: from },
            }
        }
    }
}

fn voter_ids(lv: &ClusterView) -> BTreeSet<u64> {
    lv.members
        .iter()
        .filter(|m| m.role == Role::Voter)
        .map(|m| m.id)
        .collect()
}

/// Pods that run with another cluster secret than the template's refuse (and are refused by)
/// the others, so they cannot roll one by one: after one canary pod proved that the new template
/// starts (it runs and answers), every pod still on the old secret restarts at once, whatever the
/// health (a cluster split by secrets has no healthy state to wait for). A canary that never comes
/// up stops the change there, with the other brokers still serving. The data stays on the
/// volumes; Raft re-forms from it.
fn cluster_secret_step(o: &Observed, f: &Facts<'_>) -> Option<Step> {
    let live = || o.pods.iter().filter(|(_, p)| !p.terminating);
    let old: Vec<u64> = live()
        .filter(|(_, p)| p.cluster_secret != o.cluster_secret)
        .map(|(id, _)| *id)
        .collect();
    if old.is_empty() {
        return None;
    }
    // Pods deleted before the StatefulSet controller saw the new template would come back old.
    let Some(rev) = o.update_revision.as_deref() else {
        return Some(Step::Wait(Wait::StatefulSetSyncing));
    };
    let on_new = || live().filter(|(_, p)| p.cluster_secret == o.cluster_secret);
    let current = |p: &PodObservation| p.revision.as_deref() == Some(rev);
    if on_new().any(|(_, p)| current(p) && p.running && p.view.is_some()) {
        return Some(Step::RestartAll { ordinals: old });
    }
    if let Some((id, p)) = on_new().find(|(_, p)| current(p)) {
        return Some(Step::Wait(stuck_or_restarting(o, *id, p)));
    }
    // A pod that does not run on an outdated template (a canary of a template changed since).
    if let Some(id) = down_and_outdated(o, false) {
        return Some(Step::RestartPod { ordinal: id });
    }
    // A canary deleted moments ago and not back yet.
    if let Some(id) =
        (0..u64::from(o.desired)).find(|id| o.pods.get(id).is_none_or(|p| p.terminating))
    {
        return Some(Step::Wait(Wait::PodRestarting { ordinal: id }));
    }
    let leader = f.leader();
    let canary = old
        .iter()
        .rev()
        .find(|id| Some(**id) != leader)
        .or(old.last())
        .copied()?;
    Some(Step::RestartPod { ordinal: canary })
}

/// A restarted pod on the current template, not ready yet: still starting, or stuck once it has
/// not been ready for `spec.rollout.readyTimeoutSeconds`.
fn stuck_or_restarting(o: &Observed, id: u64, p: &PodObservation) -> Wait {
    if p.unready_secs >= o.ready_timeout_secs {
        Wait::RolloutStuck {
            ordinal: id,
            after_secs: o.ready_timeout_secs,
        }
    } else {
        Wait::PodRestarting { ordinal: id }
    }
}

fn bootstrap_step(o: &Observed) -> Step {
    let pod0_ok = o
        .pods
        .get(&0)
        .is_some_and(|p| p.running && !p.terminating && p.view.is_some());
    // Any pod that might hold data must have answered: adopting beats bootstrapping.
    let all_answered = (0..u64::from(o.desired)).all(|i| o.pods.contains_key(&i))
        && o.pods.values().all(|p| p.view.is_some());
    if pod0_ok && all_answered {
        Step::Bootstrap { ordinal: 0 }
    } else {
        Step::Wait(Wait::PodsStarting)
    }
}

fn membership_step(o: &Observed, lv: &ClusterView) -> Option<Step> {
    let desired = u64::from(o.desired);
    let leader = lv.leader_id?;
    let voters: BTreeSet<u64> = lv
        .members
        .iter()
        .filter(|m| m.role == Role::Voter)
        .map(|m| m.id)
        .collect();
    let is_member = |id: u64| lv.members.iter().any(|m| m.id == id);

    // Repair: a member whose pod answers without its data (empty, or a new incarnation) lost its
    // volume: out of Raft first, then back in as a fresh learner below.
    for m in lv.members.iter().filter(|m| m.id != leader) {
        if !lost_data(o, m) {
            continue;
        }
        let removable = m.role == Role::Learner || removal_keeps_quorum(o, &voters, m.id);
        return Some(if removable {
            Step::RemoveMember {
                id: m.id,
                reason: RemoveReason::LostData,
            }
        } else {
            Step::Wait(Wait::QuorumAtRisk { id: m.id })
        });
    }

    // Scale down, highest member first.
    if let Some(m) = lv
        .members
        .iter()
        .filter(|m| m.id >= desired)
        .max_by_key(|m| m.id)
    {
        let step = if m.role == Role::Learner {
            Step::RemoveMember {
                id: m.id,
                reason: RemoveReason::ScaleDown,
            }
        } else if m.id == leader {
            match transfer_target(o, lv, &voters, leader, |id| id < desired) {
                Some(to) => Step::TransferLeader {
                    from: leader,
                    to,
                    purpose: Purpose::ScaleDown,
                },
                None => Step::Wait(Wait::NoTransferTarget),
            }
        } else if removal_keeps_quorum(o, &voters, m.id) {
            Step::RemoveMember {
                id: m.id,
                reason: RemoveReason::ScaleDown,
            }
        } else {
            Step::Wait(Wait::QuorumAtRisk { id: m.id })
        };
        return Some(step);
    }

    // Scale up: only with every voter ready.
    let missing: Vec<u64> = (0..desired).filter(|id| !is_member(*id)).collect();
    let learners: Vec<&Member> = lv
        .members
        .iter()
        .filter(|m| m.role == Role::Learner)
        .collect();
    if missing.is_empty() && learners.is_empty() {
        return None;
    }
    if let Some(unready) = voters.iter().find(|v| !pod_ready(o, **v)) {
        return Some(Step::Wait(Wait::Unhealthy { ordinal: *unready }));
    }
    let addable = missing.iter().find(|id| {
        o.pods
            .get(id)
            .is_some_and(|p| p.running && !p.terminating && p.view.is_some())
    });
    if let Some(id) = addable {
        return Some(Step::AddLearner { id: *id });
    }
    if let Some(m) = learners.first() {
        return Some(if caught_up(lv, m) {
            Step::Promote { id: m.id }
        } else {
            Step::Wait(Wait::LearnerCatchingUp { id: m.id })
        });
    }
    Some(Step::Wait(Wait::PodsStarting))
}

/// A ready, caught-up voter other than `leader` (lowest ordinal), accepted by `allowed`.
fn transfer_target(
    o: &Observed,
    lv: &ClusterView,
    voters: &BTreeSet<u64>,
    leader: u64,
    allowed: impl Fn(u64) -> bool,
) -> Option<u64> {
    voters.iter().copied().find(|v| {
        *v != leader
            && allowed(*v)
            && pod_ready(o, *v)
            && lv.members.iter().any(|m| m.id == *v && caught_up(lv, m))
    })
}

fn rolling_step(o: &Observed, lv: &ClusterView) -> Step {
    let desired = u64::from(o.desired);
    let Some(leader) = lv.leader_id else {
        return Step::Wait(Wait::NoLeader);
    };
    let Some(rev) = o.update_revision.as_deref() else {
        return Step::Wait(Wait::StatefulSetSyncing);
    };
    let stale = |id: u64| {
        o.pods
            .get(&id)
            .is_some_and(|p| p.revision.as_deref().is_some_and(|r| r != rev))
    };
    let voters = voter_ids(lv);
    let ready_voters = voters.iter().filter(|v| pod_ready(o, **v)).count();
    if let Some(id) = down_and_outdated(o, ready_voters >= majority(voters.len())) {
        return Step::RestartPod { ordinal: id };
    }
    let stale_pods: Vec<u64> = (0..desired).filter(|id| stale(*id)).collect();
    let rolling = !stale_pods.is_empty()
        || (0..desired).any(|id| o.pods.get(&id).is_none_or(|p| p.terminating));
    if let Some(unready) = (0..desired).find(|id| !pod_ready(o, *id)) {
        let pod = o.pods.get(&unready).filter(|p| !p.terminating);
        return Step::Wait(match pod {
            Some(p) if rolling && !stale(unready) => stuck_or_restarting(o, unready, p),
            Some(p) if !rolling && !p.starting => Wait::PodNotReady { ordinal: unready },
            _ => Wait::PodRestarting { ordinal: unready },
        });
    }
    if stale_pods.is_empty() {
        return Step::Converged;
    }
    // The previous restart must have caught up before the next pod goes.
    if let Some(m) = lv.members.iter().find(|m| !caught_up(lv, m)) {
        return Step::Wait(Wait::PodRestarting { ordinal: m.id });
    }
    if let Some(follower) = stale_pods.iter().rev().find(|id| **id != leader) {
        return Step::RestartPod { ordinal: *follower };
    }
    if desired == 1 {
        return Step::RestartPod { ordinal: leader };
    }
    let members: BTreeSet<u64> = lv.members.iter().map(|m| m.id).collect();
    match transfer_target(o, lv, &members, leader, |id| !stale(id)) {
        Some(to) => Step::TransferLeader {
            from: leader,
            to,
            purpose: Purpose::RollingUpdate,
        },
        None => Step::Wait(Wait::NoTransferTarget),
    }
}

mod step;
#[cfg(test)]
mod tests;

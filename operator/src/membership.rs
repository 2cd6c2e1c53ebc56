//! The Raft membership state machine: from what is observed *now* (desired size, pods, each
//! broker's own view) decide the StatefulSet size and the **one** next step. Pure: no I/O, no
//! memory between reconciles, so a crash between any two steps is repaired by the next
//! reconcile, which simply observes the half-done state and continues from there.
//!
//! ```text
//! no cluster id ──all pods answer, none has data──▶ Bootstrap pod 0 (once; status.clusterId)
//!      │ a pod already has a cluster id ──▶ adopt it (never a second bootstrap)
//!      ▼
//! repair      voter whose pod came back empty ──▶ RemoveMember (then re-added below)
//! scale down  members with id >= replicas, highest first:
//!             learner ──▶ RemoveMember · leader ──▶ TransferLeader · voter ──▶ RemoveMember if quorum holds
//!             (the StatefulSet only shrinks below a member once Raft has let go of it)
//! scale up    pod running, not a member ──▶ AddLearner ; learner caught up ──▶ Promote
//! roll        pods on an old revision, all ready and caught up: followers (highest first)
//!             ──▶ RestartPod ; the leader last ──▶ TransferLeader, then RestartPod
//!             except when the cluster secret changed (auth turned on or off, secret rotated):
//!             pods with different secrets cannot talk, so one by one would stall with the
//!             first restarted pod ──▶ RestartAll pods still on the old secret, together
//! otherwise   Converged
//! ```
//! Every change is gated on health: a leader is known and every voter's pod is ready, and a
//! removal must leave a ready majority in both the old and the new configuration.

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
    /// `controller-revision-hash` label.
    pub revision: Option<String>,
    /// Fingerprint of the cluster secret the pod runs with (its annotation); `None`: none.
    pub cluster_secret: Option<String>,
    /// The broker's own view; `None` when not running or it did not answer.
    pub view: Option<ClusterView>,
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
}

pub use step::{Purpose, RemoveReason, Step, Wait};

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
    let leader_view = cluster_id.as_deref().and_then(|id| {
        o.pods
            .values()
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
        let needed = view.members.iter().map(|m| m.id + 1).max().unwrap_or(0);
        let needed = u32::try_from(needed).unwrap_or(u32::MAX).min(current);
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
    if let Some(step) = cluster_secret_step(o) {
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
        return Step::Wait(if o.recorded_cluster_id.is_some() && all_answered_empty {
            Wait::ClusterDataMissing
        } else {
            Wait::NoLeader
        });
    };
    membership_step(o, lv).unwrap_or_else(|| rolling_step(o, lv))
}

/// Pods that run with another cluster secret than the template's refuse (and are refused by)
/// the others: restart all of them at once, whatever the health (a cluster split by secrets has
/// no healthy state to wait for). The data stays on the volumes; Raft re-forms from it.
fn cluster_secret_step(o: &Observed) -> Option<Step> {
    let ordinals: Vec<u64> = o
        .pods
        .iter()
        .filter(|(_, p)| !p.terminating && p.cluster_secret != o.cluster_secret)
        .map(|(id, _)| *id)
        .collect();
    if ordinals.is_empty() {
        return None;
    }
    // Pods deleted before the StatefulSet controller saw the new template would come back old.
    Some(if o.update_revision.is_none() {
        Step::Wait(Wait::StatefulSetSyncing)
    } else {
        Step::RestartAll { ordinals }
    })
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

    // Repair: a voter whose pod answers without any cluster data lost its volume.
    for &v in &voters {
        let lost = o.pods.get(&v).is_some_and(|p| {
            !p.terminating
                && p.view
                    .as_ref()
                    .is_some_and(|view| view.cluster_id.is_none())
        });
        if lost && v != leader {
            return Some(if removal_keeps_quorum(o, &voters, v) {
                Step::RemoveMember {
                    id: v,
                    reason: RemoveReason::LostData,
                }
            } else {
                Step::Wait(Wait::QuorumAtRisk { id: v })
            });
        }
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
    let stale_pods: Vec<u64> = (0..desired).filter(|id| stale(*id)).collect();
    let rolling = !stale_pods.is_empty()
        || (0..desired).any(|id| o.pods.get(&id).is_none_or(|p| p.terminating));
    if let Some(unready) = (0..desired).find(|id| !pod_ready(o, *id)) {
        let starting = o
            .pods
            .get(&unready)
            .is_none_or(|p| p.starting || p.terminating);
        return Step::Wait(if rolling || starting {
            Wait::PodRestarting { ordinal: unready }
        } else {
            Wait::PodNotReady { ordinal: unready }
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
    let voters: BTreeSet<u64> = lv.members.iter().map(|m| m.id).collect();
    match transfer_target(o, lv, &voters, leader, |id| !stale(id)) {
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

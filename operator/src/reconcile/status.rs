//! `status` of the JumpnetCluster: phase, counts, the Raft view (cluster id, leader, members)
//! and the conditions Ready / Progressing / Degraded. Written only when something changed, so a
//! converged cluster costs no writes (and triggers no watch events) per reconcile.
//!
//! The status is the operator's alone and always written whole, so it goes as a JSON merge
//! patch with explicit `null`s for absent fields: lists are replaced, vanished fields removed,
//! with no dependence on how a server tracks list-item ownership under server-side apply.
//!
//! Conditions say *why*: a wait whose pod cannot start carries that pod's problem
//! (`ImagePullBackOff`, `CrashLoopBackOff`, `Unschedulable`, `PersistentVolumeClaimPending`) as
//! `Degraded`'s reason; a failed reconcile writes `ReconcileError` with the API server's words
//! ([`record_error`]). Each turn to degraded also publishes a Warning Event.

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use serde_json::json;

use super::execute::{publish, Outcome};
use super::Context;
use crate::crd::{Condition, JumpnetCluster, JumpnetClusterStatus, MemberStatus};
use crate::membership::{Facts, Observed, PodProblem, Step};
use crate::resources::{selector_string, Names};
use crate::{Error, Result};

/// Something besides the membership step the conditions must carry (storage changes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub reason: String,
    pub message: String,
    /// `Degraded` (needs a human) rather than `Progressing`.
    pub degraded: bool,
}

/// The pod problem that explains a wait: the one of the pod the wait is about, else the first
/// pod that has one.
pub fn diagnosis<'a>(observed: &'a Observed, step: &Step) -> Option<(u64, &'a PodProblem)> {
    if !matches!(step, Step::Wait(_)) {
        return None;
    }
    let of = |id: u64| {
        observed
            .pods
            .get(&id)
            .filter(|p| !p.terminating)
            .and_then(|p| p.problem.as_ref())
            .map(|pr| (id, pr))
    };
    step.pod().and_then(of).or_else(|| {
        observed
            .pods
            .iter()
            .filter(|(_, p)| !p.terminating)
            .find_map(|(id, p)| p.problem.as_ref().map(|pr| (*id, pr)))
    })
}

/// `(reason, message, degraded)` of this reconcile.
fn verdict(
    names: &Names,
    observed: &Observed,
    step: &Step,
    outcome: &Outcome,
) -> (String, String, bool) {
    let mut message = outcome
        .note
        .clone()
        .unwrap_or_else(|| step.message(|i| names.pod(i)));
    match diagnosis(observed, step) {
        Some((id, problem)) if step.degraded() => {
            message.push_str(&format!(
                "; {}: {}: {}",
                names.pod(id),
                problem.reason,
                problem.message
            ));
            (step.reason().into(), message, true)
        }
        Some((id, problem)) => (
            problem.reason.clone(),
            format!("{message}: {} {}", names.pod(id), problem.message),
            true,
        ),
        None => (step.reason().into(), message, step.degraded()),
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn condition(
    previous: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &str,
) -> Condition {
    let status = if status { "True" } else { "False" };
    // The transition time moves only when the status flips.
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.to_string());
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time,
        observed_generation: generation,
    }
}

/// The status this reconcile observed, computed without I/O.
#[allow(clippy::too_many_arguments)]
pub fn compute(
    jc: &JumpnetCluster,
    names: &Names,
    observed: &Observed,
    facts: &Facts<'_>,
    step: &Step,
    outcome: &Outcome,
    notices: &[Notice],
    now: &str,
) -> JumpnetClusterStatus {
    let previous = jc
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or(&[]);
    let generation = jc.metadata.generation;
    let cluster_id = outcome
        .bootstrapped
        .clone()
        .or_else(|| facts.cluster_id.clone());
    let (reason, message, step_degraded) = verdict(names, observed, step, outcome);
    let converged = *step == Step::Converged;
    let bad_notice = notices.iter().find(|n| n.degraded);
    let busy_notice = notices.iter().find(|n| !n.degraded);
    let degraded = step_degraded || bad_notice.is_some();
    let (degraded_reason, degraded_message) = match (step_degraded, bad_notice) {
        (true, _) => (reason.as_str(), message.as_str()),
        (false, Some(n)) => (n.reason.as_str(), n.message.as_str()),
        (false, None) => ("AsExpected", ""),
    };
    // A notice in progress (volumes growing) explains a converged cluster or a plain wait better
    // than the wait does; an action in progress speaks for itself.
    let (progress_reason, progress_message, progressing) = match (converged, busy_notice) {
        (_, Some(n)) if !step_degraded && !step.is_action() => {
            (n.reason.as_str(), n.message.as_str(), true)
        }
        (true, _) => ("Converged", message.as_str(), false),
        (false, _) => (reason.as_str(), message.as_str(), !step_degraded),
    };
    let conditions = vec![
        condition(
            previous, "Ready", converged, &reason, &message, generation, now,
        ),
        condition(
            previous,
            "Progressing",
            progressing,
            progress_reason,
            progress_message,
            generation,
            now,
        ),
        condition(
            previous,
            "Degraded",
            degraded,
            degraded_reason,
            degraded_message,
            generation,
            now,
        ),
    ];
    let live = observed.pods.values().filter(|p| !p.terminating);
    let phase = if degraded {
        "Degraded"
    } else {
        step.phase(cluster_id.is_some())
    };
    JumpnetClusterStatus {
        phase: Some(phase.into()),
        observed_generation: generation,
        replicas: live.clone().count() as i32,
        ready_replicas: live.filter(|p| p.ready).count() as i32,
        selector: Some(selector_string(&names.name)),
        leader: facts.leader().map(|id| names.pod(id)),
        members: facts
            .members()
            .iter()
            .map(|m| MemberStatus {
                id: m.id,
                pod: names.pod(m.id),
                role: m.role.as_str().into(),
            })
            .collect(),
        conditions,
        cluster_id,
    }
}

/// The status as JSON with every field present (`null` when unset), so a merge patch replaces
/// the previous status entirely.
fn whole(status: &JumpnetClusterStatus) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(status).map_err(|source| Error::Json { source })?;
    if let Some(map) = value.as_object_mut() {
        for key in [
            "phase",
            "observedGeneration",
            "replicas",
            "readyReplicas",
            "selector",
            "clusterId",
            "leader",
            "members",
            "conditions",
        ] {
            map.entry(key).or_insert(serde_json::Value::Null);
        }
    }
    Ok(value)
}

fn degraded_condition(status: Option<&JumpnetClusterStatus>) -> Option<&Condition> {
    status?
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded" && c.status == "True")
}

/// A Warning Event when the cluster turns degraded, or degraded for another reason (a step that
/// acted published its own Event: `acted` is its reason).
async fn warn_on_turn(
    ctx: &Context,
    jc: &JumpnetCluster,
    new: &JumpnetClusterStatus,
    acted: Option<&str>,
) {
    let Some(now) = degraded_condition(Some(new)) else {
        return;
    };
    let before = degraded_condition(jc.status.as_ref());
    if acted == Some(now.reason.as_str())
        || before.is_some_and(|b| b.reason == now.reason && b.message == now.message)
    {
        return;
    }
    publish(
        ctx,
        jc,
        EventType::Warning,
        &now.reason,
        now.message.clone(),
        None,
    )
    .await;
}

async fn write(ctx: &Context, names: &Names, status: &JumpnetClusterStatus) -> Result<()> {
    let api: Api<JumpnetCluster> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let patch = json!({ "status": whole(status)? });
    api.patch_status(&names.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube(format!(
            "patch status of JumpnetCluster {}",
            names.name
        )))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub async fn update(
    ctx: &Context,
    jc: &JumpnetCluster,
    names: &Names,
    observed: &Observed,
    facts: &Facts<'_>,
    step: &Step,
    outcome: &Outcome,
    notices: &[Notice],
) -> Result<()> {
    let status = compute(jc, names, observed, facts, step, outcome, notices, &now());
    if jc.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let acted = (step.is_action() && outcome.done).then(|| step.reason());
    warn_on_turn(ctx, jc, &status, acted).await;
    write(ctx, names, &status).await
}

/// The status after a failed reconcile: everything observed before stays (cluster id, members,
/// leader, `observedGeneration`: this generation was not reconciled), the conditions say
/// `ReconcileError` with the error in the API server's words.
pub fn errored(jc: &JumpnetCluster, error: &Error, now: &str) -> JumpnetClusterStatus {
    let mut status = jc.status.clone().unwrap_or_default();
    let previous = status.conditions.clone();
    let generation = jc.metadata.generation;
    let message = error.summary();
    let reason = "ReconcileError";
    status.phase = Some("Degraded".into());
    status.conditions = vec![
        condition(&previous, "Ready", false, reason, &message, generation, now),
        condition(
            &previous,
            "Progressing",
            false,
            reason,
            &message,
            generation,
            now,
        ),
        condition(
            &previous, "Degraded", true, reason, &message, generation, now,
        ),
    ];
    status
}

/// The status while the reconcile is held up before it touches anything (`TLSNotReady`): like
/// [`errored`], everything observed before stays, the conditions say why.
pub fn held(
    jc: &JumpnetCluster,
    names: &Names,
    reason: &str,
    message: &str,
    now: &str,
) -> JumpnetClusterStatus {
    let mut status = jc.status.clone().unwrap_or_default();
    let previous = status.conditions.clone();
    let generation = jc.metadata.generation;
    status.phase = Some("Degraded".into());
    status.observed_generation = generation;
    status.selector = Some(selector_string(&names.name));
    status.conditions = vec![
        condition(&previous, "Ready", false, reason, message, generation, now),
        condition(
            &previous,
            "Progressing",
            false,
            reason,
            message,
            generation,
            now,
        ),
        condition(
            &previous, "Degraded", true, reason, message, generation, now,
        ),
    ];
    status
}

/// Writes [`held`] when it changed (and a Warning Event when the cluster turns degraded so).
pub async fn blocked(
    ctx: &Context,
    jc: &JumpnetCluster,
    names: &Names,
    reason: &str,
    message: &str,
) -> Result<()> {
    let status = held(jc, names, reason, message, &now());
    if jc.status.as_ref() == Some(&status) {
        return Ok(());
    }
    warn_on_turn(ctx, jc, &status, None).await;
    write(ctx, names, &status).await
}

/// Records a failed reconcile in the status (and a Warning Event when it is new). Best effort:
/// the error itself is returned by the reconcile, and a status write that fails too (e.g. RBAC
/// forbids it) is only logged.
pub async fn record_error(ctx: &Context, jc: &JumpnetCluster, error: &Error) {
    let Ok(names) = Names::of(jc, &ctx.settings.cluster_domain) else {
        return;
    };
    let status = errored(jc, error, &now());
    if jc.status.as_ref() == Some(&status) {
        return;
    }
    warn_on_turn(ctx, jc, &status, None).await;
    if let Err(e) = write(ctx, &names, &status).await {
        tracing::warn!(cluster = %names.name, error = %e.summary(), "could not record the reconcile error in the status");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::{self, Wait};
    use crate::resources::test_support::cluster;

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let mut jc = cluster("");
        let names = Names::of(&jc, "cluster.local").unwrap();
        let o = Observed {
            desired: 3,
            ..Observed::default()
        };
        let f = membership::facts(&o);
        let step = Step::Wait(Wait::PodsStarting);
        let first = compute(&jc, &names, &o, &f, &step, &Outcome::default(), &[], "T1");
        assert_eq!(first.phase.as_deref(), Some("Bootstrapping"));
        assert_eq!(
            first.selector.as_deref(),
            Some("app.kubernetes.io/instance=demo,app.kubernetes.io/name=jumpnet")
        );
        let ready = &first.conditions[0];
        assert_eq!(
            (
                ready.type_.as_str(),
                ready.status.as_str(),
                ready.reason.as_str()
            ),
            ("Ready", "False", "WaitingForPods")
        );
        assert_eq!(first.conditions[1].status, "True");
        assert_eq!(first.conditions[2].reason, "AsExpected");

        jc.status = Some(first.clone());
        let same = compute(
            &jc,
            &names,
            &o,
            &f,
            &Step::Wait(Wait::PodsStarting),
            &Outcome::default(),
            &[],
            "T2",
        );
        assert_eq!(same, first, "nothing changed: identical status, no write");

        let degraded = compute(
            &jc,
            &names,
            &o,
            &f,
            &Step::Wait(Wait::NoLeader),
            &Outcome::default(),
            &[],
            "T3",
        );
        assert_eq!(
            degraded.conditions[0].last_transition_time, "T1",
            "Ready stayed False"
        );
        assert_eq!(degraded.conditions[2].status, "True");
        assert_eq!(degraded.conditions[2].last_transition_time, "T3");
        assert_eq!(degraded.phase.as_deref(), Some("Degraded"));
    }

    #[test]
    fn patch_body_clears_what_is_gone() {
        let status = JumpnetClusterStatus {
            phase: Some("Running".into()),
            ..Default::default()
        };
        let v = whole(&status).unwrap();
        assert_eq!(v["phase"], "Running");
        for key in ["leader", "members", "conditions", "clusterId"] {
            assert!(
                v.get(key).is_some_and(|x| x.is_null()),
                "{key} must be an explicit null"
            );
        }
    }

    #[test]
    fn bootstrap_outcome_records_cluster_id_at_once() {
        let jc = cluster("");
        let names = Names::of(&jc, "cluster.local").unwrap();
        let o = Observed {
            desired: 1,
            ..Observed::default()
        };
        let f = membership::facts(&o);
        let outcome = Outcome {
            bootstrapped: Some("c-9".into()),
            done: true,
            note: None,
        };
        let s = compute(
            &jc,
            &names,
            &o,
            &f,
            &Step::Bootstrap { ordinal: 0 },
            &outcome,
            &[],
            "T",
        );
        assert_eq!(s.cluster_id.as_deref(), Some("c-9"));
    }

    fn cond<'a>(s: &'a JumpnetClusterStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    fn with_problem(reason: &str, message: &str) -> Observed {
        let mut o = Observed {
            desired: 1,
            ..Observed::default()
        };
        o.pods.insert(
            0,
            crate::membership::PodObservation {
                problem: Some(PodProblem {
                    reason: reason.into(),
                    message: message.into(),
                }),
                ..Default::default()
            },
        );
        o
    }

    #[test]
    fn a_wait_that_cannot_finish_says_why_at_once() {
        let jc = cluster("");
        let names = Names::of(&jc, "cluster.local").unwrap();
        for (reason, message) in [
            (
                "ImagePullBackOff",
                "image \"jumpnet:typo\" cannot be pulled (ErrImagePull: not found)",
            ),
            (
                "PersistentVolumeClaimPending",
                "PVC data-demo-0 has been Pending for 40s with no StorageClass",
            ),
            (
                "Unschedulable",
                "0/3 nodes are available: 3 Insufficient cpu.",
            ),
        ] {
            let o = with_problem(reason, message);
            let f = membership::facts(&o);
            let step = membership::next_step(&o);
            assert_eq!(step, Step::Wait(Wait::PodsStarting));
            let s = compute(&jc, &names, &o, &f, &step, &Outcome::default(), &[], "T");
            let d = cond(&s, "Degraded");
            assert_eq!((d.status.as_str(), d.reason.as_str()), ("True", reason));
            assert!(
                d.message.contains("demo-0") && d.message.contains(message),
                "{d:?}"
            );
            assert_eq!(cond(&s, "Ready").reason, reason);
            assert_eq!(cond(&s, "Progressing").status, "False");
            assert_eq!(s.phase.as_deref(), Some("Degraded"));
        }
    }

    #[test]
    fn quorum_lost_keeps_its_reason_and_names_the_pods_problem() {
        let jc = cluster("");
        let names = Names::of(&jc, "cluster.local").unwrap();
        let o = with_problem("CrashLoopBackOff", "the broker keeps exiting");
        let f = membership::facts(&o);
        let s = compute(
            &jc,
            &names,
            &o,
            &f,
            &Step::Wait(Wait::NoLeader),
            &Outcome::default(),
            &[],
            "T",
        );
        let d = cond(&s, "Degraded");
        assert_eq!(d.reason, "QuorumLost");
        assert!(
            d.message
                .contains("demo-0: CrashLoopBackOff: the broker keeps exiting"),
            "{d:?}"
        );
    }

    #[test]
    fn notices_raise_degraded_or_progressing_on_a_converged_cluster() {
        let jc = cluster("");
        let names = Names::of(&jc, "cluster.local").unwrap();
        let o = Observed {
            desired: 1,
            ..Observed::default()
        };
        let f = membership::facts(&o);
        let refused = Notice {
            reason: "StorageChangeRefused".into(),
            message: "volumes cannot shrink".into(),
            degraded: true,
        };
        let s = compute(
            &jc,
            &names,
            &o,
            &f,
            &Step::Converged,
            &Outcome::default(),
            &[refused],
            "T",
        );
        assert_eq!(
            cond(&s, "Ready").status,
            "True",
            "the cluster itself serves"
        );
        assert_eq!(cond(&s, "Degraded").reason, "StorageChangeRefused");
        assert_eq!(s.phase.as_deref(), Some("Degraded"));
        let growing = Notice {
            reason: "StorageResizing".into(),
            message: "waiting for volumes to grow".into(),
            degraded: false,
        };
        let s = compute(
            &jc,
            &names,
            &o,
            &f,
            &Step::Converged,
            &Outcome::default(),
            &[growing],
            "T",
        );
        let p = cond(&s, "Progressing");
        assert_eq!(
            (p.status.as_str(), p.reason.as_str()),
            ("True", "StorageResizing")
        );
        assert_eq!(cond(&s, "Degraded").status, "False");
    }

    #[test]
    fn a_failed_reconcile_keeps_the_observed_status_and_says_why() {
        let mut jc = cluster("");
        jc.metadata.generation = Some(4);
        jc.status = Some(JumpnetClusterStatus {
            phase: Some("Running".into()),
            observed_generation: Some(3),
            cluster_id: Some("c-1".into()),
            ..Default::default()
        });
        let err = Error::InvalidSpec {
            name: "demo".into(),
            reason: "annotation broken".into(),
        };
        let s = errored(&jc, &err, "T");
        assert_eq!(
            s.cluster_id.as_deref(),
            Some("c-1"),
            "the last good cluster id stays"
        );
        assert_eq!(
            s.observed_generation,
            Some(3),
            "generation 4 was not reconciled"
        );
        assert_eq!(s.phase.as_deref(), Some("Degraded"));
        for t in ["Ready", "Degraded"] {
            assert_eq!(cond(&s, t).reason, "ReconcileError");
            assert!(cond(&s, t).message.contains("annotation broken"));
            assert_eq!(cond(&s, t).observed_generation, Some(4));
        }
        assert_eq!(cond(&s, "Degraded").status, "True");
        assert_eq!(cond(&s, "Ready").status, "False");
    }
}

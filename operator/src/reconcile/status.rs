//! `status` of the JumpnetCluster: phase, counts, the Raft view (cluster id, leader, members)
//! and the conditions Ready / Progressing / Degraded. Written only when something changed, so a
//! converged cluster costs no writes (and triggers no watch events) per reconcile.
//!
//! The status is the operator's alone and always written whole, so it goes as a JSON merge
//! patch with explicit `null`s for absent fields: lists are replaced, vanished fields removed,
//! with no dependence on how a server tracks list-item ownership under server-side apply.

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::execute::Outcome;
use super::Context;
use crate::crd::{Condition, JumpnetCluster, JumpnetClusterStatus, MemberStatus};
use crate::membership::{Facts, Observed, Step};
use crate::resources::{selector_string, Names};
use crate::{Error, Result};

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
pub fn compute(
    jc: &JumpnetCluster,
    names: &Names,
    observed: &Observed,
    facts: &Facts<'_>,
    step: &Step,
    outcome: &Outcome,
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
    let message = step.message(|i| names.pod(i));
    let converged = *step == Step::Converged;
    let degraded = step.degraded();
    let reason = step.reason();
    let conditions = vec![
        condition(
            previous, "Ready", converged, reason, &message, generation, now,
        ),
        condition(
            previous,
            "Progressing",
            !converged && !degraded,
            if converged { "Converged" } else { reason },
            &message,
            generation,
            now,
        ),
        condition(
            previous,
            "Degraded",
            degraded,
            if degraded { reason } else { "AsExpected" },
            if degraded { &message } else { "" },
            generation,
            now,
        ),
    ];
    let live = observed.pods.values().filter(|p| !p.terminating);
    JumpnetClusterStatus {
        phase: Some(step.phase(cluster_id.is_some()).into()),
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

pub async fn update(
    ctx: &Context,
    jc: &JumpnetCluster,
    names: &Names,
    observed: &Observed,
    facts: &Facts<'_>,
    step: &Step,
    outcome: &Outcome,
) -> Result<()> {
    let status = compute(jc, names, observed, facts, step, outcome, &now());
    if jc.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let api: Api<JumpnetCluster> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let patch = json!({ "status": whole(&status)? });
    api.patch_status(&names.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::kube(format!(
            "patch status of JumpnetCluster {}",
            names.name
        )))?;
    Ok(())
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
        let first = compute(&jc, &names, &o, &f, &step, &Outcome::default(), "T1");
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
        };
        let s = compute(
            &jc,
            &names,
            &o,
            &f,
            &Step::Bootstrap { ordinal: 0 },
            &outcome,
            "T",
        );
        assert_eq!(s.cluster_id.as_deref(), Some("c-9"));
    }
}

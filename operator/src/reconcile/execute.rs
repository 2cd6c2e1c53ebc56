//! Carries out the one step `membership::next_step` chose, and records it as a Kubernetes
//! Event on the JumpnetCluster. Admin calls go to the leader (every node forwards, the leader
//! answers first-hand); bootstrap goes to pod 0.
//!
//! A pod restart (`RestartPod`) goes through the eviction API, so the PodDisruptionBudget
//! arbitrates between the operator and anyone else draining nodes: a `429` defers the step. Two
//! exceptions delete directly, each because a budget cannot protect anything there: a cluster with
//! no disruption to spend (1 or 2 voters: any restart is an outage the user asked for), and
//! `RestartAll` (a changed cluster secret needs every broker restarted, after the canary proved the
//! new template). The recovery's `DiscardData` deletes a pod that is not a member.

use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, EvictParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::Resource;
use serde_json::json;
use tracing::{info, warn};

use super::observe::Targets;
use super::Context;
use crate::broker_client::{InitOutcome, NewMember, PromoteOutcome, Target};
use crate::crd::{JumpnetCluster, FORCE_NEW_CLUSTER_ANNOTATION};
use crate::membership::{Facts, Observed, RemoveReason, Step};
use crate::resources::Names;
use crate::{Error, Result};

/// What executing the step changed that the status must know right away.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Cluster id returned by a successful bootstrap.
    pub bootstrapped: Option<String>,
    /// The step was carried out (not deferred by the broker, e.g. `learner_lagging`, or by the
    /// PodDisruptionBudget).
    pub done: bool,
    /// Why a step was deferred, for the condition message.
    pub note: Option<String>,
}

/// A reference to a pod or PVC of the cluster, the Event's `related` object. It also keeps
/// the recorder from folding steps on different pods into one event series.
fn related(names: &Names, kind: &str, name: String) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some(kind.into()),
        name: Some(name),
        namespace: Some(names.namespace.clone()),
        ..ObjectReference::default()
    }
}

pub(super) async fn publish(
    ctx: &Context,
    jc: &JumpnetCluster,
    type_: EventType,
    reason: &str,
    note: String,
    secondary: Option<ObjectReference>,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: reason.into(),
        secondary,
    };
    if let Err(e) = ctx.recorder.publish(&event, &jc.object_ref(&())).await {
        warn!(error = %e, reason, "could not publish event");
    }
}

pub async fn adopted_event(ctx: &Context, jc: &JumpnetCluster, cluster_id: &str) {
    publish(
        ctx,
        jc,
        EventType::Normal,
        "AdoptCluster",
        format!("adopted existing Raft cluster {cluster_id} found on the pods"),
        None,
    )
    .await;
}

fn target(
    targets: &Targets,
    names: &Names,
    ordinal: Option<u64>,
    op: &'static str,
) -> Result<Target> {
    ordinal
        .and_then(|o| targets.get(o).cloned())
        .ok_or_else(|| Error::BrokerUnreachable {
            pod: ordinal
                .map(|o| names.pod(o))
                .unwrap_or_else(|| "leader".into()),
            op,
            reason: "no address for this pod".into(),
        })
}

/// Executes `step`; waits and `Converged` do nothing. `budget` is the PodDisruptionBudget's
/// `maxUnavailable` just applied.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    ctx: &Context,
    jc: &JumpnetCluster,
    names: &Names,
    targets: &Targets,
    observed: &Observed,
    facts: &Facts<'_>,
    step: &Step,
    budget: u32,
) -> Result<Outcome> {
    if !step.is_action() {
        return Ok(Outcome::default());
    }
    let broker = &ctx.broker;
    let leader = facts.leader();
    let mut outcome = Outcome {
        bootstrapped: None,
        done: true,
        note: None,
    };
    let mut note = step.message(|i| names.pod(i));
    let mut type_ = EventType::Normal;
    match step {
        Step::Bootstrap { ordinal } => {
            let t = target(targets, names, Some(*ordinal), "init")?;
            let restore = jc.spec.restore.as_ref().map(|r| r.from_url.as_str());
            match broker.init(&t, restore).await? {
                InitOutcome::Initialized { cluster_id } => {
                    note = format!(
                        "bootstrapped Raft cluster {cluster_id} on {}{}",
                        names.pod(*ordinal),
                        restore
                            .map(|u| format!(" from the backup at {u}"))
                            .unwrap_or_default()
                    );
                    outcome.bootstrapped = Some(cluster_id);
                }
                // Someone (a previous reconcile that crashed) already did: adopt it next time.
                InitOutcome::AlreadyInitialized => outcome.done = false,
            }
        }
        Step::AddLearner { id } => {
            let t = target(targets, names, leader, "add learner")?;
            let member = NewMember {
                id: *id,
                raft_addr: names.raft_addr(*id),
                api_addr: names.api_addr(*id),
                incarnation: observed
                    .pods
                    .get(id)
                    .and_then(|p| p.view.as_ref())
                    .and_then(|v| v.incarnation.clone()),
                kafka_addr: jc
                    .spec
                    .kafka
                    .enabled
                    .then(|| names.kafka_addr(*id, jc.spec.kafka.port)),
            };
            broker.add_learner(&t, &member).await?;
        }
        Step::Promote { id } => {
            let t = target(targets, names, leader, "promote")?;
            outcome.done = broker.promote(&t, *id).await? == PromoteOutcome::Promoted;
        }
        Step::RemoveMember { id, reason } => {
            let t = target(targets, names, leader, "remove member")?;
            broker.remove(&t, *id).await?;
            if *reason == RemoveReason::LostData {
                type_ = EventType::Warning;
            }
        }
        Step::TransferLeader { from, to, .. } => {
            let t = target(targets, names, Some(*from), "transfer leader")?;
            broker.transfer_leader(&t, *to).await?;
        }
        Step::RestartPod { ordinal } => {
            let ready = observed.pods.get(ordinal).is_some_and(|p| p.ready);
            if budget > 0 || !ready {
                if let Err(refusal) = evict(ctx, names, *ordinal).await? {
                    outcome.done = false;
                    outcome.note = Some(format!(
                        "waiting to restart {}: the PodDisruptionBudget allows no disruption right now ({refusal})",
                        names.pod(*ordinal)
                    ));
                }
            } else {
                note.push_str(
                    " (deleted, not evicted: with fewer than 3 voters there is no disruption to spend, so this restart interrupts the cluster)",
                );
                delete_pods(ctx, names, &[*ordinal]).await?;
            }
        }
        Step::RestartAll { ordinals } => delete_pods(ctx, names, ordinals).await?,
        Step::ForceNewCluster { ordinal } => {
            let t = target(targets, names, Some(*ordinal), "force new cluster")?;
            broker.force_new_cluster(&t).await?;
            type_ = EventType::Warning;
        }
        Step::DiscardData { ordinal } => {
            delete_claim(ctx, names, &names.claim(*ordinal)).await?;
            delete_pods(ctx, names, &[*ordinal]).await?;
            type_ = EventType::Warning;
        }
        Step::RecoveryDone { .. } => {
            let api: Api<JumpnetCluster> = Api::namespaced(ctx.client.clone(), &names.namespace);
            let patch = json!({"metadata": {"annotations": {FORCE_NEW_CLUSTER_ANNOTATION: null}}});
            api.patch(&names.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(Error::kube(format!(
                    "remove annotation {FORCE_NEW_CLUSTER_ANNOTATION} from JumpnetCluster {}",
                    names.name
                )))?;
        }
        Step::Wait(_) | Step::Converged => {}
    }
    if outcome.done {
        info!(step = step.reason(), "{note}");
        ctx.metrics
            .membership_steps
            .with_label_values(&[step.reason()])
            .inc();
        let pod = step.pod().map(|o| related(names, "Pod", names.pod(o)));
        publish(ctx, jc, type_, step.reason(), note, pod).await;
    }
    Ok(outcome)
}

/// Evicts one broker pod (`POST pods/NAME/eviction`); `Ok(Err(why))` when the budget refused (429).
async fn evict(
    ctx: &Context,
    names: &Names,
    ordinal: u64,
) -> Result<std::result::Result<(), String>> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let pod = names.pod(ordinal);
    match api.evict(&pod, &EvictParams::default()).await {
        Ok(_) => Ok(Ok(())),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(Ok(())),
        Err(kube::Error::Api(e)) if e.code == 429 => Ok(Err(e.message.clone())),
        Err(source) => Err(Error::Kube {
            action: format!("evict Pod {pod}"),
            source,
        }),
    }
}

async fn delete_claim(ctx: &Context, names: &Names, claim: &str) -> Result<()> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &names.namespace);
    match api.delete(claim, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(source) => Err(Error::Kube {
            action: format!("delete PersistentVolumeClaim {claim}"),
            source,
        }),
    }
}

/// Deletes broker pods; the StatefulSet controller re-creates them from the current template.
async fn delete_pods(ctx: &Context, names: &Names, ordinals: &[u64]) -> Result<()> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &names.namespace);
    for ordinal in ordinals {
        let pod = names.pod(*ordinal);
        match api.delete(&pod, &DeleteParams::default()).await {
            Ok(_) => {}
            // Already gone (e.g. deleted by hand): the controller re-creates it anyway.
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(source) => {
                return Err(Error::Kube {
                    action: format!("delete Pod {pod}"),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// After a scale-down (`spec.storage.deleteClaimOnScaleDown`): deletes the PVCs of ordinals
/// at or above the StatefulSet size whose pod is gone, so a later scale-up starts empty.
pub async fn delete_released_claims(
    ctx: &Context,
    jc: &JumpnetCluster,
    names: &Names,
    statefulset_replicas: u32,
    pods: &[Pod],
    claims: &[PersistentVolumeClaim],
) -> Result<()> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let pod_exists = |ordinal: u64| {
        pods.iter()
            .any(|p| p.metadata.name.as_deref() == Some(names.pod(ordinal).as_str()))
    };
    for claim in claims {
        let Some(name) = claim.metadata.name.as_deref() else {
            continue;
        };
        let Some(ordinal) = names.claim_ordinal(name) else {
            continue;
        };
        if ordinal < u64::from(statefulset_replicas)
            || pod_exists(ordinal)
            || claim.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        api.delete(name, &DeleteParams::default())
            .await
            .map_err(Error::kube(format!("delete PersistentVolumeClaim {name}")))?;
        ctx.metrics
            .membership_steps
            .with_label_values(&["DeleteClaim"])
            .inc();
        publish(
            ctx,
            jc,
            EventType::Normal,
            "DeleteClaim",
            format!(
                "deleted {name} of removed broker {} (deleteClaimOnScaleDown)",
                names.pod(ordinal)
            ),
            Some(related(names, "PersistentVolumeClaim", name.to_string())),
        )
        .await;
    }
    Ok(())
}

//! Reading the world: the auth Secret, the StatefulSet, the broker pods and their PVCs, and every
//! running broker's own view of the cluster. Nothing here changes anything. Each pod's
//! [`PodProblem`] is what the kubelet, the scheduler or the volume binder say keeps it from
//! running: the status names it instead of an endless "waiting for pods".

use std::collections::BTreeMap;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, ListParams};
use tracing::debug;

use super::{BrokerAddressing, Context};
use crate::broker_client::Target;
use crate::crd::{JumpnetCluster, FORCE_NEW_CLUSTER_ANNOTATION};
use crate::membership::{Observed, PodObservation, PodProblem};
use crate::resources::{
    selector_string, AuthTokens, Names, TlsTrust, API_PORT, CLUSTER_SECRET_ANNOTATION,
    PEER_TLS_ANNOTATION,
};
use crate::{Error, Result};

const REVISION_LABEL: &str = "controller-revision-hash";
/// A pod younger than this that is not ready yet is starting, not failing.
const STARTUP_GRACE: std::time::Duration = std::time::Duration::from_secs(120);
/// A PVC may wait this long for its volume (provisioning, WaitForFirstConsumer) before it is a
/// problem worth a condition.
const PVC_PENDING_GRACE_SECS: u64 = 30;
/// The broker container's name.
const CONTAINER: &str = "jumpnet";

fn seconds_since(t: Option<&Time>) -> u64 {
    t.map_or(0, |t| {
        k8s_openapi::jiff::Timestamp::now()
            .duration_since(t.0)
            .as_secs()
            .max(0) as u64
    })
}

fn pod_starting(pod: &Pod) -> bool {
    pod.metadata.creation_timestamp.is_none()
        || seconds_since(pod.metadata.creation_timestamp.as_ref()) < STARTUP_GRACE.as_secs()
}

/// Seconds since the pod's Ready condition turned false (or since it was created, when it never
/// was ready); 0 while ready.
fn unready_secs(pod: &Pod) -> u64 {
    if pod_ready(pod) {
        return 0;
    }
    let since = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .and_then(|c| c.last_transition_time.as_ref())
        .or(pod.metadata.creation_timestamp.as_ref());
    seconds_since(since)
}

/// Kubelet waiting reasons that mean the image cannot be had (the condition says
/// `ImagePullBackOff` for all of them; the message keeps the kubelet's own reason).
const IMAGE_REASONS: [&str; 6] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "RegistryUnavailable",
    "ErrImageInspect",
];
/// Waiting reasons that mean the container cannot be created as specified.
const CREATE_REASONS: [&str; 3] = [
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// What keeps a broker pod from running or getting ready, if anything a human must fix.
pub fn pod_problem(pod: &Pod, claim: Option<&PersistentVolumeClaim>) -> Option<PodProblem> {
    let problem = |reason: &str, message: String| {
        Some(PodProblem {
            reason: reason.into(),
            message,
        })
    };
    let status = pod.status.as_ref();
    let unschedulable = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
        .filter(|c| c.status == "False" && c.reason.as_deref() == Some("Unschedulable"));
    if let Some(c) = unschedulable {
        return problem(
            "Unschedulable",
            c.message
                .clone()
                .unwrap_or_else(|| "no node fits the pod".into()),
        );
    }
    let container = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == CONTAINER));
    if let Some(c) = container {
        if let Some(w) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            let reason = w.reason.as_deref().unwrap_or_default();
            let detail = match w.message.as_deref() {
                Some(m) if !m.is_empty() => format!("{reason}: {m}"),
                _ => reason.to_string(),
            };
            if IMAGE_REASONS.contains(&reason) {
                return problem(
                    "ImagePullBackOff",
                    format!("image {:?} cannot be pulled ({detail})", c.image),
                );
            }
            if reason == "CrashLoopBackOff" {
                let last = c
                    .last_state
                    .as_ref()
                    .and_then(|s| s.terminated.as_ref())
                    .map(|t| {
                        format!(
                            "; last exit code {} ({})",
                            t.exit_code,
                            t.reason.as_deref().unwrap_or("no reason")
                        )
                    })
                    .unwrap_or_default();
                return problem(
                    "CrashLoopBackOff",
                    format!(
                        "the broker keeps exiting, restarted {} times{last} (kubectl logs --previous)",
                        c.restart_count
                    ),
                );
            }
            if CREATE_REASONS.contains(&reason) {
                return problem(reason, detail);
            }
        }
    }
    let claim = claim?;
    let pending = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending");
    let age = seconds_since(claim.metadata.creation_timestamp.as_ref());
    if pending && age >= PVC_PENDING_GRACE_SECS {
        let name = claim.metadata.name.clone().unwrap_or_default();
        let class = claim
            .spec
            .as_ref()
            .and_then(|s| s.storage_class_name.clone())
            .map(|c| format!("StorageClass {c:?}"))
            .unwrap_or_else(|| "no StorageClass (and no default StorageClass?)".into());
        return problem(
            "PersistentVolumeClaimPending",
            format!(
                "PVC {name} has been Pending for {age}s with {class}: no volume was bound; set spec.storage.storageClassName to a class that provisions volumes (kubectl describe pvc {name})"
            ),
        );
    }
    None
}

/// The auth material to apply: the live Secret's values, missing ones generated.
pub async fn auth_tokens(
    ctx: &Context,
    jc: &JumpnetCluster,
    names: &Names,
) -> Result<Option<AuthTokens>> {
    if !jc.spec.auth.enabled {
        return Ok(None);
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let live = api
        .get_opt(&names.auth())
        .await
        .map_err(Error::kube(format!("get Secret {}", names.auth())))?;
    Ok(Some(AuthTokens::keep_or_generate(live.as_ref())))
}

pub async fn statefulset(ctx: &Context, names: &Names) -> Result<Option<StatefulSet>> {
    let api: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &names.namespace);
    api.get_opt(&names.name)
        .await
        .map_err(Error::kube(format!("get StatefulSet {}", names.name)))
}

/// The brokers' PVCs (`data-NAME-i`, labelled by the claim template).
pub async fn claims(ctx: &Context, names: &Names) -> Result<Vec<PersistentVolumeClaim>> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let list = api
        .list(&ListParams::default().labels(&selector_string(&names.name)))
        .await
        .map_err(Error::kube("list broker PVCs"))?;
    Ok(list.items)
}

/// The pod named by the `jumpnet.io/force-new-cluster` annotation, if it is there.
pub fn force_new_cluster(jc: &JumpnetCluster, names: &Names) -> Result<Option<u64>> {
    let Some(value) = jc
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(FORCE_NEW_CLUSTER_ANNOTATION))
    else {
        return Ok(None);
    };
    names
        .ordinal_of(value.trim())
        .map(Some)
        .ok_or_else(|| Error::InvalidSpec {
            name: names.name.clone(),
            reason: format!(
                "annotation {FORCE_NEW_CLUSTER_ANNOTATION}={value:?} must name one of its pods ({}-N)",
                names.name
            ),
        })
}

pub async fn pods(ctx: &Context, names: &Names) -> Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let list = api
        .list(&ListParams::default().labels(&selector_string(&names.name)))
        .await
        .map_err(Error::kube("list broker pods"))?;
    Ok(list.items)
}

/// `.status.updateRevision`, only once the StatefulSet controller saw the current spec.
pub fn update_revision(sts: &StatefulSet) -> Option<String> {
    let status = sts.status.as_ref()?;
    let current =
        sts.metadata.generation.is_some() && status.observed_generation == sts.metadata.generation;
    current.then(|| status.update_revision.clone()).flatten()
}

fn pod_running(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .is_some_and(|s| s.phase.as_deref() == Some("Running") && s.pod_ip.is_some())
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Admin API addresses of the broker pods, by ordinal.
pub struct Targets {
    by_ordinal: BTreeMap<u64, Target>,
}

impl Targets {
    /// With `tls` the calls go over https, verified against that CA only, to the pod's DNS name
    /// (the name its certificate carries; with pod-IP addressing the connection still goes to the
    /// IP).
    pub fn new(
        ctx: &Context,
        names: &Names,
        pods: &[Pod],
        token: Option<String>,
        tls: Option<&TlsTrust>,
    ) -> Self {
        let ca_pem: Option<std::sync::Arc<str>> = tls.map(|t| t.ca_pem.as_str().into());
        let by_ordinal = pods
            .iter()
            .filter_map(|pod| {
                let pod_name = pod.metadata.name.as_deref()?;
                let ordinal = names.ordinal_of(pod_name)?;
                let pod_ip = || pod.status.as_ref()?.pod_ip.clone();
                let (host, connect_to) = match (ctx.settings.broker_addressing, &ca_pem) {
                    (BrokerAddressing::Dns, _) => (names.pod_host(ordinal), None),
                    (BrokerAddressing::PodIp, None) => (pod_ip()?, None),
                    (BrokerAddressing::PodIp, Some(_)) => {
                        let ip: std::net::IpAddr = pod_ip()?.parse().ok()?;
                        let addr = std::net::SocketAddr::new(ip, API_PORT as u16);
                        (names.pod_host(ordinal), Some(addr))
                    }
                };
                let scheme = if ca_pem.is_some() { "https" } else { "http" };
                let target = Target {
                    pod: pod_name.to_string(),
                    base_url: format!("{scheme}://{host}:{API_PORT}"),
                    token: token.clone(),
                    ca_pem: ca_pem.clone(),
                    connect_to,
                };
                Some((ordinal, target))
            })
            .collect();
        Self { by_ordinal }
    }

    pub fn get(&self, ordinal: u64) -> Option<&Target> {
        self.by_ordinal.get(&ordinal)
    }
}

/// What a pod (or a pod template) proves itself to its peers with: the cluster-secret
/// fingerprint, and whether the raft port is mutual TLS; `None` with neither. Pods that differ
/// here refuse each other, so a change restarts them all at once (see `membership`). A pod
/// without peer TLS keeps the plain cluster-secret value older operators wrote.
pub fn cluster_secret_of(meta: &ObjectMeta) -> Option<String> {
    let annotations = meta.annotations.as_ref()?;
    let secret = annotations.get(CLUSTER_SECRET_ANNOTATION);
    match annotations.get(PEER_TLS_ANNOTATION) {
        None => secret.cloned(),
        Some(tls) => Some(format!(
            "{}+peer-tls:{tls}",
            secret.map_or("-", String::as_str)
        )),
    }
}

/// The input of the membership decision; asks every running broker for its own view.
pub async fn observation(
    ctx: &Context,
    jc: &JumpnetCluster,
    names: &Names,
    sts: Option<&StatefulSet>,
    pods: &[Pod],
    claims: &[PersistentVolumeClaim],
    targets: &Targets,
) -> Observed {
    let status = jc.status.as_ref();
    let mut observed = Observed {
        desired: jc.spec.replica_count(),
        recorded_cluster_id: status.and_then(|s| s.cluster_id.clone()),
        statefulset_replicas: sts.and_then(|s| s.spec.replicas).map(|r| r.max(0) as u32),
        update_revision: None,
        cluster_secret: None,
        pods: BTreeMap::new(),
        ready_timeout_secs: jc.spec.rollout.ready_timeout_seconds.max(0) as u64,
        force_new_cluster: None,
        recorded_voters: status
            .map(|s| s.members.iter().filter(|m| m.role == "voter").count() as u32),
    };
    let mut askable = Vec::new();
    for pod in pods {
        let Some(ordinal) = pod
            .metadata
            .name
            .as_deref()
            .and_then(|n| names.ordinal_of(n))
        else {
            continue;
        };
        let claim = claims
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(names.claim(ordinal).as_str()));
        let obs = PodObservation {
            running: pod_running(pod),
            ready: pod_ready(pod),
            terminating: pod.metadata.deletion_timestamp.is_some(),
            starting: pod_starting(pod),
            unready_secs: unready_secs(pod),
            problem: pod_problem(pod, claim),
            revision: pod
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(REVISION_LABEL).cloned()),
            cluster_secret: cluster_secret_of(&pod.metadata),
            view: None,
        };
        if obs.running && !obs.terminating {
            if let Some(target) = targets.get(ordinal) {
                askable.push((ordinal, target));
            }
        }
        observed.pods.insert(ordinal, obs);
    }
    let views = join_all(
        askable
            .iter()
            .map(|(ordinal, target)| async move { (*ordinal, ctx.broker.cluster(target).await) }),
    )
    .await;
    for (ordinal, view) in views {
        match view {
            Ok(view) => {
                if let Some(p) = observed.pods.get_mut(&ordinal) {
                    p.view = Some(view);
                }
            }
            Err(e) => debug!(pod = %names.pod(ordinal), error = %e, "broker did not answer"),
        }
    }
    observed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "demo-2", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "status": status,
        }))
        .unwrap()
    }

    fn claim(phase: &str, class: Option<&str>) -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "data-demo-2", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"storageClassName": class},
            "status": {"phase": phase},
        }))
        .unwrap()
    }

    fn waiting(reason: &str, message: &str) -> serde_json::Value {
        json!({"phase": "Pending", "containerStatuses": [{
            "name": "jumpnet", "image": "jumpnet:bad", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": reason, "message": message}}}]})
    }

    #[test]
    fn image_pull_failures_of_every_kind_say_image_pull_back_off() {
        for reason in [
            "ErrImagePull",
            "ImagePullBackOff",
            "ErrImageNeverPull",
            "InvalidImageName",
        ] {
            let p = pod_problem(&pod(waiting(reason, "no such image")), None).unwrap();
            assert_eq!(p.reason, "ImagePullBackOff", "{reason}");
            assert!(
                p.message.contains(reason) && p.message.contains("jumpnet:bad"),
                "{p:?}"
            );
            assert!(
                p.message.contains("no such image"),
                "the kubelet's words: {p:?}"
            );
        }
    }

    #[test]
    fn crash_loops_name_the_last_exit() {
        let status = json!({"phase": "Running", "containerStatuses": [{
            "name": "jumpnet", "image": "jumpnet:1", "imageID": "", "ready": false, "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]});
        let p = pod_problem(&pod(status), None).unwrap();
        assert_eq!(p.reason, "CrashLoopBackOff");
        assert!(
            p.message.contains("4 times") && p.message.contains("exit code 1"),
            "{p:?}"
        );
    }

    #[test]
    fn unschedulable_pods_carry_the_schedulers_message() {
        let status = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient cpu."}]});
        let p = pod_problem(&pod(status), None).unwrap();
        assert_eq!(p.reason, "Unschedulable");
        assert_eq!(p.message, "0/3 nodes are available: 3 Insufficient cpu.");
    }

    #[test]
    fn a_pvc_pending_past_its_grace_is_named() {
        let p = pod(json!({"phase": "Pending"}));
        let problem = pod_problem(&p, Some(&claim("Pending", None))).unwrap();
        assert_eq!(problem.reason, "PersistentVolumeClaimPending");
        assert!(
            problem.message.contains("data-demo-2") && problem.message.contains("no StorageClass")
        );
        let problem = pod_problem(&p, Some(&claim("Pending", Some("fast")))).unwrap();
        assert!(problem.message.contains("\"fast\""), "{problem:?}");
        assert_eq!(pod_problem(&p, Some(&claim("Bound", None))), None);
    }

    #[test]
    fn ordinary_start_up_is_no_problem() {
        assert_eq!(
            pod_problem(&pod(waiting("ContainerCreating", "")), None),
            None
        );
        assert_eq!(pod_problem(&pod(json!({"phase": "Running"})), None), None);
    }

    #[test]
    fn unready_time_counts_from_the_ready_conditions_last_transition() {
        let p = pod(
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False",
            "lastTransitionTime": "2020-01-01T00:00:00Z"}]}),
        );
        assert!(unready_secs(&p) > 3600 * 24 * 365);
        let ready = pod(
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True",
            "lastTransitionTime": "2020-01-01T00:00:00Z"}]}),
        );
        assert_eq!(unready_secs(&ready), 0);
    }
}

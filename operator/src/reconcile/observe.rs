//! Reading the world: the auth Secret, the StatefulSet, the broker pods, and every running
//! broker's own view of the cluster. Nothing here changes anything.

use std::collections::BTreeMap;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams};
use tracing::debug;

use super::{BrokerAddressing, Context};
use crate::broker_client::Target;
use crate::crd::JumpnetCluster;
use crate::membership::{Observed, PodObservation};
use crate::resources::{selector_string, AuthTokens, Names, API_PORT, CLUSTER_SECRET_ANNOTATION};
use crate::{Error, Result};

const REVISION_LABEL: &str = "controller-revision-hash";
/// A pod younger than this that is not ready yet is starting, not failing.
const STARTUP_GRACE: std::time::Duration = std::time::Duration::from_secs(120);

fn pod_starting(pod: &Pod) -> bool {
    let Some(created) = pod.metadata.creation_timestamp.as_ref() else {
        return true;
    };
    let age = k8s_openapi::jiff::Timestamp::now().duration_since(created.0);
    age.as_secs() < STARTUP_GRACE.as_secs() as i64
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
    pub fn new(ctx: &Context, names: &Names, pods: &[Pod], token: Option<String>) -> Self {
        let by_ordinal = pods
            .iter()
            .filter_map(|pod| {
                let pod_name = pod.metadata.name.as_deref()?;
                let ordinal = names.ordinal_of(pod_name)?;
                let host = match ctx.settings.broker_addressing {
                    BrokerAddressing::Dns => names.pod_host(ordinal),
                    BrokerAddressing::PodIp => pod.status.as_ref()?.pod_ip.clone()?,
                };
                let target = Target {
                    pod: pod_name.to_string(),
                    base_url: format!("http://{host}:{API_PORT}"),
                    token: token.clone(),
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

/// The cluster-secret fingerprint a pod (or a pod template) carries; `None` without auth.
pub fn cluster_secret_of(meta: &ObjectMeta) -> Option<String> {
    meta.annotations
        .as_ref()?
        .get(CLUSTER_SECRET_ANNOTATION)
        .cloned()
}

/// The input of the membership decision; asks every running broker for its own view.
pub async fn observation(
    ctx: &Context,
    jc: &JumpnetCluster,
    names: &Names,
    sts: Option<&StatefulSet>,
    pods: &[Pod],
    targets: &Targets,
) -> Observed {
    let mut observed = Observed {
        desired: jc.spec.replica_count(),
        recorded_cluster_id: jc.status.as_ref().and_then(|s| s.cluster_id.clone()),
        statefulset_replicas: sts.and_then(|s| s.spec.replicas).map(|r| r.max(0) as u32),
        update_revision: None,
        cluster_secret: None,
        pods: BTreeMap::new(),
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
        let obs = PodObservation {
            running: pod_running(pod),
            ready: pod_ready(pod),
            terminating: pod.metadata.deletion_timestamp.is_some(),
            starting: pod_starting(pod),
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

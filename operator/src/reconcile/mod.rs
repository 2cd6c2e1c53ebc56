//! The controller: one `reconcile` per `JumpnetCluster` event or requeue.
//!
//! ```text
//! spec.tls: Certificate, TLS Secret ready? (else TLSNotReady, nothing else done)
//!   ─▶ observe (sts, pods, PVCs, broker views) ─▶ storage growth? (expand PVCs, re-create the sts)
//!   ─▶ apply owned objects (SSA, owner refs; the PDB from the current voters)
//!   ─▶ membership::next_step ─▶ execute one step (+ Event) ─▶ PVC clean-up ─▶ status
//! ```
//! Requeues after a few seconds while anything is in progress and after a minute once
//! converged (the leader shown in the status follows elections within that); errors back off
//! exponentially per object and are written to the status (`ReconcileError`). No finalizer:
//! everything the operator creates carries an owner reference, so deletion is the garbage
//! collector's job (PVCs are kept, like a StatefulSet keeps them).

mod apply;
mod execute;
mod observe;
mod status;
mod storage;
mod tls;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tracing::{info, instrument, warn};

use crate::broker_client::BrokerAdmin;
use crate::crd::JumpnetCluster;
use crate::membership::{self, Step};
use crate::metrics::Metrics;
use crate::resources::{self, BuildOptions, Names, MANAGER};
use crate::Result;

/// How the operator reaches a broker pod's admin API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BrokerAddressing {
    /// `http://NAME-i.NAME-headless.NS.svc.<domain>:9090`: the operator runs in the cluster.
    #[default]
    Dns,
    /// `http://<pod IP>:9090`: for an operator outside the cluster network's DNS.
    PodIp,
}

/// Operator-wide settings, from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    pub cluster_domain: String,
    pub broker_addressing: BrokerAddressing,
    /// Requeue while a step is in progress.
    pub requeue_busy: Duration,
    /// Requeue once converged (drift and health checks).
    pub requeue_idle: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cluster_domain: "cluster.local".into(),
            broker_addressing: BrokerAddressing::Dns,
            requeue_busy: Duration::from_secs(5),
            requeue_idle: Duration::from_secs(60),
        }
    }
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub broker: Arc<dyn BrokerAdmin>,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    pub settings: Settings,
    /// Consecutive failures per cluster, for the error backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(
        client: Client,
        broker: Arc<dyn BrokerAdmin>,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            broker,
            metrics,
            settings,
            failures: Mutex::default(),
        }
    }

    fn failure_key(jc: &JumpnetCluster) -> String {
        format!("{}/{}", jc.namespace().unwrap_or_default(), jc.name_any())
    }
}

/// Reconciles one cluster: see the module doc for the order of things.
#[instrument(skip_all, fields(cluster = %jc.name_any(), namespace = jc.namespace().unwrap_or_default()))]
pub async fn reconcile(jc: Arc<JumpnetCluster>, ctx: Arc<Context>) -> Result<Action> {
    let timer = ctx.metrics.reconcile_started();
    let result = reconcile_cluster(&jc, &ctx).await;
    timer.finish(result.as_ref().map(|_| ()));
    match &result {
        Ok(_) => {
            if let Ok(mut f) = ctx.failures.lock() {
                f.remove(&Context::failure_key(&jc));
            }
        }
        Err(e) if jc.metadata.deletion_timestamp.is_none() => {
            status::record_error(&ctx, &jc, e).await
        }
        Err(_) => {}
    }
    result
}

/// Exponential backoff per cluster: 1 s, 2 s, 4 s ... capped at 5 minutes.
pub fn error_policy(jc: Arc<JumpnetCluster>, error: &crate::Error, ctx: Arc<Context>) -> Action {
    let attempts = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(Context::failure_key(&jc)).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    let delay = Duration::from_secs(1u64 << attempts.saturating_sub(1).min(8))
        .min(Duration::from_secs(300));
    warn!(cluster = %jc.name_any(), error = %error.summary(), attempts, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

async fn reconcile_cluster(jc: &JumpnetCluster, ctx: &Context) -> Result<Action> {
    if jc.metadata.deletion_timestamp.is_some() {
        // Owner references hand everything to the garbage collector; touching the cluster now
        // would only race it (and could re-create what is being deleted).
        return Ok(Action::await_change());
    }
    let names = Names::of(jc, &ctx.settings.cluster_domain)?;
    jc.spec.validate(&names.name)?;
    let force_new_cluster = observe::force_new_cluster(jc, &names)?;

    // Pods without their certificate files would only crash-loop: nothing changes until it is there.
    let tls = match tls::prepare(ctx, jc, &names).await? {
        tls::Tls::Off => None,
        tls::Tls::Ready(trust) => Some(trust),
        tls::Tls::NotReady(message) => {
            status::blocked(ctx, jc, &names, tls::TLS_NOT_READY, &message).await?;
            return Ok(Action::requeue(ctx.settings.requeue_busy));
        }
    };
    let auth = observe::auth_tokens(ctx, jc, &names).await?;
    let token = auth.as_ref().map(|t| t.operator_token.clone());
    let live_sts = observe::statefulset(ctx, &names).await?;
    let pods = observe::pods(ctx, &names).await?;
    let claims = observe::claims(ctx, &names).await?;
    let targets = observe::Targets::new(ctx, &names, &pods, token, tls.as_ref());
    let mut observed =
        observe::observation(ctx, jc, &names, live_sts.as_ref(), &pods, &claims, &targets).await;
    observed.force_new_cluster = force_new_cluster;

    // Storage: grow the volumes (re-creating the StatefulSet), or refuse and keep them.
    let mut notices: Vec<status::Notice> = storage::resizing(&claims, &names).into_iter().collect();
    let deleting = live_sts
        .as_ref()
        .is_some_and(|s| s.metadata.deletion_timestamp.is_some());
    let mut with_statefulset = !deleting;
    let mut spec = std::borrow::Cow::Borrowed(jc);
    match storage::plan(jc, live_sts.as_ref()) {
        storage::Plan::Keep => {}
        storage::Plan::Refuse { live, message } => {
            notices.push(status::Notice {
                reason: "StorageChangeRefused".into(),
                message,
                degraded: true,
            });
            spec = std::borrow::Cow::Owned(storage::with_storage(jc, live));
        }
        storage::Plan::Grow { to } if !deleting => {
            match storage::grow(ctx, &names, &claims, &to).await? {
                storage::Grown::Recreating => {
                    with_statefulset = false;
                    notices.push(status::Notice {
                        reason: "StorageResizing".into(),
                        message: format!(
                            "expanding the volumes to {to}: PVCs patched; the StatefulSet is re-created with the larger claim template, its pods keep running"
                        ),
                        degraded: false,
                    });
                }
                storage::Grown::Refused(message) => {
                    notices.push(status::Notice {
                        reason: "StorageResizeFailed".into(),
                        message,
                        degraded: true,
                    });
                    if let Some(live) = live_sts.as_ref().and_then(|s| storage::live(jc, s)) {
                        spec = std::borrow::Cow::Owned(storage::with_storage(jc, live));
                    }
                }
            }
        }
        storage::Plan::Grow { .. } => {}
    }

    let replicas = membership::statefulset_replicas(&observed);
    let protected_voters = membership::protected_voters(&observed);
    let opts = BuildOptions {
        cluster_domain: ctx.settings.cluster_domain.clone(),
        statefulset_replicas: Some(replicas),
        auth,
        protected_voters,
    };
    let owned = resources::owned_objects(&spec, &opts)?;
    // What the pods are to run with is what the template says (the annotation the pods carry).
    observed.cluster_secret = owned
        .statefulset
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(observe::cluster_secret_of);
    let uid = jc.metadata.uid.as_deref().unwrap_or_default();
    let applied = apply::apply_owned(ctx, &names, uid, owned, with_statefulset).await?;
    observed.update_revision = applied.as_ref().and_then(observe::update_revision);

    let step = membership::next_step(&observed);
    let facts = membership::facts(&observed);
    if facts.adopted {
        execute::adopted_event(ctx, jc, facts.cluster_id.as_deref().unwrap_or_default()).await;
    }
    let budget = resources::max_unavailable(protected_voters);
    let outcome = execute::run(ctx, jc, &names, &targets, &observed, &facts, &step, budget).await?;
    if jc.spec.storage.delete_claim_on_scale_down {
        execute::delete_released_claims(ctx, jc, &names, replicas, &pods, &claims).await?;
    }
    status::update(
        ctx, jc, &names, &observed, &facts, &step, &outcome, &notices,
    )
    .await?;

    Ok(match step {
        Step::Converged if notices.is_empty() => Action::requeue(ctx.settings.requeue_idle),
        _ => Action::requeue(ctx.settings.requeue_busy),
    })
}

fn api<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// One controller for one namespace (`None`: all namespaces).
async fn run_one(ctx: Arc<Context>, namespace: Option<String>, shutdown: Shutdown) {
    let client = ctx.client.clone();
    let ns = namespace.as_deref();
    // Only objects we manage are watched (and cached), not every Secret in the cluster.
    let owned =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGER}"));
    let controller = Controller::new(
        api::<JumpnetCluster>(&client, ns),
        watcher::Config::default().any_semantic(),
    );
    ctx.metrics.watch_store(controller.store());
    info!(namespace = ns.unwrap_or("<all>"), "controller starting");
    controller
        .owns(api::<StatefulSet>(&client, ns), owned.clone())
        .owns(api::<Service>(&client, ns), owned.clone())
        .owns(api::<ConfigMap>(&client, ns), owned.clone())
        .owns(api::<Secret>(&client, ns), owned.clone())
        .owns(api::<PodDisruptionBudget>(&client, ns), owned)
        .graceful_shutdown_on(async move {
            let _ = shutdown.await;
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => tracing::debug!(object = %obj, "reconciled"),
                // Failed reconciles are logged by error_policy; a watch that fails (e.g. RBAC
                // forbids listing a kind) would otherwise leave the operator blind, quietly.
                Err(kube::runtime::controller::Error::ReconcilerFailed(..)) => {}
                Err(e) => warn!(error = %e, "controller watch or queue error"),
            }
        })
        .await;
    info!(namespace = ns.unwrap_or("<all>"), "controller stopped");
}

/// Resolves when the controllers must stop (clonable, as each namespace has one).
pub type Shutdown = futures::future::Shared<futures::channel::oneshot::Receiver<()>>;

/// Runs the controllers (one per namespace, or one for all) until `shutdown` resolves;
/// in-flight reconciles finish first.
pub async fn run(ctx: Arc<Context>, namespaces: Vec<String>, shutdown: Shutdown) {
    if namespaces.is_empty() {
        run_one(ctx, None, shutdown).await;
    } else {
        let all = namespaces
            .into_iter()
            .map(|ns| run_one(ctx.clone(), Some(ns), shutdown.clone()));
        futures::future::join_all(all).await;
    }
}

#[cfg(test)]
mod tests;

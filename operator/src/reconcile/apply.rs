//! Server-side apply of the owned objects, dependencies first (the Secret and ConfigMap the
//! pods mount before the StatefulSet that creates them). Applying is idempotent: unchanged
//! objects are no-ops on the API server, drifted ones are put back.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::Resource;
use serde::{de::DeserializeOwned, Serialize};
use tracing::{info, warn};

use super::Context;
use crate::resources::{service_monitor_resource, Names, OwnedObjects, MANAGER};
use crate::{Error, Result};

fn params() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

async fn apply<K>(ctx: &Context, names: &Names, obj: &K) -> Result<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &names.namespace);
    api.patch(&name, &params(), &Patch::Apply(obj))
        .await
        .map_err(Error::kube(format!("apply {} {name}", K::kind(&()))))
}

/// Is the ServiceMonitor kind served? (discovery, which needs no extra RBAC)
async fn service_monitors_served(ctx: &Context) -> Result<bool> {
    let ar = service_monitor_resource();
    match ctx.client.list_api_group_resources(&ar.api_version).await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == ar.plural)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(source) => Err(Error::Kube {
            action: format!("discover {}", ar.api_version),
            source,
        }),
    }
}

async fn apply_service_monitor(ctx: &Context, names: &Names, sm: &DynamicObject) -> Result<()> {
    if !service_monitors_served(ctx).await? {
        warn!(cluster = %names.name, "spec.metrics.serviceMonitor.enabled but the ServiceMonitor CRD is not installed; skipped");
        return Ok(());
    }
    let ar = service_monitor_resource();
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &names.namespace, &ar);
    api.patch(&names.name, &params(), &Patch::Apply(sm))
        .await
        .map_err(Error::kube(format!("apply ServiceMonitor {}", names.name)))?;
    Ok(())
}

/// `spec.metrics.serviceMonitor` is off: deletes the ServiceMonitor this cluster owns, if it made
/// one while it was on. One GET when there is none: 404 covers both "no such object" and "no
/// ServiceMonitor CRD", 403 an operator installed without the monitoring RBAC.
async fn remove_service_monitor(ctx: &Context, names: &Names, owner_uid: &str) -> Result<()> {
    let ar = service_monitor_resource();
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &names.namespace, &ar);
    let sm = match api.get(&names.name).await {
        Ok(sm) => sm,
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 403 => return Ok(()),
        Err(source) => {
            return Err(Error::Kube {
                action: format!("get ServiceMonitor {}", names.name),
                source,
            })
        }
    };
    let ours = sm
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.uid == owner_uid);
    if !ours {
        return Ok(()); // somebody else's, by the same name: not ours to delete
    }
    match api.delete(&names.name, &DeleteParams::default()).await {
        Ok(_) => {
            info!(cluster = %names.name, "spec.metrics.serviceMonitor disabled: ServiceMonitor deleted");
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(source) => Err(Error::Kube {
            action: format!("delete ServiceMonitor {}", names.name),
            source,
        }),
    }
}

/// Applies everything; returns the StatefulSet as the API server now has it, or `None` when it
/// is not applied this time (`with_statefulset` false: it is being re-created, see `storage.rs`).
/// `owner_uid` is the JumpnetCluster's: objects it no longer wants are deleted only when it owns them.
pub async fn apply_owned(
    ctx: &Context,
    names: &Names,
    owner_uid: &str,
    owned: OwnedObjects,
    with_statefulset: bool,
) -> Result<Option<StatefulSet>> {
    if let Some(secret) = &owned.auth_secret {
        apply(ctx, names, secret).await?;
    }
    apply(ctx, names, &owned.config_map).await?;
    apply(ctx, names, &owned.headless_service).await?;
    apply(ctx, names, &owned.client_service).await?;
    apply(ctx, names, &owned.pdb).await?;
    match &owned.service_monitor {
        Some(sm) => apply_service_monitor(ctx, names, sm).await?,
        None => remove_service_monitor(ctx, names, owner_uid).await?,
    }
    if !with_statefulset {
        return Ok(None);
    }
    apply(ctx, names, &owned.statefulset).await.map(Some)
}

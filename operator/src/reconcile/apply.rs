//! Server-side apply of the owned objects, dependencies first (the Secret and ConfigMap the
//! pods mount before the StatefulSet that creates them). Applying is idempotent: unchanged
//! objects are no-ops on the API server, drifted ones are put back.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::Resource;
use serde::{de::DeserializeOwned, Serialize};
use tracing::warn;

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

/// Applies everything; returns the StatefulSet as the API server now has it.
pub async fn apply_owned(ctx: &Context, names: &Names, owned: OwnedObjects) -> Result<StatefulSet> {
    if let Some(secret) = &owned.auth_secret {
        apply(ctx, names, secret).await?;
    }
    apply(ctx, names, &owned.config_map).await?;
    apply(ctx, names, &owned.headless_service).await?;
    apply(ctx, names, &owned.client_service).await?;
    apply(ctx, names, &owned.pdb).await?;
    if let Some(sm) = &owned.service_monitor {
        apply_service_monitor(ctx, names, sm).await?;
    }
    apply(ctx, names, &owned.statefulset).await
}

//! Storage growth. `volumeClaimTemplates` of a StatefulSet are immutable, so a larger
//! `spec.storage.size` is carried out as Strimzi and CloudNativePG do it: every PVC of the cluster
//! is patched to the new size (the StorageClass must allow expansion), then the StatefulSet is
//! deleted with `propagationPolicy: Orphan` (its pods keep running) and the next reconcile
//! re-creates it with the new claim template, adopting the pods.
//!
//! Shrinking, or changing the class, is refused by the CRD's CEL rules on a real API server; when
//! such a spec gets through anyway (an API server without CEL, an older CRD), the operator keeps the
//! volumes as they are, applies everything else, and says so in a `Degraded` condition.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PropagationPolicy};
use serde_json::json;
use tracing::info;

use super::status::Notice;
use super::Context;
use crate::crd::{JumpnetCluster, StorageSpec};
use crate::resources::{parse_quantity, Names, DATA_VOLUME};
use crate::{Error, Result};

/// What to do about the claim template.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Nothing (no StatefulSet yet, or the same storage).
    Keep,
    /// The size grew: expand the PVCs, re-create the StatefulSet.
    Grow { to: String },
    /// Not possible: keep the live storage and say why.
    Refuse { live: StorageSpec, message: String },
}

/// `(size, class)` of the live StatefulSet's `data` claim template.
fn live_storage(sts: &StatefulSet) -> Option<(String, Option<String>)> {
    let claim = sts
        .spec
        .volume_claim_templates
        .as_ref()?
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(DATA_VOLUME))?;
    let spec = claim.spec.as_ref()?;
    let size = spec
        .resources
        .as_ref()?
        .requests
        .as_ref()?
        .get("storage")?
        .0
        .clone();
    Some((size, spec.storage_class_name.clone()))
}

/// `spec.storage` as the live StatefulSet has it (size and class of its claim template).
pub fn live(jc: &JumpnetCluster, sts: &StatefulSet) -> Option<StorageSpec> {
    let (size, class) = live_storage(sts)?;
    Some(StorageSpec {
        size,
        storage_class_name: class,
        delete_claim_on_scale_down: jc.spec.storage.delete_claim_on_scale_down,
    })
}

/// Pure: compares `spec.storage` with the live claim template.
pub fn plan(jc: &JumpnetCluster, sts: Option<&StatefulSet>) -> Plan {
    let Some(keep) = sts.and_then(|s| live(jc, s)) else {
        return Plan::Keep;
    };
    let (size, class) = (keep.size.clone(), keep.storage_class_name.clone());
    let want = &jc.spec.storage;
    if want.storage_class_name != class {
        return Plan::Refuse {
            message: format!(
                "spec.storage.storageClassName changed from {class:?} to {:?}: existing volumes cannot change class; set it back (the volumes keep {class:?})",
                want.storage_class_name
            ),
            live: keep,
        };
    }
    match (parse_quantity(&want.size), parse_quantity(&size)) {
        (Some(w), Some(l)) if w < l => Plan::Refuse {
            message: format!(
                "spec.storage.size {} is smaller than the volumes' {size}: volumes cannot shrink; set it back to {size} or more",
                want.size
            ),
            live: keep,
        },
        (Some(w), Some(l)) if w > l => Plan::Grow {
            to: want.size.clone(),
        },
        _ => Plan::Keep,
    }
}

/// The cluster with `storage` as given (the live one, when a change is refused).
pub fn with_storage(jc: &JumpnetCluster, storage: StorageSpec) -> JumpnetCluster {
    let mut jc = jc.clone();
    jc.spec.storage = storage;
    jc
}

fn requested(c: &PersistentVolumeClaim) -> Option<f64> {
    parse_quantity(
        &c.spec
            .as_ref()?
            .resources
            .as_ref()?
            .requests
            .as_ref()?
            .get("storage")?
            .0,
    )
}

fn capacity(c: &PersistentVolumeClaim) -> Option<f64> {
    parse_quantity(&c.status.as_ref()?.capacity.as_ref()?.get("storage")?.0)
}

/// Outcome of [`grow`].
pub enum Grown {
    /// PVCs patched and the StatefulSet deleted (orphaning its pods): skip applying it this time.
    Recreating,
    /// The API server refused to expand a PVC (e.g. its StorageClass does not allow expansion).
    Refused(String),
}

/// Patches every PVC below `to`, then deletes the StatefulSet, keeping its pods.
pub async fn grow(
    ctx: &Context,
    names: &Names,
    claims: &[PersistentVolumeClaim],
    to: &str,
) -> Result<Grown> {
    let want = parse_quantity(to).unwrap_or(0.0);
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &names.namespace);
    for claim in claims {
        let Some(name) = claim.metadata.name.as_deref() else {
            continue;
        };
        if names.claim_ordinal(name).is_none() || requested(claim).is_some_and(|r| r >= want) {
            continue;
        }
        let patch = json!({"spec": {"resources": {"requests": {"storage": to}}}});
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => info!(claim = name, size = to, "PVC expansion requested"),
            Err(kube::Error::Api(s)) if matches!(s.code, 403 | 422) => {
                return Ok(Grown::Refused(format!(
                    "expanding PVC {name} to {to} was refused: {} (the StorageClass must set allowVolumeExpansion: true); the volumes keep their size",
                    s.message
                )));
            }
            Err(source) => {
                return Err(Error::Kube {
                    action: format!("expand PersistentVolumeClaim {name}"),
                    source,
                })
            }
        }
    }
    let sts: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let orphan = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Orphan),
        ..DeleteParams::default()
    };
    match sts.delete(&names.name, &orphan).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(source) => {
            return Err(Error::Kube {
                action: format!("delete StatefulSet {} (orphaning its pods)", names.name),
                source,
            })
        }
    }
    info!(cluster = %names.name, size = to, "StatefulSet deleted with its pods kept, to be re-created with the larger claim template");
    Ok(Grown::Recreating)
}

/// PVCs asked to grow that have not yet: progress, not a problem.
pub fn resizing(claims: &[PersistentVolumeClaim], names: &Names) -> Option<Notice> {
    let growing: Vec<String> = claims
        .iter()
        .filter(|c| {
            c.metadata
                .name
                .as_deref()
                .is_some_and(|n| names.claim_ordinal(n).is_some())
        })
        .filter(|c| matches!((requested(c), capacity(c)), (Some(r), Some(cap)) if cap < r))
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    (!growing.is_empty()).then(|| Notice {
        reason: "StorageResizing".into(),
        message: format!("waiting for volumes to grow: {}", growing.join(", ")),
        degraded: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::cluster;
    use crate::resources::{statefulset, Names};

    fn live(spec: &str) -> StatefulSet {
        let jc = cluster(spec);
        let names = Names::of(&jc, "cluster.local").unwrap();
        statefulset(&jc, &names, 3, None)
    }

    #[test]
    fn growing_is_planned_shrinking_and_class_changes_are_refused() {
        let sts = live("storage: {size: 64Mi}");
        assert_eq!(
            plan(&cluster("storage: {size: 64Mi}"), Some(&sts)),
            Plan::Keep
        );
        assert_eq!(plan(&cluster("storage: {size: 128Mi}"), None), Plan::Keep);
        assert_eq!(
            plan(&cluster("storage: {size: 128Mi}"), Some(&sts)),
            Plan::Grow { to: "128Mi".into() }
        );
        assert_eq!(
            plan(&cluster("storage: {size: 0.0625Gi}"), Some(&sts)),
            Plan::Keep,
            "the same size written differently"
        );
        let Plan::Refuse { live, message } = plan(&cluster("storage: {size: 32Mi}"), Some(&sts))
        else {
            panic!("a shrink must be refused");
        };
        assert_eq!(live.size, "64Mi");
        assert!(message.contains("cannot shrink"), "{message}");
        let Plan::Refuse { live, message } = plan(
            &cluster("storage: {size: 128Mi, storageClassName: fast}"),
            Some(&sts),
        ) else {
            panic!("a class change must be refused");
        };
        assert_eq!(
            (live.size.as_str(), live.storage_class_name),
            ("64Mi", None)
        );
        assert!(message.contains("cannot change class"), "{message}");
    }

    #[test]
    fn a_refused_change_keeps_the_live_claim_template() {
        let jc = cluster("storage: {size: 32Mi}\nimage: new");
        let kept = with_storage(
            &jc,
            StorageSpec {
                size: "64Mi".into(),
                storage_class_name: None,
                delete_claim_on_scale_down: false,
            },
        );
        assert_eq!(kept.spec.storage.size, "64Mi");
        assert_eq!(kept.spec.image, "new", "every other change still applies");
    }
}

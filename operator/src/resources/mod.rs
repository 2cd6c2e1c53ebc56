//! Builders for every object the operator owns, one file per kind. Pure functions of the
//! `JumpnetCluster` (plus the few facts only the reconciler knows, in [`BuildOptions`]), so
//! `jumpnet-operator render` and the reconciler produce byte-identical objects.
//!
//! For a cluster `NAME` in namespace `NS`:
//!
//! ```text
//! StatefulSet  NAME            pods NAME-0..N-1, PVCs data-NAME-i, podManagementPolicy Parallel, OnDelete
//! Service      NAME-headless   pod DNS NAME-i.NAME-headless.NS.svc.<domain>, publishNotReadyAddresses
//! Service      NAME            clients, port http 9090
//! PDB          NAME            maxUnavailable = (current voters - 1) / 2, so evictions keep quorum
//! ConfigMap    NAME-config     client settings (JUMPNET_SERVER) and the broker flags, for review
//! Secret       NAME-auth       tokens file + cluster secret, only with spec.auth.enabled
//! ServiceMonitor NAME          only with spec.metrics.serviceMonitor.enabled
//! Certificate  NAME            cert-manager, only with spec.tls.issuerRef (Secret NAME-tls)
//! ```

mod configmap;
mod pdb;
mod quantity;
mod secret;
mod service;
mod servicemonitor;
mod statefulset;
mod tls;

use std::collections::BTreeMap;

use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, Secret, Service},
    policy::v1::PodDisruptionBudget,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{api::DynamicObject, Resource, ResourceExt};

pub use configmap::config_map;
pub use pdb::{max_unavailable, pod_disruption_budget};
pub use quantity::parse_quantity;
pub use secret::{auth_secret, AuthTokens, CLUSTER_SECRET_KEY, OPERATOR_TOKEN_KEY, TOKENS_KEY};
pub use service::{client_service, headless_service};
pub use servicemonitor::{service_monitor, service_monitor_resource, BROKER_JOB};
pub use statefulset::{
    broker_args, statefulset, AUTH_MOUNT, CLUSTER_SECRET_ANNOTATION, DATA_VOLUME, TOKENS_ANNOTATION,
};
pub use tls::{
    api_scheme, certificate, certificate_resource, dns_names, tls_secret_name, TlsTrust, CA_KEY,
    PEER_TLS_ANNOTATION, PEER_TLS_MUTUAL, TLS_CERT_KEY, TLS_KEY_KEY, TLS_MOUNT,
};

use crate::crd::JumpnetCluster;
use crate::{Error, Result};

/// Field manager for server-side apply and the `app.kubernetes.io/managed-by` value.
pub const MANAGER: &str = "jumpnet-operator";
pub const RAFT_PORT: i32 = 8080;
pub const API_PORT: i32 = 9090;
/// Label carried by each of the two Services so a ServiceMonitor can pick exactly one.
pub const SERVICE_ROLE_LABEL: &str = "jumpnet.io/service";

/// Facts the builders need that are not in the custom resource.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Cluster DNS domain used in advertise addresses (`cluster.local`).
    pub cluster_domain: String,
    /// StatefulSet size decided by the membership logic; `spec.replicas` when `None`.
    pub statefulset_replicas: Option<u32>,
    /// Auth material; required when `spec.auth.enabled`.
    pub auth: Option<AuthTokens>,
    /// Raft voters the PodDisruptionBudget protects (`membership::protected_voters`); none before
    /// the cluster is bootstrapped, so `render` shows a new cluster's budget of 0.
    pub protected_voters: u32,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            cluster_domain: "cluster.local".into(),
            statefulset_replicas: None,
            auth: None,
            protected_voters: 0,
        }
    }
}

/// Names derived from the cluster name; the one place that spells them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    pub name: String,
    pub namespace: String,
    pub cluster_domain: String,
}

impl Names {
    pub fn of(jc: &JumpnetCluster, cluster_domain: &str) -> Result<Self> {
        Ok(Self {
            name: jc.metadata.name.clone().ok_or(Error::MissingObjectKey {
                field: "metadata.name",
            })?,
            namespace: jc.namespace().unwrap_or_else(|| "default".into()),
            cluster_domain: cluster_domain.to_string(),
        })
    }
    pub fn headless(&self) -> String {
        format!("{}-headless", self.name)
    }
    pub fn config(&self) -> String {
        format!("{}-config", self.name)
    }
    pub fn auth(&self) -> String {
        format!("{}-auth", self.name)
    }
    /// The TLS Secret cert-manager writes for `spec.tls.issuerRef`.
    pub fn tls(&self) -> String {
        format!("{}-tls", self.name)
    }
    pub fn pod(&self, ordinal: u64) -> String {
        format!("{}-{ordinal}", self.name)
    }
    /// PVC created by the StatefulSet's `data` claim template for one pod.
    pub fn claim(&self, ordinal: u64) -> String {
        format!("{DATA_VOLUME}-{}-{ordinal}", self.name)
    }
    /// The ordinal of one of this cluster's PVCs (`data-demo-2` → 2).
    pub fn claim_ordinal(&self, claim: &str) -> Option<u64> {
        self.ordinal_of(claim.strip_prefix(DATA_VOLUME)?.strip_prefix('-')?)
    }
    /// Stable DNS name of one pod through the headless Service.
    pub fn pod_host(&self, ordinal: u64) -> String {
        format!(
            "{}.{}.{}.svc.{}",
            self.pod(ordinal),
            self.headless(),
            self.namespace,
            self.cluster_domain
        )
    }
    pub fn raft_addr(&self, ordinal: u64) -> String {
        format!("{}:{RAFT_PORT}", self.pod_host(ordinal))
    }
    pub fn api_addr(&self, ordinal: u64) -> String {
        format!("{}:{API_PORT}", self.pod_host(ordinal))
    }
    /// What the pod advertises to Kafka clients (`--advertise-kafka`, SPEC §6:
    /// `NAME-N.NAME-headless.NS.svc:PORT`); the StatefulSet spells it with `$(POD_NAME)`.
    pub fn kafka_addr(&self, ordinal: u64, port: i32) -> String {
        format!(
            "{}.{}.{}.svc:{port}",
            self.pod(ordinal),
            self.headless(),
            self.namespace
        )
    }
    /// URL of the client Service, what `jumpnet --server` wants (`scheme`: `http` or `https`).
    pub fn client_url(&self, scheme: &str) -> String {
        format!(
            "{scheme}://{}.{}.svc.{}:{API_PORT}",
            self.name, self.namespace, self.cluster_domain
        )
    }
    /// The ordinal of a pod name of this cluster (`demo-2` → 2).
    pub fn ordinal_of(&self, pod: &str) -> Option<u64> {
        pod.strip_prefix(&self.name)?
            .strip_prefix('-')?
            .parse()
            .ok()
    }
}

/// Labels that select the broker pods; immutable once the StatefulSet exists.
pub fn selector_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "jumpnet".to_string()),
        ("app.kubernetes.io/instance".to_string(), name.to_string()),
    ])
}

/// `key=value,...` form of [`selector_labels`] (status.selector, list calls).
pub fn selector_string(name: &str) -> String {
    selector_labels(name)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Labels on every owned object.
pub fn common_labels(name: &str) -> BTreeMap<String, String> {
    let mut labels = selector_labels(name);
    labels.insert("app.kubernetes.io/component".into(), "broker".into());
    labels.insert("app.kubernetes.io/managed-by".into(), MANAGER.into());
    labels
}

/// The controller owner reference, when the object has a uid (a live object; not in `render`).
pub fn owner_references(jc: &JumpnetCluster) -> Option<Vec<OwnerReference>> {
    jc.controller_owner_ref(&()).map(|r| vec![r])
}

/// Metadata of an owned object: name, namespace, common labels, owner reference.
pub fn object_meta(jc: &JumpnetCluster, names: &Names, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(names.namespace.clone()),
        labels: Some(common_labels(&names.name)),
        owner_references: owner_references(jc),
        ..ObjectMeta::default()
    }
}

/// Everything the operator applies for one cluster, in apply order (dependencies first).
#[derive(Clone, Debug)]
pub struct OwnedObjects {
    pub auth_secret: Option<Secret>,
    pub config_map: ConfigMap,
    pub headless_service: Service,
    pub client_service: Service,
    pub pdb: PodDisruptionBudget,
    pub service_monitor: Option<DynamicObject>,
    /// cert-manager Certificate `NAME` (`spec.tls.issuerRef`); applied before anything else.
    pub certificate: Option<DynamicObject>,
    pub statefulset: StatefulSet,
}

/// Builds every owned object. Fails when auth is on and no tokens were provided.
pub fn owned_objects(jc: &JumpnetCluster, opts: &BuildOptions) -> Result<OwnedObjects> {
    let names = Names::of(jc, &opts.cluster_domain)?;
    let auth_secret = if jc.spec.auth.enabled {
        let tokens = opts.auth.as_ref().ok_or_else(|| Error::InvalidSpec {
            name: names.name.clone(),
            reason: "auth is enabled but no tokens were prepared".into(),
        })?;
        Some(auth_secret(jc, &names, tokens))
    } else {
        None
    };
    let replicas = opts
        .statefulset_replicas
        .unwrap_or_else(|| jc.spec.replica_count());
    Ok(OwnedObjects {
        auth_secret,
        config_map: config_map(jc, &names),
        headless_service: headless_service(jc, &names),
        client_service: client_service(jc, &names),
        pdb: pod_disruption_budget(jc, &names, opts.protected_voters),
        service_monitor: jc
            .spec
            .metrics
            .service_monitor
            .enabled
            .then(|| service_monitor(jc, &names)),
        certificate: certificate(jc, &names),
        statefulset: statefulset(jc, &names, replicas, opts.auth.as_ref()),
    })
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::crd::JumpnetCluster;

    /// A live-looking cluster `demo` in namespace `ns` with a uid, from YAML spec fields.
    pub fn cluster(spec_yaml: &str) -> JumpnetCluster {
        let mut jc: JumpnetCluster = serde_yaml::from_str(&format!(
            "apiVersion: jumpnet.io/v1alpha1\nkind: JumpnetCluster\nmetadata:\n  name: demo\n  namespace: ns\n  uid: uid-demo\n  generation: 1\nspec:\n{}",
            indent(spec_yaml)
        ))
        .expect("test cluster YAML");
        jc.metadata.resource_version = Some("1".into());
        jc
    }

    fn indent(s: &str) -> String {
        if s.trim().is_empty() {
            return "  {}".into();
        }
        s.lines().map(|l| format!("  {l}\n")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::cluster;
    use super::*;

    #[test]
    fn names_follow_spec_section_6() {
        let jc = cluster("replicas: 3");
        let n = Names::of(&jc, "cluster.local").unwrap();
        assert_eq!(n.headless(), "demo-headless");
        assert_eq!(n.config(), "demo-config");
        assert_eq!(n.auth(), "demo-auth");
        assert_eq!(n.claim(2), "data-demo-2");
        assert_eq!(n.claim_ordinal("data-demo-2"), Some(2));
        assert_eq!(n.claim_ordinal("data-demo-x-2"), None);
        assert_eq!(
            n.raft_addr(1),
            "demo-1.demo-headless.ns.svc.cluster.local:8080"
        );
        assert_eq!(
            n.api_addr(1),
            "demo-1.demo-headless.ns.svc.cluster.local:9090"
        );
        assert_eq!(
            n.client_url("http"),
            "http://demo.ns.svc.cluster.local:9090"
        );
        assert_eq!(n.tls(), "demo-tls");
        assert_eq!(n.ordinal_of("demo-7"), Some(7));
        assert_eq!(n.ordinal_of("demox-7"), None);
        assert_eq!(n.ordinal_of("demo-config"), None);
    }

    #[test]
    fn every_owned_object_has_controller_owner_reference_and_labels() {
        let mut jc = cluster("auth: {enabled: true}\nmetrics: {serviceMonitor: {enabled: true}}");
        jc.spec.replicas = 3;
        let opts = BuildOptions {
            auth: Some(AuthTokens::generate()),
            ..BuildOptions::default()
        };
        let o = owned_objects(&jc, &opts).unwrap();
        let metas = [
            o.auth_secret.as_ref().unwrap().metadata.clone(),
            o.config_map.metadata.clone(),
            o.headless_service.metadata.clone(),
            o.client_service.metadata.clone(),
            o.pdb.metadata.clone(),
            o.service_monitor.as_ref().unwrap().metadata.clone(),
            o.statefulset.metadata.clone(),
        ];
        for meta in metas {
            let refs = meta.owner_references.expect("owner reference");
            assert_eq!(refs.len(), 1);
            assert_eq!(refs[0].kind, "JumpnetCluster");
            assert_eq!(refs[0].api_version, "jumpnet.io/v1alpha1");
            assert_eq!(refs[0].name, "demo");
            assert_eq!(refs[0].uid, "uid-demo");
            assert_eq!(refs[0].controller, Some(true));
            assert_eq!(meta.namespace.as_deref(), Some("ns"));
            let labels = meta.labels.unwrap();
            assert_eq!(labels["app.kubernetes.io/instance"], "demo");
            assert_eq!(labels["app.kubernetes.io/managed-by"], "jumpnet-operator");
        }
    }

    #[test]
    fn auth_on_without_tokens_is_an_error_not_a_secret_without_data() {
        let jc = cluster("auth: {enabled: true}");
        assert!(owned_objects(&jc, &BuildOptions::default()).is_err());
    }

    #[test]
    fn optional_objects_only_when_asked_for() {
        let o = owned_objects(&cluster(""), &BuildOptions::default()).unwrap();
        assert!(o.auth_secret.is_none());
        assert!(o.service_monitor.is_none());
    }
}

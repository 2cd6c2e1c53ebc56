//! The `JumpnetCluster` custom resource (`jumpnet.io/v1alpha1`, short name `jn`).
//!
//! The Rust types are the single source of the CRD: `jumpnet-operator crd` prints
//! [`crd_yaml`], and `deploy/crd.yaml` is that output committed (a test keeps them equal).
//! Ranges are enforced by the API server through the schema (`replicas` 1..=9), so a
//! reconcile never sees an out-of-range spec from a validating cluster; [`JumpnetClusterSpec::validate`]
//! repeats the checks for `render`, which has no API server.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, LocalObjectReference, PodSecurityContext, ResourceRequirements, Toleration,
    TopologySpreadConstraint,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Largest supported cluster: Raft membership changes and quorum math stay cheap and the PDB meaningful.
pub const MAX_REPLICAS: i32 = 9;
/// Default image when `spec.image` is not given.
pub const DEFAULT_IMAGE: &str = concat!("ghcr.io/jumpnet/jumpnet:", env!("CARGO_PKG_VERSION"));
/// Longest cluster name: the StatefulSet's `controller-revision-hash` label (`NAME-<10 chars>`) must
/// fit in 63 characters, and `NAME-headless` must be a valid Service name.
pub const MAX_NAME_LEN: usize = 52;
/// Annotation that asks for the unsafe quorum-loss recovery from one pod (docs/runbooks.md).
pub const FORCE_NEW_CLUSTER_ANNOTATION: &str = "jumpnet.io/force-new-cluster";

/// Desired state of a Jumpnet broker cluster.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "jumpnet.io",
    version = "v1alpha1",
    kind = "JumpnetCluster",
    plural = "jumpnetclusters",
    singular = "jumpnetcluster",
    shortname = "jn",
    category = "jumpnet",
    namespaced,
    status = "JumpnetClusterStatus",
    derive = "PartialEq",
    doc = "A replicated Jumpnet message broker cluster managed by jumpnet-operator",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    // JSON form: the structured form repeats `type_ = ...`, which clippy flags as duplicated.
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".spec.replicas","description":"desired brokers"}"#,
    printcolumn = r#"{"name":"Ready","type":"integer","jsonPath":".status.readyReplicas","description":"ready brokers"}"#,
    printcolumn = r#"{"name":"Leader","type":"string","jsonPath":".status.leader","description":"pod of the Raft leader"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct JumpnetClusterSpec {
    /// Number of brokers (Raft voters), 1 to 9. Odd numbers tolerate the most failures per node.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 1, max = 9))]
    pub replicas: i32,
    /// Broker image; its `jumpnet` binary must be on PATH.
    #[serde(default = "default_image")]
    pub image: String,
    /// Image pull policy of the broker container (Kubernetes' default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "pull_policy_schema")]
    pub image_pull_policy: Option<PullPolicy>,
    #[serde(default)]
    pub storage: StorageSpec,
    /// CPU/memory requests and limits of the broker container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(default)]
    pub config: BrokerConfig,
    #[serde(default)]
    pub service: ServiceSpec,
    #[serde(default)]
    pub auth: AuthSpec,
    #[serde(default)]
    pub tls: TlsSpec,
    #[serde(default)]
    pub kafka: KafkaSpec,
    #[serde(default)]
    pub metrics: MetricsSpec,
    #[serde(default)]
    pub pod_template: PodTemplateSpec,
    #[serde(default)]
    pub rollout: RolloutSpec,
    /// Start a new cluster from a backup (used once, when the cluster is bootstrapped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreSpec>,
}

/// A plain string enum: the derived `Option<enum>` schema lists `null` among the values, which
/// an API server may reject.
fn pull_policy_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": ["Always", "IfNotPresent", "Never"],
        "description": "Image pull policy of the broker container (Kubernetes' default when unset)."
    })
}

fn default_replicas() -> i32 {
    3
}
fn default_image() -> String {
    DEFAULT_IMAGE.to_string()
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// Persistent storage of each broker (one PVC `data-NAME-N` per pod). The size may grow (the
/// operator expands every PVC; the StorageClass must allow volume expansion) but never shrink,
/// and the class is fixed once the cluster exists: the API server refuses both edits (CEL).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": STORAGE_SIZE_RULE,
        "message": "spec.storage.size can only grow: a volume cannot shrink",
        "reason": "FieldValueForbidden",
        "fieldPath": ".size"
    },
    {
        "rule": STORAGE_CLASS_RULE,
        "message": "spec.storage.storageClassName cannot change once the cluster exists",
        "reason": "FieldValueForbidden",
        "fieldPath": ".storageClassName"
    }
]))]
pub struct StorageSpec {
    /// Requested volume size, a Kubernetes quantity; may only grow.
    #[serde(default = "default_storage_size")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    pub size: String,
    /// Storage class of the PVCs; the cluster default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Delete a removed broker's PVC after scale-down, so a later scale-up starts it empty.
    #[serde(default)]
    pub delete_claim_on_scale_down: bool,
}

fn default_storage_size() -> String {
    "1Gi".to_string()
}

/// CEL transition rule (Kubernetes quantity library, 1.29+): the size never shrinks.
pub const STORAGE_SIZE_RULE: &str = "quantity(self.size).compareTo(quantity(oldSelf.size)) >= 0";
/// CEL transition rule: the storage class is immutable (also from unset to set).
pub const STORAGE_CLASS_RULE: &str = "has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)";
/// CEL rule on the whole object: a name every derived object can carry.
pub const NAME_RULE: &str =
    "self.metadata.name.size() <= 52 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')";

impl Default for StorageSpec {
    fn default() -> Self {
        Self {
            size: default_storage_size(),
            storage_class_name: None,
            delete_claim_on_scale_down: false,
        }
    }
}

/// Node-wide broker settings, passed as `jumpnet serve` flags.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerConfig {
    /// Retention defaults for topics without their own.
    #[serde(default)]
    pub retention: RetentionSpec,
    /// Largest accepted message in bytes (broker default 1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<i64>", range(min = 1))]
    pub max_message_bytes: Option<u64>,
    /// Largest accepted request in bytes (broker default 8 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<i64>", range(min = 1))]
    pub max_request_bytes: Option<u64>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetentionSpec {
    /// Keep at most this many messages per topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<i64>", range(min = 1))]
    pub max_messages: Option<u64>,
    /// Keep at most this many bytes per topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<i64>", range(min = 1))]
    pub max_bytes: Option<u64>,
    /// Drop messages older than this many milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<i64>", range(min = 1))]
    pub max_age_ms: Option<u64>,
}

/// The client Service `NAME` (port `http` 9090).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(default, rename = "type")]
    pub type_: ServiceType,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClusterIP => "ClusterIP",
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
        }
    }
}

/// Token auth (SPEC §5). When enabled the operator generates Secret `NAME-auth` once.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct AuthSpec {
    #[serde(default)]
    pub enabled: bool,
}

/// TLS on the client API and mutual TLS between brokers (SPEC §10), from cert-manager
/// (`issuerRef`: the operator makes Certificate `NAME`, written to Secret `NAME-tls`) or from a
/// Secret of your own (`secretName`). Either Secret holds `tls.crt`, `tls.key` and `ca.crt`; its
/// certificate must name the client Service and every pod (`*.NAME-headless.NS.svc[.DOMAIN]`)
/// and allow both server and client auth. Until the Secret is there the cluster is `Degraded`
/// (`TLSNotReady`) and no broker pod is created or changed.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": TLS_SOURCE_RULE,
        "message": "spec.tls.enabled needs spec.tls.issuerRef (cert-manager) or spec.tls.secretName (a Secret with tls.crt, tls.key and ca.crt)",
        "reason": "FieldValueRequired"
    }
]))]
pub struct TlsSpec {
    #[serde(default)]
    pub enabled: bool,
    /// cert-manager issuer of the brokers' certificate (Certificate `NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_ref: Option<IssuerRef>,
    /// The Secret with `tls.crt`, `tls.key`, `ca.crt`: yours when there is no `issuerRef`, else
    /// where cert-manager writes (default `NAME-tls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: Option<String>,
}

/// CEL rule on `spec.tls`: where the certificate comes from must be said.
pub const TLS_SOURCE_RULE: &str = "!self.enabled || has(self.issuerRef) || has(self.secretName)";

/// A cert-manager issuer.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerRef {
    #[schemars(length(min = 1))]
    pub name: String,
    /// `Issuer` (in the cluster's namespace) or `ClusterIssuer`.
    #[serde(default)]
    pub kind: IssuerKind,
    /// API group of the issuer (`cert-manager.io` when unset; external issuers have their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum IssuerKind {
    #[default]
    Issuer,
    ClusterIssuer,
}

impl IssuerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issuer => "Issuer",
            Self::ClusterIssuer => "ClusterIssuer",
        }
    }
}

/// The Kafka wire-protocol listener (SPEC §8) on every broker, port `kafka` of the client and
/// headless Services. Each broker advertises its own stable name
/// `NAME-N.NAME-headless.NS.svc:PORT` to Kafka clients.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": KAFKA_PORT_RULE,
        "message": "spec.kafka.port cannot be 8080 or 9090 (the broker's raft and API ports)",
        "reason": "FieldValueInvalid",
        "fieldPath": ".port"
    }
]))]
pub struct KafkaSpec {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "default_kafka_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
}

/// CEL rule on `spec.kafka`: the listener needs a port of its own.
pub const KAFKA_PORT_RULE: &str = "self.port != 8080 && self.port != 9090";

fn default_kafka_port() -> i32 {
    9093
}

impl Default for KafkaSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            port: default_kafka_port(),
        }
    }
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSpec {
    #[serde(default)]
    pub service_monitor: ServiceMonitorSpec,
}

/// A prometheus-operator ServiceMonitor `NAME`, created only when its CRD exists.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct ServiceMonitorSpec {
    #[serde(default)]
    pub enabled: bool,
    /// Scrape interval, a Prometheus duration.
    #[serde(default = "default_interval")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))]
    pub interval: String,
    /// Extra labels on the ServiceMonitor, e.g. the `release` label kube-prometheus-stack selects.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn default_interval() -> String {
    "30s".to_string()
}

impl Default for ServiceMonitorSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: default_interval(),
            labels: BTreeMap::new(),
        }
    }
}

/// Extra settings merged into the broker pods.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    /// Pull secrets for the broker image (a private registry or mirror).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// ServiceAccount of the broker pods (the brokers never call the Kubernetes API; its token is not
    /// mounted). The namespace's `default` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Pod-level security context; replaces the default (uid/gid/fsGroup 65532, RuntimeDefault
    /// seccomp), e.g. for OpenShift's `restricted-v2`, which assigns the uid itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    /// Seconds a broker gets to stop (default 30); must exceed `spec.rollout.drainSeconds` plus a
    /// leadership hand-over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub termination_grace_period_seconds: Option<i64>,
    /// Extra environment variables of the broker container (`JUMPNET_*` set broker flags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Extra pod labels (the operator's own labels win on conflict).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Scheduling affinity; by default a preferred pod anti-affinity spreads the brokers over nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// By default the brokers spread over zones where the cluster has several (`ScheduleAnyway`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

/// How pod restarts (image or config changes) proceed.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// A broker restarted on a new pod template that is not Ready within this many seconds stops
    /// the roll (`Degraded`, reason `RolloutStuck`); changing the spec back resumes without help.
    #[serde(default = "default_ready_timeout")]
    #[schemars(range(min = 10, max = 86400))]
    pub ready_timeout_seconds: i32,
    /// On termination a broker answers `/readyz` 503 but keeps serving this long, so Services
    /// and load balancers stop routing to it before it closes (`--shutdown-grace-ms`).
    #[serde(default = "default_drain")]
    #[schemars(range(min = 0, max = 300))]
    pub drain_seconds: i32,
}

fn default_ready_timeout() -> i32 {
    300
}
fn default_drain() -> i32 {
    5
}

impl Default for RolloutSpec {
    fn default() -> Self {
        Self {
            ready_timeout_seconds: default_ready_timeout(),
            drain_seconds: default_drain(),
        }
    }
}

/// A backup the new cluster starts from.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSpec {
    /// `http(s)://` URL of a snapshot taken with `GET /v1/admin/snapshot` (an object-store URL, or
    /// a broker of another cluster); the first broker loads it when the cluster is bootstrapped.
    #[schemars(regex(pattern = r"^https?://"))]
    pub from_url: String,
}

/// Observed state, written only by the operator.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JumpnetClusterStatus {
    /// Running, Bootstrapping, Scaling, Updating or Degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Broker pods that exist (the scale subresource's current replicas).
    #[serde(default)]
    pub replicas: i32,
    #[serde(default)]
    pub ready_replicas: i32,
    /// Label selector of the broker pods (for the scale subresource and HPA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Raft cluster id, set once at bootstrap (or adopted from the pods) and never changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Pod name of the Raft leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"]))]
    pub members: Vec<MemberStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// One Raft member as the leader reports it.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct MemberStatus {
    /// Raft node id, equal to the pod ordinal.
    #[schemars(with = "i64")]
    pub id: u64,
    pub pod: String,
    /// `voter` or `learner`.
    pub role: String,
}

/// A standard Kubernetes condition (`Ready`, `Progressing`, `Degraded`).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    #[serde(default)]
    pub message: String,
    /// RFC 3339; changes only when `status` changes.
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl JumpnetClusterSpec {
    /// The schema's checks, for code paths without an API server (`render`).
    pub fn validate(&self, name: &str) -> Result<()> {
        let invalid = |reason: String| Error::InvalidSpec {
            name: name.to_string(),
            reason,
        };
        if !(1..=MAX_REPLICAS).contains(&self.replicas) {
            return Err(invalid(format!(
                "spec.replicas must be between 1 and {MAX_REPLICAS}, got {}",
                self.replicas
            )));
        }
        if self.image.trim().is_empty() {
            return Err(invalid("spec.image must not be empty".into()));
        }
        if self.tls.enabled && self.tls.issuer_ref.is_none() && self.tls.secret_name.is_none() {
            return Err(invalid(
                "spec.tls.enabled needs spec.tls.issuerRef or spec.tls.secretName".into(),
            ));
        }
        if self.kafka.enabled && [8080, 9090].contains(&self.kafka.port) {
            return Err(invalid(format!(
                "spec.kafka.port {} is taken by the broker's raft or API port",
                self.kafka.port
            )));
        }
        if !valid_name(name) {
            return Err(invalid(format!(
                "metadata.name must be at most {MAX_NAME_LEN} characters of lower case letters, digits \
                 and '-', starting with a letter (it names the StatefulSet, its Services and pods)"
            )));
        }
        Ok(())
    }

    /// Desired broker count as an unsigned number (validated range).
    pub fn replica_count(&self) -> u32 {
        self.replicas.clamp(1, MAX_REPLICAS) as u32
    }
}

/// A name every derived object can carry (see [`NAME_RULE`]).
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME_LEN
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// The CRD: the derived one plus the rule on `metadata.name` at the root of the schema.
pub fn crd() -> CustomResourceDefinition {
    let mut crd = JumpnetCluster::crd();
    for v in &mut crd.spec.versions {
        if let Some(root) = v
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            root.x_kubernetes_validations = Some(vec![
                k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::ValidationRule {
                    rule: NAME_RULE.into(),
                    message: Some(format!(
                        "metadata.name must be at most {MAX_NAME_LEN} characters, start with a letter and hold only lower case letters, digits and '-'"
                    )),
                    reason: Some("FieldValueInvalid".into()),
                    ..Default::default()
                },
            ]);
        }
    }
    crd
}

/// The CRD as YAML, exactly what `jumpnet-operator crd` prints and `deploy/crd.yaml` holds.
pub fn crd_yaml() -> Result<String> {
    serde_yaml::to_string(&crd()).map_err(|source| Error::Yaml { source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec_schema() -> serde_json::Value {
        let crd = serde_json::to_value(crd()).unwrap();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    }

    #[test]
    fn crd_names_scope_and_subresources_match_spec() {
        let crd = serde_json::to_value(crd()).unwrap();
        assert_eq!(crd["metadata"]["name"], "jumpnetclusters.jumpnet.io");
        assert_eq!(crd["spec"]["group"], "jumpnet.io");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["spec"]["names"]["kind"], "JumpnetCluster");
        assert_eq!(crd["spec"]["names"]["shortNames"], json!(["jn"]));
        let v = &crd["spec"]["versions"][0];
        assert_eq!(v["name"], "v1alpha1");
        assert_eq!(
            v["subresources"]["scale"],
            json!({"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                   "labelSelectorPath": ".status.selector"})
        );
        assert_eq!(v["subresources"]["status"], json!({}));
        let columns: Vec<&str> = v["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(columns, ["Replicas", "Ready", "Leader", "Phase", "Age"]);
    }

    #[test]
    fn optional_enum_schema_lists_only_real_values() {
        let ipp = &spec_schema()["properties"]["spec"]["properties"]["imagePullPolicy"];
        assert_eq!(ipp["enum"], json!(["Always", "IfNotPresent", "Never"]));
        assert_eq!(ipp["type"], "string");
    }

    #[test]
    fn schema_bounds_replicas_to_one_through_nine() {
        let replicas = &spec_schema()["properties"]["spec"]["properties"]["replicas"];
        assert_eq!(replicas["minimum"].as_f64(), Some(1.0));
        assert_eq!(replicas["maximum"].as_f64(), Some(9.0));
        assert_eq!(replicas["default"], 3);
    }

    #[test]
    fn schema_has_every_spec_field_of_issue_4() {
        let spec = &spec_schema()["properties"]["spec"]["properties"];
        for field in [
            "replicas",
            "image",
            "imagePullPolicy",
            "storage",
            "resources",
            "config",
            "service",
            "auth",
            "metrics",
            "podTemplate",
        ] {
            assert!(
                spec.get(field).is_some(),
                "spec.{field} missing from the schema"
            );
        }
        for (path, field) in [
            ("storage", "size"),
            ("storage", "storageClassName"),
            ("storage", "deleteClaimOnScaleDown"),
            ("config", "retention"),
            ("config", "maxMessageBytes"),
            ("service", "type"),
            ("service", "annotations"),
            ("auth", "enabled"),
            ("metrics", "serviceMonitor"),
            ("podTemplate", "affinity"),
            ("podTemplate", "tolerations"),
            ("podTemplate", "nodeSelector"),
            ("podTemplate", "topologySpreadConstraints"),
            ("podTemplate", "priorityClassName"),
            ("podTemplate", "labels"),
            ("podTemplate", "annotations"),
        ] {
            assert!(
                spec[path]["properties"].get(field).is_some(),
                "spec.{path}.{field} missing from the schema"
            );
        }
    }

    #[test]
    fn minimal_manifest_gets_defaults() {
        let jc: JumpnetCluster = serde_yaml::from_str(
            "apiVersion: jumpnet.io/v1alpha1\nkind: JumpnetCluster\nmetadata: {name: demo}\nspec: {}\n",
        )
        .unwrap();
        assert_eq!(jc.spec.replicas, 3);
        assert_eq!(jc.spec.image, DEFAULT_IMAGE);
        assert_eq!(jc.spec.storage.size, "1Gi");
        assert!(!jc.spec.auth.enabled);
        assert_eq!(jc.spec.metrics.service_monitor.interval, "30s");
    }

    #[test]
    fn storage_may_only_grow_and_keeps_its_class_by_cel_transition_rules() {
        let storage = &spec_schema()["properties"]["spec"]["properties"]["storage"];
        let rules = storage["x-kubernetes-validations"].as_array().unwrap();
        let by_path = |p: &str| {
            rules
                .iter()
                .find(|r| r["fieldPath"] == p)
                .unwrap_or_else(|| panic!("no rule for {p}: {rules:?}"))
        };
        let size = by_path(".size");
        assert_eq!(size["rule"], STORAGE_SIZE_RULE);
        assert!(STORAGE_SIZE_RULE.contains("oldSelf"), "a transition rule");
        assert!(STORAGE_SIZE_RULE
            .contains("quantity(self.size).compareTo(quantity(oldSelf.size)) >= 0"));
        assert_eq!(size["reason"], "FieldValueForbidden");
        let class = by_path(".storageClassName");
        assert_eq!(class["rule"], STORAGE_CLASS_RULE);
        assert!(class["message"].as_str().unwrap().contains("cannot change"));
        // both fields the rules name exist in the schema they sit on
        assert!(storage["properties"]["size"].is_object());
        assert!(storage["properties"]["storageClassName"].is_object());
    }

    #[test]
    fn cluster_names_are_bounded_by_a_root_rule_and_by_validate() {
        let root = spec_schema();
        let rules = root["x-kubernetes-validations"].as_array().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0]["rule"], NAME_RULE);
        assert!(NAME_RULE.contains(&MAX_NAME_LEN.to_string()));
        let spec: JumpnetClusterSpec = serde_json::from_value(json!({})).unwrap();
        for good in ["demo", "a", "jn-2", &"a".repeat(52)] {
            assert!(spec.validate(good).is_ok(), "{good}");
        }
        for bad in ["", "2fast", "Demo", "demo-", "de_mo", &"a".repeat(53)] {
            assert!(spec.validate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_unsigned_formats_in_the_schema() {
        // Kubernetes >= 1.34 warns on every apply about formats it does not know (uint64, uint32).
        let text = serde_json::to_string(&crd()).unwrap();
        assert!(
            !text.contains("\"format\":\"uint"),
            "unsigned formats left in the CRD"
        );
        let c = &spec_schema()["properties"]["status"]["properties"]["conditions"]["items"];
        assert_eq!(c["properties"]["lastTransitionTime"]["format"], "date-time");
    }

    #[test]
    fn rollout_restore_and_pod_template_fields_exist_with_defaults() {
        let spec = &spec_schema()["properties"]["spec"]["properties"];
        let rollout = &spec["rollout"]["properties"];
        assert_eq!(rollout["readyTimeoutSeconds"]["default"], 300);
        assert_eq!(rollout["drainSeconds"]["default"], 5);
        assert_eq!(spec["restore"]["required"], json!(["fromUrl"]));
        for f in [
            "imagePullSecrets",
            "serviceAccountName",
            "securityContext",
            "terminationGracePeriodSeconds",
            "env",
        ] {
            assert!(spec["podTemplate"]["properties"].get(f).is_some(), "{f}");
        }
        assert!(
            spec["metrics"]["properties"]["serviceMonitor"]["properties"]
                .get("labels")
                .is_some()
        );
        let jc: JumpnetCluster = serde_yaml::from_str(
            "apiVersion: jumpnet.io/v1alpha1\nkind: JumpnetCluster\nmetadata: {name: demo}\nspec: {}\n",
        )
        .unwrap();
        assert_eq!(jc.spec.rollout, RolloutSpec::default());
        assert_eq!(jc.spec.rollout.ready_timeout_seconds, 300);
    }

    #[test]
    fn tls_needs_a_source_and_kafka_its_own_port_by_cel_and_by_validate() {
        let spec = &spec_schema()["properties"]["spec"]["properties"];
        let tls = &spec["tls"];
        assert_eq!(tls["x-kubernetes-validations"][0]["rule"], TLS_SOURCE_RULE);
        for f in ["enabled", "issuerRef", "secretName"] {
            assert!(tls["properties"].get(f).is_some(), "spec.tls.{f}");
        }
        let issuer = &tls["properties"]["issuerRef"];
        assert_eq!(
            issuer["properties"]["kind"]["enum"],
            json!(["Issuer", "ClusterIssuer"])
        );
        assert_eq!(issuer["required"], json!(["name"]));
        let kafka = &spec["kafka"];
        assert_eq!(kafka["properties"]["port"]["default"], 9093);
        assert_eq!(
            kafka["x-kubernetes-validations"][0]["rule"],
            KAFKA_PORT_RULE
        );

        let parse =
            |v: serde_json::Value| -> JumpnetClusterSpec { serde_json::from_value(v).unwrap() };
        assert!(parse(json!({"tls": {"enabled": true}}))
            .validate("x")
            .is_err());
        assert!(parse(json!({"tls": {"enabled": true, "secretName": "s"}}))
            .validate("x")
            .is_ok());
        assert!(
            parse(json!({"tls": {"enabled": true, "issuerRef": {"name": "ca"}}}))
                .validate("x")
                .is_ok()
        );
        assert!(parse(json!({"tls": {"issuerRef": {"name": "ca"}}}))
            .validate("x")
            .is_ok());
        assert!(parse(json!({"kafka": {"enabled": true, "port": 9090}}))
            .validate("x")
            .is_err());
        let k = parse(json!({"kafka": {"enabled": true}}));
        assert_eq!(k.kafka.port, 9093);
        assert!(k.validate("x").is_ok());
    }

    #[test]
    fn validate_rejects_out_of_range_replicas() {
        let mut spec: JumpnetClusterSpec = serde_json::from_value(json!({})).unwrap();
        spec.replicas = 0;
        assert!(spec.validate("x").is_err());
        spec.replicas = 10;
        assert!(spec.validate("x").is_err());
        spec.replicas = 9;
        assert!(spec.validate("x").is_ok());
    }
}

//! The broker StatefulSet. Pods run `jumpnet serve --managed`: they never bootstrap or join on
//! their own, the operator drives membership (see `membership.rs`). `podManagementPolicy:
//! Parallel` starts all pods at once (a managed broker is harmless until admitted) and
//! `updateStrategy: OnDelete` leaves rolling restarts to the operator, which knows who leads.
//!
//! Clean stops: on SIGTERM a broker turns `/readyz` to 503 and keeps serving for
//! `spec.rollout.drainSeconds` (`--shutdown-grace-ms`) while endpoints and load balancers drop
//! it, hands leadership over, then closes; the grace period leaves room for all of it. That is
//! the drain a `preStop` sleep would give, without needing a shell or `sleep` in a `FROM scratch`
//! image, and it makes readiness fail first.
//!
//! Scheduling defaults (each replaced by its `spec.podTemplate` field): a preferred pod
//! anti-affinity on the hostname and a soft spread over zones, so one node or zone failure takes
//! as few voters as the cluster allows.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    HTTPGetAction, KeyToPath, ObjectFieldSelector, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodAffinityTerm, PodAntiAffinity, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, SeccompProfile, SecretVolumeSource, SecurityContext,
    TopologySpreadConstraint, Volume, VolumeMount, VolumeResourceRequirements,
    WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{common_labels, object_meta, selector_labels, Names, API_PORT, RAFT_PORT};
use super::{AuthTokens, CLUSTER_SECRET_KEY, TOKENS_KEY};
use super::{CA_KEY, PEER_TLS_ANNOTATION, PEER_TLS_MUTUAL, TLS_CERT_KEY, TLS_KEY_KEY, TLS_MOUNT};
use crate::crd::JumpnetCluster;

/// Name of the PVC template and its volume (PVCs are `data-NAME-i`).
pub const DATA_VOLUME: &str = "data";
/// Where the auth Secret's files are mounted.
pub const AUTH_MOUNT: &str = "/etc/jumpnet/auth";
/// Pod annotation: fingerprint of the cluster secret the pod was started with (auth on only).
/// Pods with different cluster secrets cannot talk, so a change restarts every pod at once.
pub const CLUSTER_SECRET_ANNOTATION: &str = "jumpnet.io/cluster-secret";
/// Pod annotation: fingerprint of the token file; a change is a normal rolling restart.
pub const TOKENS_ANNOTATION: &str = "jumpnet.io/tokens";
/// The distroless "nonroot" uid/gid.
const NONROOT: i64 = 65532;
/// Time a stopping broker needs besides the drain: a leadership hand-over and closing files.
const STOP_SLACK_SECONDS: i64 = 25;
/// Environment variables the operator sets itself; user `env` entries with these names are dropped.
const RESERVED_ENV: [&str; 2] = ["POD_NAME", "POD_NAMESPACE"];

/// `jumpnet` arguments of the broker container (after the `jumpnet` command).
pub fn broker_args(jc: &JumpnetCluster, names: &Names) -> Vec<String> {
    let host = format!(
        "$(POD_NAME).{}.$(POD_NAMESPACE).svc.{}",
        names.headless(),
        names.cluster_domain
    );
    let mut args = vec![
        "serve".to_string(),
        "--managed".into(),
        "--state-dir=/data".into(),
        format!("--raft=0.0.0.0:{RAFT_PORT}"),
        format!("--api=0.0.0.0:{API_PORT}"),
        format!("--advertise-raft={host}:{RAFT_PORT}"),
        format!("--advertise-api={host}:{API_PORT}"),
        "--log-format=json".into(),
        format!(
            "--shutdown-grace-ms={}",
            i64::from(jc.spec.rollout.drain_seconds.max(0)) * 1000
        ),
    ];
    if jc.spec.auth.enabled {
        args.push(format!("--auth-file={AUTH_MOUNT}/{TOKENS_KEY}"));
        args.push(format!(
            "--cluster-secret-file={AUTH_MOUNT}/{CLUSTER_SECRET_KEY}"
        ));
    }
    if jc.spec.tls.enabled {
        // One certificate for the API and both ends of the raft port; the CA also lets a broker
        // call another's API over https (`--restore-from`, `--join`).
        args.extend([
            format!("--tls-cert={TLS_MOUNT}/{TLS_CERT_KEY}"),
            format!("--tls-key={TLS_MOUNT}/{TLS_KEY_KEY}"),
            format!("--peer-tls-cert={TLS_MOUNT}/{TLS_CERT_KEY}"),
            format!("--peer-tls-key={TLS_MOUNT}/{TLS_KEY_KEY}"),
            format!("--peer-tls-ca={TLS_MOUNT}/{CA_KEY}"),
            format!("--cacert={TLS_MOUNT}/{CA_KEY}"),
        ]);
    }
    if jc.spec.kafka.enabled {
        let port = jc.spec.kafka.port;
        args.push(format!("--kafka=0.0.0.0:{port}"));
        // The name SPEC §6 promises Kafka clients; it is in the TLS certificate too.
        args.push(format!(
            "--advertise-kafka=$(POD_NAME).{}.$(POD_NAMESPACE).svc:{port}",
            names.headless()
        ));
    }
    let cfg = &jc.spec.config;
    let numeric = [
        ("--retention-max-messages", cfg.retention.max_messages),
        ("--retention-max-bytes", cfg.retention.max_bytes),
        ("--retention-max-age-ms", cfg.retention.max_age_ms),
        ("--max-message-bytes", cfg.max_message_bytes),
        ("--max-request-bytes", cfg.max_request_bytes),
    ];
    args.extend(
        numeric
            .into_iter()
            .filter_map(|(flag, v)| v.map(|v| format!("{flag}={v}"))),
    );
    args
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// `https`: the API port speaks nothing but TLS (the kubelet does not verify the certificate).
/// Plain probes leave `scheme` unset as before, so an operator upgrade changes no pod template.
fn http_probe(path: &str, https: bool, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            scheme: https.then(|| "HTTPS".to_string()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: number,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }
}

fn container(jc: &JumpnetCluster, names: &Names) -> Container {
    let mut mounts = vec![
        VolumeMount {
            name: DATA_VOLUME.into(),
            mount_path: "/data".into(),
            ..VolumeMount::default()
        },
        VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..VolumeMount::default()
        },
    ];
    if jc.spec.auth.enabled {
        mounts.push(VolumeMount {
            name: "auth".into(),
            mount_path: AUTH_MOUNT.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }
    if jc.spec.tls.enabled {
        mounts.push(VolumeMount {
            name: "tls".into(),
            mount_path: TLS_MOUNT.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }
    let mut env = vec![
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_NAMESPACE", "metadata.namespace"),
    ];
    env.extend(
        jc.spec
            .pod_template
            .env
            .iter()
            .filter(|e| !RESERVED_ENV.contains(&e.name.as_str()))
            .cloned(),
    );
    let mut ports = vec![port("raft", RAFT_PORT), port("http", API_PORT)];
    if jc.spec.kafka.enabled {
        ports.push(port("kafka", jc.spec.kafka.port));
    }
    let https = jc.spec.tls.enabled;
    Container {
        name: "jumpnet".into(),
        image: Some(jc.spec.image.clone()),
        image_pull_policy: jc.spec.image_pull_policy.map(|p| p.as_str().to_string()),
        command: Some(vec!["jumpnet".into()]),
        args: Some(broker_args(jc, names)),
        env: Some(env),
        ports: Some(ports),
        // Opening a large state (sled, the WAL, the topic logs) may take a while: liveness only
        // counts once the API answered.
        startup_probe: Some(http_probe("/livez", https, 2, 90)),
        liveness_probe: Some(http_probe("/livez", https, 10, 3)),
        readiness_probe: Some(http_probe("/readyz", https, 5, 2)),
        resources: jc.spec.resources.clone(),
        // The uid comes from the pod-level context (`spec.podTemplate.securityContext` may replace it).
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            seccomp_profile: Some(runtime_default()),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        ..SeccompProfile::default()
    }
}

/// The `auth` volume exists only while auth is on: with it off the pods mount none of Secret
/// `NAME-auth` (which is kept for when auth comes back). Server-side apply drops the list item when
/// the operator stops applying it.
fn volumes(jc: &JumpnetCluster, names: &Names) -> Vec<Volume> {
    let item = |key: &str| KeyToPath {
        key: key.into(),
        path: key.into(),
        ..KeyToPath::default()
    };
    let mut volumes = vec![Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }];
    if jc.spec.auth.enabled {
        volumes.push(Volume {
            name: "auth".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(names.auth()),
                // Only what the broker reads: the operator's own token stays out of the pods' files.
                items: Some(vec![item(TOKENS_KEY), item(CLUSTER_SECRET_KEY)]),
                default_mode: Some(0o440),
                optional: Some(false),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    if jc.spec.tls.enabled {
        volumes.push(Volume {
            name: "tls".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(super::tls_secret_name(jc, names)),
                // Whole files, no subPath: the kubelet swaps them on renewal and the broker
                // re-reads them.
                items: Some(vec![item(TLS_CERT_KEY), item(TLS_KEY_KEY), item(CA_KEY)]),
                default_mode: Some(0o440),
                optional: Some(false),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    volumes
}

/// Preferred, not required: a cluster with fewer nodes than brokers still schedules.
fn default_affinity(names: &Names) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(LabelSelector {
                            match_labels: Some(selector_labels(&names.name)),
                            ..LabelSelector::default()
                        }),
                        topology_key: "kubernetes.io/hostname".into(),
                        ..PodAffinityTerm::default()
                    },
                },
            ]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    }
}

fn default_zone_spread(names: &Names) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew: 1,
        topology_key: "topology.kubernetes.io/zone".into(),
        when_unsatisfiable: "ScheduleAnyway".into(),
        label_selector: Some(LabelSelector {
            match_labels: Some(selector_labels(&names.name)),
            ..LabelSelector::default()
        }),
        ..TopologySpreadConstraint::default()
    }
}

fn default_pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(NONROOT),
        run_as_group: Some(NONROOT),
        fs_group: Some(NONROOT),
        // Only when the volume's root is not the group's yet: no recursive chown of a large /data
        // on every start.
        fs_group_change_policy: Some("OnRootMismatch".into()),
        seccomp_profile: Some(runtime_default()),
        ..PodSecurityContext::default()
    }
}

/// `terminationGracePeriodSeconds`: the user's, else the drain plus a hand-over, at least 30 s.
fn grace_period(jc: &JumpnetCluster) -> i64 {
    jc.spec
        .pod_template
        .termination_grace_period_seconds
        .unwrap_or_else(|| (i64::from(jc.spec.rollout.drain_seconds) + STOP_SLACK_SECONDS).max(30))
}

fn non_empty_vec<T: Clone>(v: &[T]) -> Option<Vec<T>> {
    (!v.is_empty()).then(|| v.to_vec())
}

fn pod_template(jc: &JumpnetCluster, names: &Names, auth: Option<&AuthTokens>) -> PodTemplateSpec {
    let extra = &jc.spec.pod_template;
    let mut labels: BTreeMap<String, String> = extra.labels.clone();
    labels.extend(common_labels(&names.name));
    let mut annotations = extra.annotations.clone();
    if let Some(auth) = auth.filter(|_| jc.spec.auth.enabled) {
        annotations.insert(
            CLUSTER_SECRET_ANNOTATION.into(),
            auth.cluster_secret_fingerprint(),
        );
        annotations.insert(TOKENS_ANNOTATION.into(), auth.tokens_fingerprint());
    }
    if jc.spec.tls.enabled {
        annotations.insert(PEER_TLS_ANNOTATION.into(), PEER_TLS_MUTUAL.into());
    }
    let non_empty = |m: &BTreeMap<String, String>| (!m.is_empty()).then(|| m.clone());
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: non_empty(&annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![container(jc, names)],
            volumes: Some(volumes(jc, names)),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            service_account_name: extra.service_account_name.clone(),
            image_pull_secrets: non_empty_vec(&extra.image_pull_secrets),
            termination_grace_period_seconds: Some(grace_period(jc)),
            security_context: Some(
                extra
                    .security_context
                    .clone()
                    .unwrap_or_else(default_pod_security),
            ),
            affinity: Some(
                extra
                    .affinity
                    .clone()
                    .unwrap_or_else(|| default_affinity(names)),
            ),
            tolerations: non_empty_vec(&extra.tolerations),
            node_selector: non_empty(&extra.node_selector),
            topology_spread_constraints: Some(if extra.topology_spread_constraints.is_empty() {
                vec![default_zone_spread(names)]
            } else {
                extra.topology_spread_constraints.clone()
            }),
            priority_class_name: extra.priority_class_name.clone(),
            ..PodSpec::default()
        }),
    }
}

fn claim_template(jc: &JumpnetCluster, names: &Names) -> PersistentVolumeClaim {
    let storage = &jc.spec.storage;
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(DATA_VOLUME.into()),
            labels: Some(common_labels(&names.name)),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity(storage.size.clone()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// The StatefulSet `NAME` with `replicas` pods (decided by the membership logic, which keeps
/// it above `spec.replicas` until removed members are out of Raft). With auth on, `auth` is the
/// material of Secret `NAME-auth`: its fingerprints go into the pod template.
pub fn statefulset(
    jc: &JumpnetCluster,
    names: &Names,
    replicas: u32,
    auth: Option<&AuthTokens>,
) -> StatefulSet {
    StatefulSet {
        metadata: object_meta(jc, names, names.name.clone()),
        spec: StatefulSetSpec {
            replicas: Some(replicas as i32),
            service_name: Some(names.headless()),
            selector: LabelSelector {
                match_labels: Some(selector_labels(&names.name)),
                ..LabelSelector::default()
            },
            pod_management_policy: Some("Parallel".into()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("OnDelete".into()),
                ..StatefulSetUpdateStrategy::default()
            }),
            template: pod_template(jc, names, auth),
            volume_claim_templates: Some(vec![claim_template(jc, names)]),
            ..StatefulSetSpec::default()
        },
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::cluster;

    fn build(spec: &str) -> StatefulSet {
        let jc = cluster(spec);
        let names = Names::of(&jc, "cluster.local").unwrap();
        statefulset(&jc, &names, jc.spec.replica_count(), None)
    }

    fn broker(sts: &StatefulSet) -> Container {
        let pod = &sts.spec.template.spec.as_ref().unwrap();
        assert_eq!(pod.containers.len(), 1);
        pod.containers[0].clone()
    }

    #[test]
    fn statefulset_identity_and_policies() {
        let sts = build("replicas: 5");
        let spec = &sts.spec;
        assert_eq!(sts.metadata.name.as_deref(), Some("demo"));
        assert_eq!(spec.replicas, Some(5));
        assert_eq!(spec.service_name.as_deref(), Some("demo-headless"));
        assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
        assert_eq!(
            spec.update_strategy.as_ref().unwrap().type_.as_deref(),
            Some("OnDelete")
        );
        let selector = spec.selector.match_labels.as_ref().unwrap();
        let pod_labels = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap();
        for (k, v) in selector {
            assert_eq!(
                pod_labels.get(k),
                Some(v),
                "pod template must match selector {k}"
            );
        }
        assert_eq!(selector.len(), 2, "selector stays minimal: it is immutable");
    }

    #[test]
    fn broker_runs_managed_with_headless_dns_advertise_addresses() {
        let c = broker(&build(""));
        assert_eq!(c.name, "jumpnet");
        assert_eq!(c.command, Some(vec!["jumpnet".to_string()]));
        assert_eq!(
            c.args.unwrap(),
            [
                "serve",
                "--managed",
                "--state-dir=/data",
                "--raft=0.0.0.0:8080",
                "--api=0.0.0.0:9090",
                "--advertise-raft=$(POD_NAME).demo-headless.$(POD_NAMESPACE).svc.cluster.local:8080",
                "--advertise-api=$(POD_NAME).demo-headless.$(POD_NAMESPACE).svc.cluster.local:9090",
                "--log-format=json",
                "--shutdown-grace-ms=5000",
            ]
        );
        let env = c.env.unwrap();
        let field = |name: &str| {
            env.iter()
                .find(|e| e.name == name)
                .unwrap()
                .value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path
                .clone()
        };
        assert_eq!(field("POD_NAME"), "metadata.name");
        assert_eq!(field("POD_NAMESPACE"), "metadata.namespace");
    }

    #[test]
    fn config_and_auth_become_flags_and_a_read_only_mount() {
        let sts = build(
            "auth: {enabled: true}\nconfig:\n  maxMessageBytes: 2048\n  retention: {maxMessages: 100, maxAgeMs: 60000}",
        );
        let c = broker(&sts);
        let args = c.args.clone().unwrap();
        for flag in [
            "--auth-file=/etc/jumpnet/auth/tokens",
            "--cluster-secret-file=/etc/jumpnet/auth/cluster-secret",
            "--retention-max-messages=100",
            "--retention-max-age-ms=60000",
            "--max-message-bytes=2048",
        ] {
            assert!(
                args.contains(&flag.to_string()),
                "missing {flag} in {args:?}"
            );
        }
        assert!(!args.iter().any(|a| a.starts_with("--retention-max-bytes")));
        let mount = c
            .volume_mounts
            .unwrap()
            .into_iter()
            .find(|m| m.name == "auth")
            .unwrap();
        assert_eq!(mount.mount_path, "/etc/jumpnet/auth");
        assert_eq!(mount.read_only, Some(true));
        let pod = sts.spec.template.spec.unwrap();
        let vol = pod
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == "auth")
            .unwrap();
        let secret = vol.secret.unwrap();
        assert_eq!(secret.secret_name.as_deref(), Some("demo-auth"));
        let keys: Vec<_> = secret.items.unwrap().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["tokens", "cluster-secret"]);
    }

    #[test]
    fn the_auth_secret_is_mounted_only_while_auth_is_on() {
        let (on, off) = (build("auth: {enabled: true}"), build(""));
        let shape = |sts: &StatefulSet| {
            let pod = sts.spec.template.spec.clone().unwrap();
            let volumes: Vec<String> = pod.volumes.unwrap().into_iter().map(|v| v.name).collect();
            let mounts: Vec<String> = pod.containers[0]
                .volume_mounts
                .clone()
                .unwrap()
                .into_iter()
                .map(|m| m.name)
                .collect();
            (volumes, mounts)
        };
        assert_eq!(
            shape(&on),
            (
                vec!["tmp".to_string(), "auth".to_string()],
                vec!["data".to_string(), "tmp".to_string(), "auth".to_string()]
            )
        );
        assert_eq!(
            shape(&off),
            (
                vec!["tmp".to_string()],
                vec!["data".to_string(), "tmp".to_string()]
            ),
            "with auth off no file of Secret NAME-auth reaches the pods"
        );
        let pod = on.spec.template.spec.clone().unwrap();
        let auth = pod.volumes.unwrap().into_iter().find(|v| v.name == "auth");
        assert_eq!(
            auth.unwrap().secret.unwrap().optional,
            Some(false),
            "a missing Secret must stop the pod"
        );
        let secret_flags = |sts: &StatefulSet| {
            broker(sts)
                .args
                .unwrap()
                .into_iter()
                .filter(|a| a.starts_with("--auth-file") || a.starts_with("--cluster-secret"))
                .count()
        };
        assert_eq!((secret_flags(&on), secret_flags(&off)), (2, 0));
    }

    #[test]
    fn auth_fingerprints_annotate_the_pod_template() {
        let jc = cluster("auth: {enabled: true}\npodTemplate:\n  annotations: {note: x}");
        let names = Names::of(&jc, "cluster.local").unwrap();
        let tokens = AuthTokens::generate();
        let annotations = |sts: StatefulSet| sts.spec.template.metadata.unwrap().annotations;
        let a = annotations(statefulset(&jc, &names, 3, Some(&tokens))).unwrap();
        assert_eq!(
            a[CLUSTER_SECRET_ANNOTATION],
            tokens.cluster_secret_fingerprint()
        );
        assert_eq!(a[TOKENS_ANNOTATION], tokens.tokens_fingerprint());
        assert_eq!(a["note"], "x", "user annotations kept");

        let open = cluster("podTemplate:\n  annotations: {note: x}");
        let a = annotations(statefulset(&open, &names, 3, Some(&tokens))).unwrap();
        assert!(!a.contains_key(CLUSTER_SECRET_ANNOTATION) && !a.contains_key(TOKENS_ANNOTATION));
    }

    #[test]
    fn ports_and_probes() {
        let c = broker(&build(""));
        let ports: Vec<_> = c
            .ports
            .unwrap()
            .into_iter()
            .map(|p| (p.name.unwrap(), p.container_port))
            .collect();
        assert_eq!(
            ports,
            [("raft".to_string(), 8080), ("http".to_string(), 9090)]
        );
        let startup = c.startup_probe.unwrap();
        assert_eq!(startup.http_get.unwrap().path.as_deref(), Some("/livez"));
        assert!(
            startup.period_seconds.unwrap() * startup.failure_threshold.unwrap() >= 180,
            "a large state may take minutes to open"
        );
        let live = c.liveness_probe.unwrap().http_get.unwrap();
        let ready = c.readiness_probe.unwrap().http_get.unwrap();
        assert_eq!(live.path.as_deref(), Some("/livez"));
        assert_eq!(ready.path.as_deref(), Some("/readyz"));
        assert_eq!(live.port, IntOrString::String("http".into()));
        assert_eq!(ready.port, IntOrString::String("http".into()));
    }

    #[test]
    fn tls_mounts_the_secret_serves_https_and_makes_the_raft_port_mutual() {
        let jc = cluster("tls: {enabled: true, issuerRef: {name: ca}}");
        let names = Names::of(&jc, "cluster.local").unwrap();
        let sts = statefulset(&jc, &names, 3, None);
        let c = broker(&sts);
        let args = c.args.clone().unwrap();
        for flag in [
            "--tls-cert=/etc/jumpnet/tls/tls.crt",
            "--tls-key=/etc/jumpnet/tls/tls.key",
            "--peer-tls-cert=/etc/jumpnet/tls/tls.crt",
            "--peer-tls-key=/etc/jumpnet/tls/tls.key",
            "--peer-tls-ca=/etc/jumpnet/tls/ca.crt",
        ] {
            assert!(
                args.contains(&flag.to_string()),
                "missing {flag} in {args:?}"
            );
        }
        for probe in [&c.startup_probe, &c.liveness_probe, &c.readiness_probe] {
            let get = probe.clone().unwrap().http_get.unwrap();
            assert_eq!(get.scheme.as_deref(), Some("HTTPS"));
        }
        let mount = c
            .volume_mounts
            .unwrap()
            .into_iter()
            .find(|m| m.name == "tls")
            .unwrap();
        assert_eq!(
            (mount.mount_path.as_str(), mount.read_only),
            ("/etc/jumpnet/tls", Some(true))
        );
        assert!(mount.sub_path.is_none(), "renewed files must reach the pod");
        let pod = sts.spec.template.spec.clone().unwrap();
        let secret = pod
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == "tls")
            .unwrap()
            .secret
            .unwrap();
        assert_eq!(secret.secret_name.as_deref(), Some("demo-tls"));
        let keys: Vec<_> = secret.items.unwrap().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["tls.crt", "tls.key", "ca.crt"]);
        let annotations = sts.spec.template.metadata.unwrap().annotations.unwrap();
        assert_eq!(annotations[PEER_TLS_ANNOTATION], "mutual");

        // the user's own Secret
        let own = cluster("tls: {enabled: true, secretName: mine}");
        let pod = statefulset(&own, &names, 3, None)
            .spec
            .template
            .spec
            .unwrap();
        let vol = pod.volumes.unwrap().into_iter().find(|v| v.name == "tls");
        assert_eq!(
            vol.unwrap().secret.unwrap().secret_name.as_deref(),
            Some("mine")
        );

        // off: no flag, no volume, plain probes, no annotation
        let plain = build("");
        let c = broker(&plain);
        assert!(!c.args.unwrap().iter().any(|a| a.contains("tls")));
        assert_eq!(c.readiness_probe.unwrap().http_get.unwrap().scheme, None);
        assert!(plain.spec.template.metadata.unwrap().annotations.is_none());
    }

    #[test]
    fn kafka_opens_its_listener_and_advertises_each_pods_stable_name() {
        let c = broker(&build("kafka: {enabled: true}"));
        let args = c.args.unwrap();
        assert!(
            args.contains(&"--kafka=0.0.0.0:9093".to_string()),
            "{args:?}"
        );
        assert!(args.contains(
            &"--advertise-kafka=$(POD_NAME).demo-headless.$(POD_NAMESPACE).svc:9093".to_string()
        ));
        let ports: Vec<_> = c
            .ports
            .unwrap()
            .into_iter()
            .map(|p| (p.name.unwrap(), p.container_port))
            .collect();
        assert_eq!(ports.last().unwrap(), &("kafka".to_string(), 9093));
        let c = broker(&build("kafka: {enabled: true, port: 19092}"));
        assert!(c
            .args
            .unwrap()
            .contains(&"--kafka=0.0.0.0:19092".to_string()));
        assert!(!broker(&build(""))
            .args
            .unwrap()
            .iter()
            .any(|a| a.contains("kafka")));
    }

    #[test]
    fn restricted_security_context() {
        let sts = build("");
        let c = broker(&sts);
        let sc = c.security_context.unwrap();
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(
            sc.run_as_user, None,
            "the uid is the pod's, so podTemplate can replace it"
        );
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.capabilities.unwrap().drop, Some(vec!["ALL".to_string()]));
        assert_eq!(sc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        let pod = sts.spec.template.spec.unwrap();
        let psc = pod.security_context.unwrap();
        assert_eq!(psc.run_as_non_root, Some(true));
        assert_eq!(psc.run_as_user, Some(65532));
        assert_eq!(
            psc.fs_group,
            Some(65532),
            "the PVC must be writable by the broker"
        );
        assert_eq!(
            psc.fs_group_change_policy.as_deref(),
            Some("OnRootMismatch")
        );
        assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
    }

    #[test]
    fn brokers_spread_over_nodes_and_zones_by_default() {
        let pod = build("").spec.template.spec.unwrap();
        let anti = pod.affinity.unwrap().pod_anti_affinity.unwrap();
        assert!(anti
            .required_during_scheduling_ignored_during_execution
            .is_none());
        let pref = &anti
            .preferred_during_scheduling_ignored_during_execution
            .unwrap()[0];
        assert_eq!(pref.weight, 100);
        assert_eq!(
            pref.pod_affinity_term.topology_key,
            "kubernetes.io/hostname"
        );
        assert_eq!(
            pref.pod_affinity_term
                .label_selector
                .clone()
                .unwrap()
                .match_labels
                .unwrap(),
            selector_labels("demo")
        );
        let spread = &pod.topology_spread_constraints.unwrap()[0];
        assert_eq!(spread.topology_key, "topology.kubernetes.io/zone");
        assert_eq!(spread.when_unsatisfiable, "ScheduleAnyway");
        assert_eq!(
            spread.label_selector.clone().unwrap().match_labels.unwrap(),
            selector_labels("demo")
        );
        // a user's own rules replace the defaults
        let pod = build(
            "podTemplate:\n  affinity: {nodeAffinity: {}}\n  topologySpreadConstraints: [{maxSkew: 2, topologyKey: k, whenUnsatisfiable: DoNotSchedule}]",
        )
        .spec
        .template
        .spec
        .unwrap();
        assert!(pod.affinity.unwrap().pod_anti_affinity.is_none());
        let spread = pod.topology_spread_constraints.unwrap();
        assert_eq!((spread.len(), spread[0].max_skew), (1, 2));
    }

    #[test]
    fn stopping_brokers_drain_within_the_grace_period() {
        let sts = build("rollout: {drainSeconds: 10}");
        let args = broker(&sts).args.unwrap();
        assert!(args.contains(&"--shutdown-grace-ms=10000".to_string()));
        let grace = sts
            .spec
            .template
            .spec
            .unwrap()
            .termination_grace_period_seconds;
        assert_eq!(grace, Some(35), "drain + hand-over slack");
        let sts = build("rollout: {drainSeconds: 0}");
        assert!(broker(&sts)
            .args
            .unwrap()
            .contains(&"--shutdown-grace-ms=0".to_string()));
        assert_eq!(
            sts.spec
                .template
                .spec
                .unwrap()
                .termination_grace_period_seconds,
            Some(30)
        );
    }

    #[test]
    fn data_claim_template_mounted_at_data() {
        let sts = build("storage: {size: 5Gi, storageClassName: fast}");
        let spec = sts.spec.clone();
        let claim = &spec.volume_claim_templates.unwrap()[0];
        assert_eq!(claim.metadata.name.as_deref(), Some("data"));
        let cs = claim.spec.clone().unwrap();
        assert_eq!(cs.storage_class_name.as_deref(), Some("fast"));
        assert_eq!(cs.resources.unwrap().requests.unwrap()["storage"].0, "5Gi");
        let mounts = broker(&sts).volume_mounts.unwrap();
        assert!(mounts
            .iter()
            .any(|m| m.name == "data" && m.mount_path == "/data"));
    }

    #[test]
    fn pod_template_settings_are_passed_through() {
        let sts = build(
            "podTemplate:\n  labels: {team: a, app.kubernetes.io/instance: spoofed}\n  annotations: {note: x}\n  nodeSelector: {disk: ssd}\n  priorityClassName: high\n  tolerations: [{key: k, operator: Exists}]",
        );
        let tpl = sts.spec.template;
        let meta = tpl.metadata.unwrap();
        let labels = meta.labels.unwrap();
        assert_eq!(labels["team"], "a");
        assert_eq!(
            labels["app.kubernetes.io/instance"], "demo",
            "operator labels win"
        );
        assert_eq!(meta.annotations.unwrap()["note"], "x");
        let pod = tpl.spec.unwrap();
        assert_eq!(pod.node_selector.unwrap()["disk"], "ssd");
        assert_eq!(pod.priority_class_name.as_deref(), Some("high"));
        assert_eq!(pod.tolerations.unwrap()[0].key.as_deref(), Some("k"));
    }

    #[test]
    fn registry_identity_security_grace_and_env_are_passed_through() {
        let sts = build(
            "podTemplate:\n  imagePullSecrets: [{name: regcred}]\n  serviceAccountName: brokers\n  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n  terminationGracePeriodSeconds: 90\n  env: [{name: JUMPNET_CACHE_MB, value: '64'}, {name: POD_NAME, value: spoofed}]",
        );
        let pod = sts.spec.template.spec.clone().unwrap();
        assert_eq!(
            pod.image_pull_secrets.unwrap()[0].name,
            "regcred".to_string()
        );
        assert_eq!(pod.service_account_name.as_deref(), Some("brokers"));
        assert_eq!(
            pod.automount_service_account_token,
            Some(false),
            "brokers never call the API"
        );
        assert_eq!(pod.termination_grace_period_seconds, Some(90));
        let psc = pod.security_context.unwrap();
        assert_eq!(psc.run_as_user, None, "OpenShift assigns the uid");
        assert_eq!(psc.fs_group, None);
        let env = broker(&sts).env.unwrap();
        let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["POD_NAME", "POD_NAMESPACE", "JUMPNET_CACHE_MB"]);
        assert!(env[0].value_from.is_some(), "the operator's POD_NAME wins");
        assert_eq!(env[2].value.as_deref(), Some("64"));
    }
}

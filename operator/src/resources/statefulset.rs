//! The broker StatefulSet. Pods run `jumpnet serve --managed`: they never bootstrap or join on
//! their own, the operator drives membership (see `membership.rs`). `podManagementPolicy:
//! Parallel` starts all pods at once (a managed broker is harmless until admitted) and
//! `updateStrategy: OnDelete` leaves rolling restarts to the operator, which knows who leads.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    HTTPGetAction, KeyToPath, ObjectFieldSelector, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, SeccompProfile,
    SecretVolumeSource, SecurityContext, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{common_labels, object_meta, selector_labels, Names, API_PORT, RAFT_PORT};
use super::{AuthTokens, CLUSTER_SECRET_KEY, TOKENS_KEY};
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
    ];
    if jc.spec.auth.enabled {
        args.push(format!("--auth-file={AUTH_MOUNT}/{TOKENS_KEY}"));
        args.push(format!(
            "--cluster-secret-file={AUTH_MOUNT}/{CLUSTER_SECRET_KEY}"
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

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
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
    let mounts = vec![
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
        // Declared with auth off too (see `volumes`).
        VolumeMount {
            name: "auth".into(),
            mount_path: AUTH_MOUNT.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
    ];
    Container {
        name: "jumpnet".into(),
        image: Some(jc.spec.image.clone()),
        image_pull_policy: jc.spec.image_pull_policy.map(|p| p.as_str().to_string()),
        command: Some(vec!["jumpnet".into()]),
        args: Some(broker_args(jc, names)),
        env: Some(vec![
            field_env("POD_NAME", "metadata.name"),
            field_env("POD_NAMESPACE", "metadata.namespace"),
        ]),
        ports: Some(vec![port("raft", RAFT_PORT), port("http", API_PORT)]),
        liveness_probe: Some(http_probe("/livez", 10, 3)),
        readiness_probe: Some(http_probe("/readyz", 5, 2)),
        resources: jc.spec.resources.clone(),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(NONROOT),
            run_as_group: Some(NONROOT),
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

/// The `auth` volume is declared whether or not auth is on (optional while it is off, when Secret
/// `NAME-auth` need not exist): turning auth on or off then changes only the broker's flags and the
/// annotations, never the shape of the volume lists, which some API servers do not prune cleanly
/// under server-side apply (the Kubernetes API emulator leaves empty list items behind).
fn volumes(jc: &JumpnetCluster, names: &Names) -> Vec<Volume> {
    let item = |key: &str| KeyToPath {
        key: key.into(),
        path: key.into(),
        ..KeyToPath::default()
    };
    vec![
        Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
        Volume {
            name: "auth".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(names.auth()),
                // Only what the broker reads: the operator's own token stays out of the pods' files.
                items: Some(vec![item(TOKENS_KEY), item(CLUSTER_SECRET_KEY)]),
                default_mode: Some(0o440),
                optional: Some(!jc.spec.auth.enabled),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        },
    ]
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
            termination_grace_period_seconds: Some(30),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(NONROOT),
                run_as_group: Some(NONROOT),
                fs_group: Some(NONROOT),
                seccomp_profile: Some(runtime_default()),
                ..PodSecurityContext::default()
            }),
            affinity: extra.affinity.clone(),
            tolerations: non_empty_vec(&extra.tolerations),
            node_selector: non_empty(&extra.node_selector),
            topology_spread_constraints: non_empty_vec(&extra.topology_spread_constraints),
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
    fn toggling_auth_changes_flags_not_the_volume_lists() {
        let (on, off) = (build("auth: {enabled: true}"), build(""));
        let shape = |sts: &StatefulSet| {
            let pod = sts.spec.template.spec.clone().unwrap();
            let volumes: Vec<String> = pod.volumes.unwrap().into_iter().map(|v| v.name).collect();
            let mounts: Vec<(String, String)> = pod.containers[0]
                .volume_mounts
                .clone()
                .unwrap()
                .into_iter()
                .map(|m| (m.name, m.mount_path))
                .collect();
            (volumes, mounts)
        };
        assert_eq!(shape(&on), shape(&off));
        let optional = |sts: &StatefulSet| {
            let pod = sts.spec.template.spec.clone().unwrap();
            let auth = pod.volumes.unwrap().into_iter().find(|v| v.name == "auth");
            auth.unwrap().secret.unwrap().optional
        };
        assert_eq!(
            optional(&on),
            Some(false),
            "a missing Secret must stop the pod"
        );
        assert_eq!(optional(&off), Some(true), "no Secret needed without auth");
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
        let live = c.liveness_probe.unwrap().http_get.unwrap();
        let ready = c.readiness_probe.unwrap().http_get.unwrap();
        assert_eq!(live.path.as_deref(), Some("/livez"));
        assert_eq!(ready.path.as_deref(), Some("/readyz"));
        assert_eq!(live.port, IntOrString::String("http".into()));
        assert_eq!(ready.port, IntOrString::String("http".into()));
    }

    #[test]
    fn restricted_security_context() {
        let sts = build("");
        let c = broker(&sts);
        let sc = c.security_context.unwrap();
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(sc.run_as_user, Some(65532));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.capabilities.unwrap().drop, Some(vec!["ALL".to_string()]));
        assert_eq!(sc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        let pod = sts.spec.template.spec.unwrap();
        let psc = pod.security_context.unwrap();
        assert_eq!(psc.run_as_non_root, Some(true));
        assert_eq!(
            psc.fs_group,
            Some(65532),
            "the PVC must be writable by the broker"
        );
        assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
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
}

//! Reconcile scenarios against the fake API server and fake brokers (`crate::fixtures`). Each
//! asserts the exact calls, in order, across Kubernetes (`k8s ...`) and the brokers' admin API
//! (`raft ...`).

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use serde_json::{json, Value};

use super::{error_policy, Settings};
use crate::broker_client::{BrokerAdmin, Role, Target};
use crate::fixtures::{actions, writes, Harness};

const STS: &str = "/apis/apps/v1/namespaces/ns/statefulsets/demo";
const STATUS: &str = "/apis/jumpnet.io/v1alpha1/namespaces/ns/jumpnetclusters/demo/status";
const PODS: &str = "/api/v1/namespaces/ns/pods";
const EVENTS: &str = "k8s POST /apis/events.k8s.io/v1/namespaces/ns/events";

fn s(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

fn event(reason: &str, related: &str) -> String {
    format!("{EVENTS} reason={reason} related={related}")
}

fn add(id: u64) -> String {
    format!(
        "raft POST demo-0 /v1/cluster/members id={id} raft_addr=demo-{id}.demo-headless.ns.svc.cluster.local:8080 api_addr=demo-{id}.demo-headless.ns.svc.cluster.local:9090"
    )
}

/// Membership-changing broker calls only.
fn admin(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.starts_with("raft ") && !l.starts_with("raft GET"))
        .cloned()
        .collect()
}

/// Pod deletions and broker admin calls: the steps of a restart, in order.
fn restart_steps(lines: &[String]) -> Vec<String> {
    actions(lines)
        .into_iter()
        .filter(|l| l.contains("/pods/") || l.starts_with("raft"))
        .collect()
}

fn position(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in\n{}", lines.join("\n")))
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap()
}

fn members(status: &Value) -> Vec<(u64, String)> {
    status["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    (
                        m["id"].as_u64().unwrap(),
                        m["role"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn voters(n: u64) -> Vec<(u64, String)> {
    (0..n).map(|i| (i, "voter".to_string())).collect()
}

#[tokio::test]
async fn first_reconcile_applies_every_owned_object_then_reports_bootstrapping() {
    let h = Harness::new(json!({"replicas": 3, "image": "jumpnet:1"}));
    assert_eq!(
        h.reconcile().await.unwrap(),
        Action::requeue(Settings::default().requeue_busy)
    );
    assert_eq!(
        h.take(),
        s(&[
            "k8s GET /apis/apps/v1/namespaces/ns/statefulsets/demo",
            "k8s GET /api/v1/namespaces/ns/pods",
            "k8s PATCH /api/v1/namespaces/ns/configmaps/demo-config",
            "k8s PATCH /api/v1/namespaces/ns/services/demo-headless",
            "k8s PATCH /api/v1/namespaces/ns/services/demo",
            "k8s PATCH /apis/policy/v1/namespaces/ns/poddisruptionbudgets/demo",
            // ServiceMonitor off: is there one of ours to remove? (404: no)
            "k8s GET /apis/monitoring.coreos.com/v1/namespaces/ns/servicemonitors/demo",
            "k8s PATCH /apis/apps/v1/namespaces/ns/statefulsets/demo replicas=3",
            "k8s PATCH /apis/jumpnet.io/v1alpha1/namespaces/ns/jumpnetclusters/demo/status phase=Bootstrapping",
        ])
    );
    let uid = h.cluster().metadata.uid.unwrap();
    for path in [
        STS,
        "/api/v1/namespaces/ns/configmaps/demo-config",
        "/api/v1/namespaces/ns/services/demo-headless",
        "/api/v1/namespaces/ns/services/demo",
        "/apis/policy/v1/namespaces/ns/poddisruptionbudgets/demo",
    ] {
        let owner = &h.get(path).unwrap()["metadata"]["ownerReferences"][0];
        assert_eq!(owner["uid"], uid.as_str(), "{path}");
        assert_eq!(owner["kind"], "JumpnetCluster", "{path}");
        assert_eq!(owner["controller"], true, "{path}");
    }
    let sts = h.get(STS).unwrap();
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["image"],
        "jumpnet:1"
    );
    let status = h.status();
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(
        status["selector"],
        "app.kubernetes.io/instance=demo,app.kubernetes.io/name=jumpnet"
    );
    assert_eq!(condition(&status, "Ready")["status"], "False");
    assert_eq!(
        condition(&status, "Progressing")["reason"],
        "WaitingForPods"
    );
    assert!(status.get("clusterId").is_none());

    // Pods come up (managed: waiting for the operator) -> exactly one bootstrap, on pod 0.
    h.settle();
    h.reconcile().await.unwrap();
    assert_eq!(
        h.take(),
        s(&[
            "k8s GET /apis/apps/v1/namespaces/ns/statefulsets/demo",
            "k8s GET /api/v1/namespaces/ns/pods",
            "raft GET demo-0 /v1/cluster?local=true",
            "raft GET demo-1 /v1/cluster?local=true",
            "raft GET demo-2 /v1/cluster?local=true",
            "k8s PATCH /api/v1/namespaces/ns/configmaps/demo-config",
            "k8s PATCH /api/v1/namespaces/ns/services/demo-headless",
            "k8s PATCH /api/v1/namespaces/ns/services/demo",
            "k8s PATCH /apis/policy/v1/namespaces/ns/poddisruptionbudgets/demo",
            "k8s GET /apis/monitoring.coreos.com/v1/namespaces/ns/servicemonitors/demo",
            "k8s PATCH /apis/apps/v1/namespaces/ns/statefulsets/demo replicas=3",
            "raft POST demo-0 /v1/cluster/init",
            &event("Bootstrap", "demo-0"),
            "k8s PATCH /apis/jumpnet.io/v1alpha1/namespaces/ns/jumpnetclusters/demo/status phase=Bootstrapping",
        ])
    );
    assert_eq!(
        h.status()["clusterId"],
        "cluster-1",
        "recorded in the same reconcile"
    );

    // Then learners, then promotions, one step per reconcile.
    let journal = h.converge().await;
    assert_eq!(
        admin(&journal),
        [
            add(1),
            add(2),
            "raft POST demo-0 /v1/cluster/members/1/promote".into(),
            "raft POST demo-0 /v1/cluster/members/2/promote".into()
        ]
    );
    assert_eq!(h.broker.inits(), 1);
    let status = h.status();
    assert_eq!(members(&status), voters(3));
    assert_eq!(status["leader"], "demo-0");
    assert_eq!(status["readyReplicas"], 3);
    assert_eq!(status["replicas"], 3);
    assert_eq!(condition(&status, "Ready")["reason"], "ClusterReady");
    assert_eq!(condition(&status, "Degraded")["status"], "False");
    let m = &h.ctx.metrics;
    assert!(m.reconciliations.with_label_values(&["success"]).get() >= 6);
    assert_eq!(
        m.membership_steps.with_label_values(&["AddLearner"]).get(),
        2
    );

    // Converged: a reconcile re-applies (no-ops) and writes nothing else, then waits long.
    assert_eq!(
        h.reconcile().await.unwrap(),
        Action::requeue(Settings::default().requeue_idle)
    );
    assert_eq!(
        actions(&h.take()),
        s(&["k8s PATCH /apis/apps/v1/namespaces/ns/statefulsets/demo replicas=3"])
    );
}

#[tokio::test]
async fn scale_up_adds_learners_and_promotes_them_once_caught_up() {
    let h = Harness::running(json!({"replicas": 3})).await;
    h.edit_spec(|spec| spec["replicas"] = json!(5));
    h.broker.set_lagging(4, true);

    h.reconcile().await.unwrap();
    assert_eq!(
        actions(&h.take()),
        s(&[
            "k8s PATCH /apis/apps/v1/namespaces/ns/statefulsets/demo replicas=5",
            "k8s PATCH /apis/jumpnet.io/v1alpha1/namespaces/ns/jumpnetclusters/demo/status phase=Scaling",
        ]),
        "pods 3 and 4 do not exist yet: nothing to add"
    );
    let pdb = h
        .get("/apis/policy/v1/namespaces/ns/poddisruptionbudgets/demo")
        .unwrap();
    assert_eq!(pdb["spec"]["maxUnavailable"], 2);

    let mut journal = Vec::new();
    for _ in 0..4 {
        h.settle();
        h.reconcile().await.unwrap();
        journal.extend(h.take());
    }
    assert_eq!(
        admin(&journal),
        [
            add(3),
            add(4),
            "raft POST demo-0 /v1/cluster/members/3/promote".into()
        ],
        "4 lags: never promoted while behind"
    );
    assert_eq!(
        members(&h.status()),
        [
            (0, "voter"),
            (1, "voter"),
            (2, "voter"),
            (3, "voter"),
            (4, "learner")
        ]
        .map(|(i, r)| (i, r.to_string()))
        .to_vec(),
    );
    assert_eq!(
        condition(&h.status(), "Progressing")["reason"],
        "LearnerCatchingUp"
    );
    let pos = |n: &str| position(&journal, n);
    assert!(pos(&event("AddLearner", "demo-3")) < pos(&event("PromoteLearner", "demo-3")));

    h.broker.set_lagging(4, false);
    let journal = h.converge().await;
    assert_eq!(
        admin(&journal),
        ["raft POST demo-0 /v1/cluster/members/4/promote"]
    );
    assert_eq!(members(&h.status()), voters(5));
    assert_eq!(h.broker.inits(), 1);
}

#[tokio::test]
async fn scale_down_removes_members_from_raft_before_shrinking_and_then_deletes_claims() {
    let h =
        Harness::running(json!({"replicas": 5, "storage": {"deleteClaimOnScaleDown": true}})).await;
    h.edit_spec(|spec| spec["replicas"] = json!(3));

    h.reconcile().await.unwrap();
    assert_eq!(
        actions(&h.take()),
        s(&[
            "k8s PATCH /apis/apps/v1/namespaces/ns/statefulsets/demo replicas=5",
            "raft DELETE demo-0 /v1/cluster/members/4",
            &event("RemoveMember", "demo-4"),
            "k8s PATCH /apis/jumpnet.io/v1alpha1/namespaces/ns/jumpnetclusters/demo/status phase=Scaling",
        ])
    );
    h.settle();
    h.reconcile().await.unwrap();
    assert_eq!(
        actions(&h.take()),
        s(&[
            "k8s PATCH /apis/apps/v1/namespaces/ns/statefulsets/demo replicas=4",
            "raft DELETE demo-0 /v1/cluster/members/3",
            &event("RemoveMember", "demo-3"),
            "k8s PATCH /apis/jumpnet.io/v1alpha1/namespaces/ns/jumpnetclusters/demo/status phase=Scaling",
        ])
    );
    h.settle(); // pod 4 goes
    h.reconcile().await.unwrap();
    assert_eq!(
        actions(&h.take()),
        s(&[
            "k8s PATCH /apis/apps/v1/namespaces/ns/statefulsets/demo replicas=3",
            "k8s DELETE /api/v1/namespaces/ns/persistentvolumeclaims/data-demo-4",
            &event("DeleteClaim", "data-demo-4"),
            "k8s PATCH /apis/jumpnet.io/v1alpha1/namespaces/ns/jumpnetclusters/demo/status phase=Running",
        ])
    );
    h.settle(); // pod 3 goes
    let journal = h.converge().await;
    assert_eq!(
        writes(&journal)
            .into_iter()
            .filter(|l| l.contains("persistentvolumeclaims"))
            .collect::<Vec<_>>(),
        ["k8s DELETE /api/v1/namespaces/ns/persistentvolumeclaims/data-demo-3"]
    );
    assert_eq!(members(&h.status()), voters(3));
    assert_eq!(h.get(&format!("{PODS}/demo-3")), None);
    let pdb = h
        .get("/apis/policy/v1/namespaces/ns/poddisruptionbudgets/demo")
        .unwrap();
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);

    // Scaling up again starts the removed brokers empty: plain learners, no foreign data.
    h.edit_spec(|spec| spec["replicas"] = json!(5));
    let journal = h.converge().await;
    assert_eq!(admin(&journal)[..2], [add(3), add(4)]);
    assert_eq!(members(&h.status()), voters(5));
}

#[tokio::test]
async fn scale_down_of_the_leader_hands_leadership_over_first() {
    let h = Harness::running(json!({"replicas": 3})).await;
    let demo0 = Target {
        pod: "demo-0".into(),
        base_url: String::new(),
        token: None,
    };
    h.broker.transfer_leader(&demo0, 2).await.unwrap();
    h.settle();
    h.take();
    h.edit_spec(|spec| spec["replicas"] = json!(2));
    let journal = h.converge().await;
    assert_eq!(
        admin(&journal),
        [
            "raft POST demo-2 /v1/cluster/transfer-leader to=0",
            "raft DELETE demo-0 /v1/cluster/members/2"
        ]
    );
    assert_eq!(h.broker.members(), [(0, Role::Voter), (1, Role::Voter)]);
    assert!(position(&journal, "members/2") < position(&journal, "replicas=2"));
}

#[tokio::test]
async fn crash_after_bootstrap_adopts_the_cluster_instead_of_bootstrapping_again() {
    let mut h = Harness::new(json!({"replicas": 3}));
    h.reconcile().await.unwrap();
    h.settle();
    h.world.lock().unwrap().fail_next("PATCH", STATUS);
    assert!(h.reconcile().await.is_err(), "status write lost after init");
    assert_eq!(h.broker.inits(), 1);
    assert!(h.status().get("clusterId").is_none());

    h.restart_operator();
    h.settle();
    h.take();
    h.reconcile().await.unwrap();
    let journal = h.take();
    assert_eq!(
        actions(&journal),
        s(&[
            "k8s PATCH /apis/apps/v1/namespaces/ns/statefulsets/demo replicas=3",
            &event("AdoptCluster", "-"),
            &add(1),
            &event("AddLearner", "demo-1"),
            "k8s PATCH /apis/jumpnet.io/v1alpha1/namespaces/ns/jumpnetclusters/demo/status phase=Scaling",
        ])
    );
    assert_eq!(h.status()["clusterId"], "cluster-1");
    h.converge().await;
    assert_eq!(h.broker.inits(), 1, "never a second bootstrap");
    assert_eq!(
        h.status()["clusterId"],
        h.broker.cluster_id().unwrap().as_str()
    );
}

#[tokio::test]
async fn crash_between_raft_removal_and_shrink_converges_without_repeating_the_removal() {
    let mut h = Harness::running(json!({"replicas": 3})).await;
    h.edit_spec(|spec| spec["replicas"] = json!(2));
    h.world.lock().unwrap().fail_next("PATCH", STATUS);
    assert!(h.reconcile().await.is_err());
    assert_eq!(
        admin(&h.take()),
        ["raft DELETE demo-0 /v1/cluster/members/2"]
    );

    h.restart_operator();
    h.reconcile().await.unwrap();
    assert_eq!(
        actions(&h.take()),
        s(&[
            "k8s PATCH /apis/apps/v1/namespaces/ns/statefulsets/demo replicas=2",
            "k8s PATCH /apis/jumpnet.io/v1alpha1/namespaces/ns/jumpnetclusters/demo/status phase=Running",
        ])
    );
    h.settle();
    h.converge().await;
    assert_eq!(members(&h.status()), voters(2));
}

#[tokio::test]
async fn voter_that_lost_its_volume_is_removed_and_rejoins_as_a_learner() {
    let h = Harness::running(json!({"replicas": 3})).await;
    {
        let mut w = h.world.lock().unwrap();
        w.handle("DELETE", &format!("{PODS}/demo-2"), None, "", b"");
        w.handle(
            "DELETE",
            "/api/v1/namespaces/ns/persistentvolumeclaims/data-demo-2",
            None,
            "",
            b"",
        );
        w.settle();
    }
    h.take();
    let journal = h.converge().await;
    assert_eq!(
        admin(&journal),
        [
            "raft DELETE demo-0 /v1/cluster/members/2".to_string(),
            add(2),
            "raft POST demo-0 /v1/cluster/members/2/promote".into()
        ]
    );
    assert!(journal.contains(&event("RemoveMemberWithLostData", "demo-2")));
    assert_eq!(h.broker.inits(), 1);
}

#[tokio::test]
async fn image_change_restarts_followers_first_and_the_leader_last_after_a_transfer() {
    let h = Harness::running(json!({"replicas": 3, "image": "jumpnet:1"})).await;
    h.edit_spec(|spec| spec["image"] = json!("jumpnet:2"));

    h.reconcile().await.unwrap();
    assert_eq!(
        actions(&h.take()),
        s(&[
            "k8s PATCH /apis/apps/v1/namespaces/ns/statefulsets/demo replicas=3",
            "k8s DELETE /api/v1/namespaces/ns/pods/demo-2",
            &event("RestartPod", "demo-2"),
            "k8s PATCH /apis/jumpnet.io/v1alpha1/namespaces/ns/jumpnetclusters/demo/status phase=Updating",
        ])
    );
    // demo-2 not back yet: nothing else is touched.
    h.reconcile().await.unwrap();
    assert_eq!(
        actions(&h.take()),
        s(&[
            "k8s PATCH /apis/apps/v1/namespaces/ns/statefulsets/demo replicas=3",
            "k8s PATCH /apis/jumpnet.io/v1alpha1/namespaces/ns/jumpnetclusters/demo/status phase=Updating",
        ])
    );
    assert_eq!(
        condition(&h.status(), "Progressing")["reason"],
        "PodRestarting"
    );
    assert_eq!(
        condition(&h.status(), "Degraded")["status"],
        "False",
        "a planned restart is no degradation"
    );

    h.settle();
    let journal = h.converge().await;
    let steps = restart_steps(&journal);
    assert_eq!(
        steps,
        [
            "k8s DELETE /api/v1/namespaces/ns/pods/demo-1",
            "raft POST demo-0 /v1/cluster/transfer-leader to=1",
            "k8s DELETE /api/v1/namespaces/ns/pods/demo-0",
        ]
    );
    for i in 0..3 {
        let pod = h.get(&format!("{PODS}/demo-{i}")).unwrap();
        let sts = h.get(STS).unwrap();
        assert_eq!(
            pod["metadata"]["labels"]["controller-revision-hash"],
            sts["status"]["updateRevision"]
        );
    }
    assert_eq!(h.status()["leader"], "demo-1");
    assert_eq!(h.broker.leader(), Some(1));
    assert_eq!(h.broker.inits(), 1);
}

#[tokio::test]
async fn deleted_cluster_is_left_to_the_garbage_collector() {
    let h = Harness::running(json!({"replicas": 1})).await;
    h.world.lock().unwrap().edit(
        "/apis/jumpnet.io/v1alpha1/namespaces/ns/jumpnetclusters/demo",
        |o| {
            o["metadata"]["deletionTimestamp"] = json!("2024-01-02T00:00:00Z");
            o["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
        },
    );
    assert_eq!(h.reconcile().await.unwrap(), Action::await_change());
    assert_eq!(
        h.take(),
        Vec::<String>::new(),
        "no API or broker call at all"
    );
    assert_eq!(
        h.cluster().metadata.finalizers,
        Some(vec!["foregroundDeletion".to_string()]),
        "no finalizer of ours"
    );
    let uid = h.cluster().metadata.uid.unwrap();
    for path in [
        STS,
        "/api/v1/namespaces/ns/services/demo",
        "/api/v1/namespaces/ns/configmaps/demo-config",
    ] {
        assert_eq!(
            h.get(path).unwrap()["metadata"]["ownerReferences"][0]["uid"],
            uid.as_str()
        );
    }
}

#[tokio::test]
async fn auth_secret_is_generated_once_and_the_operator_uses_its_admin_token() {
    let h = Harness::new(json!({"replicas": 1, "auth": {"enabled": true}}));
    h.reconcile().await.unwrap();
    let journal = h.take();
    assert_eq!(
        journal[0],
        "k8s GET /api/v1/namespaces/ns/secrets/demo-auth"
    );
    assert_eq!(
        journal[3], "k8s PATCH /api/v1/namespaces/ns/secrets/demo-auth",
        "secret before the pods that mount it"
    );
    let secret_path = "/api/v1/namespaces/ns/secrets/demo-auth";
    let first = h.get(secret_path).unwrap()["data"].clone();
    h.settle();
    h.converge().await;
    assert_eq!(
        h.get(secret_path).unwrap()["data"],
        first,
        "tokens never regenerated"
    );
    let operator_token = {
        use base64_decode as b64;
        b64(first["operator-token"].as_str().unwrap())
    };
    assert_eq!(h.broker.tokens_seen(), [Some(operator_token)].into());
    let sts = h.get(STS).unwrap();
    let args = sts["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(args.contains("--auth-file=/etc/jumpnet/auth/tokens"));
}

#[tokio::test]
async fn turning_auth_on_or_off_restarts_every_pod_at_once_not_one_by_one() {
    let h = Harness::running(json!({"replicas": 3})).await;
    let pod_deletes = |journal: &[String]| -> Vec<String> {
        actions(journal)
            .into_iter()
            .filter(|l| l.starts_with("k8s DELETE") && l.contains("/pods/"))
            .collect()
    };
    let all_three = [0, 1, 2].map(|i| format!("k8s DELETE {PODS}/demo-{i}"));

    h.edit_spec(|spec| spec["auth"] = json!({"enabled": true}));
    h.reconcile().await.unwrap();
    let journal = h.take();
    assert_eq!(pod_deletes(&journal), all_three, "one reconcile, every pod");
    assert!(
        journal.iter().any(|l| l.contains("reason=RestartAllPods")),
        "{journal:#?}"
    );
    assert_eq!(h.status()["phase"], "Updating");
    h.settle();
    let journal = h.converge().await;
    assert!(pod_deletes(&journal).is_empty(), "no second round");
    let secret = h.get("/api/v1/namespaces/ns/secrets/demo-auth").unwrap();
    let fingerprint = crate::resources::AuthTokens::keep_or_generate(Some(
        &serde_json::from_value(secret).unwrap(),
    ))
    .cluster_secret_fingerprint();
    for i in 0..3 {
        let pod = h.get(&format!("{PODS}/demo-{i}")).unwrap();
        assert_eq!(
            pod["metadata"]["annotations"]["jumpnet.io/cluster-secret"],
            fingerprint.as_str()
        );
    }
    assert_eq!(h.broker.inits(), 1, "the cluster re-forms from its data");
    assert_eq!(h.status()["members"].as_array().unwrap().len(), 3);

    h.edit_spec(|spec| spec["auth"] = json!({"enabled": false}));
    h.reconcile().await.unwrap();
    assert_eq!(pod_deletes(&h.take()), all_three);
    h.settle();
    h.converge().await;
    for i in 0..3 {
        let pod = h.get(&format!("{PODS}/demo-{i}")).unwrap();
        assert!(pod["metadata"]["annotations"]["jumpnet.io/cluster-secret"].is_null());
    }
    assert_eq!(h.broker.inits(), 1);
}

#[tokio::test]
async fn editing_the_token_file_rolls_the_pods_one_by_one() {
    let h = Harness::running(json!({"replicas": 3, "auth": {"enabled": true}})).await;
    let path = "/api/v1/namespaces/ns/secrets/demo-auth";
    h.world.lock().unwrap().edit(path, |o| {
        let tokens = base64_decode(o["data"]["tokens"].as_str().unwrap());
        let edited = format!("{tokens}usertok alice consume\n");
        o["data"]["tokens"] =
            serde_json::to_value(k8s_openapi::ByteString(edited.into_bytes())).unwrap();
    });
    let journal = h.converge().await;
    let restarts = restart_steps(&journal);
    assert_eq!(
        restarts,
        [
            format!("k8s DELETE {PODS}/demo-2"),
            format!("k8s DELETE {PODS}/demo-1"),
            "raft POST demo-0 /v1/cluster/transfer-leader to=1".into(),
            format!("k8s DELETE {PODS}/demo-0"),
        ]
    );
    let secret = h.get(path).unwrap();
    assert!(base64_decode(secret["data"]["tokens"].as_str().unwrap()).contains("usertok alice"));
}

/// Minimal standard base64 decoding for the test (Secret data is base64 on the wire).
fn base64_decode(s: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        bits = (bits << 6) | ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn service_monitor_only_when_enabled_and_its_crd_exists_and_removed_when_disabled() {
    let h = Harness::new(json!({"replicas": 1, "metrics": {"serviceMonitor": {"enabled": true}}}));
    h.reconcile().await.unwrap();
    let journal = h.take();
    assert!(journal.contains(&"k8s GET /apis/monitoring.coreos.com/v1".to_string()));
    assert!(
        !journal.iter().any(|l| l.contains("servicemonitors")),
        "no CRD: skipped"
    );

    h.world
        .lock()
        .unwrap()
        .serve_group("monitoring.coreos.com/v1");
    h.reconcile().await.unwrap();
    let journal = h.take();
    let sm = position(
        &journal,
        "k8s PATCH /apis/monitoring.coreos.com/v1/namespaces/ns/servicemonitors/demo",
    );
    assert!(sm < position(&journal, "statefulsets/demo replicas="));
    let obj = h
        .get("/apis/monitoring.coreos.com/v1/namespaces/ns/servicemonitors/demo")
        .unwrap();
    assert_eq!(obj["spec"]["endpoints"][0]["port"], "http");

    // Turned off again: the ServiceMonitor it made goes.
    const SM: &str = "/apis/monitoring.coreos.com/v1/namespaces/ns/servicemonitors/demo";
    h.edit_spec(|spec| spec["metrics"]["serviceMonitor"]["enabled"] = json!(false));
    h.reconcile().await.unwrap();
    assert!(h.take().contains(&format!("k8s DELETE {SM}")));
    assert!(h.get(SM).is_none());
    h.reconcile().await.unwrap();
    assert!(!h.take().iter().any(|l| l.contains("DELETE")), "once");

    // One somebody else made under the same name is left alone.
    h.world.lock().unwrap().insert(json!({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": "demo", "namespace": "ns"}, "spec": {"endpoints": []},
    }));
    h.reconcile().await.unwrap();
    assert!(!h.take().iter().any(|l| l.contains("DELETE")));
    assert!(h.get(SM).is_some());
}

#[tokio::test]
async fn errors_back_off_exponentially_and_reset_on_success() {
    let h = Harness::new(json!({"replicas": 1}));
    let jc = Arc::new(h.cluster());
    let err = crate::Error::InvalidSpec {
        name: "demo".into(),
        reason: "x".into(),
    };
    let delays: Vec<Action> = (0..3)
        .map(|_| error_policy(jc.clone(), &err, h.ctx.clone()))
        .collect();
    assert_eq!(
        delays,
        [1, 2, 4]
            .map(|s| Action::requeue(Duration::from_secs(s)))
            .to_vec()
    );
    h.reconcile().await.unwrap();
    assert_eq!(
        error_policy(jc, &err, h.ctx.clone()),
        Action::requeue(Duration::from_secs(1))
    );
}

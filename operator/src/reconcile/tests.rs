//! Reconcile scenarios against the fake API server and fake brokers (`crate::fixtures`). Each
//! asserts the exact calls, in order, across Kubernetes (`k8s ...`) and the brokers' admin API
//! (`raft ...`).

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use serde_json::{json, Value};

use super::{error_policy, Settings};
use crate::broker_client::{BrokerAdmin, Role, Target};
use crate::fixtures::{actions, writes, Harness, CR_PATH};

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
            "k8s GET /api/v1/namespaces/ns/persistentvolumeclaims",
            "k8s PATCH /api/v1/namespaces/ns/configmaps/demo-config",
            "k8s PATCH /api/v1/namespaces/ns/services/demo-headless",
            "k8s PATCH /api/v1/namespaces/ns/services/demo",
            // no voters yet: nothing may be evicted
            "k8s PATCH /apis/policy/v1/namespaces/ns/poddisruptionbudgets/demo maxUnavailable=0",
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
            "k8s GET /api/v1/namespaces/ns/persistentvolumeclaims",
            "raft GET demo-0 /v1/cluster?local=true",
            "raft GET demo-1 /v1/cluster?local=true",
            "raft GET demo-2 /v1/cluster?local=true",
            "k8s PATCH /api/v1/namespaces/ns/configmaps/demo-config",
            "k8s PATCH /api/v1/namespaces/ns/services/demo-headless",
            "k8s PATCH /api/v1/namespaces/ns/services/demo",
            "k8s PATCH /apis/policy/v1/namespaces/ns/poddisruptionbudgets/demo maxUnavailable=0",
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
    assert_eq!(
        pdb["spec"]["maxUnavailable"], 1,
        "3 voters: one pod, whatever spec.replicas says"
    );

    let mut journal = Vec::new();
    for _ in 0..4 {
        h.settle();
        h.reconcile().await.unwrap();
        // again before the learners received any log: a learner without data yet is no loss
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
        "4 lags: never promoted while behind; nothing removed"
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
    h.reconcile().await.unwrap();
    let pdb = h
        .get("/apis/policy/v1/namespaces/ns/poddisruptionbudgets/demo")
        .unwrap();
    assert_eq!(pdb["spec"]["maxUnavailable"], 2, "5 voters at last");
}

/// `maxUnavailable` of every PDB apply in the journal, in order.
fn budgets(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| l.split("poddisruptionbudgets/demo maxUnavailable=").nth(1))
        .map(|v| v.parse().unwrap())
        .collect()
}

#[tokio::test]
async fn the_budget_allows_no_eviction_until_a_third_voter_exists_when_scaling_1_to_3() {
    let h = Harness::running(json!({"replicas": 1})).await;
    h.edit_spec(|spec| spec["replicas"] = json!(3));
    let mut journal = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..12 {
        h.reconcile().await.unwrap();
        let lines = h.take();
        // whatever the step, the budget applied never exceeds what the voters of the moment allow
        let voters_now = h
            .broker
            .members()
            .iter()
            .filter(|(_, r)| *r == Role::Voter)
            .count() as u64;
        for b in budgets(&lines) {
            assert!(
                b <= voters_now.saturating_sub(1) / 2,
                "budget {b} with {voters_now} voters"
            );
            seen.push(b);
        }
        journal.extend(lines);
        h.settle();
    }
    assert_eq!(members(&h.status()), voters(3));
    assert_eq!(seen.first(), Some(&0));
    assert_eq!(seen.last(), Some(&1), "{seen:?}");
    // a learner is not ready (contract), so it never counts as healthy
    let ready_learners = h.status()["readyReplicas"].as_i64().unwrap();
    assert_eq!(ready_learners, 3);
}

#[tokio::test]
async fn evictions_are_refused_while_scaling_3_to_5_so_the_quorum_survives() {
    let h = Harness::running(json!({"replicas": 3})).await;
    h.edit_spec(|spec| spec["replicas"] = json!(5));
    let evict = |h: &Harness, pod: &str| {
        h.world.lock().unwrap().handle(
            "POST",
            &format!("{PODS}/{pod}/eviction"),
            None,
            "application/json",
            b"{}",
        )
    };
    for _ in 0..3 {
        h.reconcile().await.unwrap();
        h.settle();
    }
    // learners 3 and 4 joined, not promoted: 3 voters, a budget of 1 over 5 expected pods of which
    // only the 3 voters are ready (learners are not, until promoted): no voter may go
    assert!(
        h.broker.members().iter().any(|(_, r)| *r == Role::Learner),
        "{:?}",
        h.broker.members()
    );
    for pod in ["demo-0", "demo-1", "demo-2"] {
        let (code, body) = evict(&h, pod);
        assert_eq!(code, 429, "{pod}: {body}");
    }
    assert_eq!(h.broker.members().len(), 5);
    h.converge().await;
    assert_eq!(members(&h.status()), voters(5));
    // 5 voters: two may go, not three
    h.reconcile().await.unwrap();
    let codes: Vec<u16> = ["demo-4", "demo-3", "demo-2"]
        .iter()
        .map(|p| evict(&h, p).0)
        .collect();
    assert_eq!(codes, [201, 201, 429]);
    assert!(h.broker.leader().is_some(), "3 of 5 voters keep the quorum");
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
        ..Target::default()
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
            "k8s POST /api/v1/namespaces/ns/pods/demo-2/eviction",
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
            "k8s POST /api/v1/namespaces/ns/pods/demo-1/eviction",
            "raft POST demo-0 /v1/cluster/transfer-leader to=1",
            "k8s POST /api/v1/namespaces/ns/pods/demo-0/eviction",
        ],
        "every restart through the eviction API, never a DELETE"
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
        journal[4], "k8s PATCH /api/v1/namespaces/ns/secrets/demo-auth",
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
async fn turning_auth_on_or_off_restarts_a_canary_then_every_other_pod_at_once() {
    let h = Harness::running(json!({"replicas": 3})).await;
    let pod_restarts = |journal: &[String]| -> Vec<String> {
        actions(journal)
            .into_iter()
            .filter(|l| l.contains("/pods/"))
            .collect()
    };

    h.edit_spec(|spec| spec["auth"] = json!({"enabled": true}));
    h.reconcile().await.unwrap();
    let journal = h.take();
    assert_eq!(
        pod_restarts(&journal),
        [format!("k8s POST {PODS}/demo-2/eviction")],
        "one canary first, through the eviction API"
    );
    assert_eq!(h.status()["phase"], "Updating");
    h.settle(); // the canary comes back on the new secret and answers
    h.reconcile().await.unwrap();
    let journal = h.take();
    assert_eq!(
        pod_restarts(&journal),
        [0, 1].map(|i| format!("k8s DELETE {PODS}/demo-{i}")),
        "then the rest together (a budget cannot protect a change that needs every broker restarted)"
    );
    assert!(
        journal.iter().any(|l| l.contains("reason=RestartAllPods")),
        "{journal:#?}"
    );
    h.settle();
    let journal = h.converge().await;
    assert!(pod_restarts(&journal).is_empty(), "no second round");
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
    let journal = h.converge().await;
    let restarts = pod_restarts(&journal);
    assert_eq!(restarts.len(), 3, "{restarts:?}");
    assert!(restarts[0].ends_with("/eviction"));
    for i in 0..3 {
        let pod = h.get(&format!("{PODS}/demo-{i}")).unwrap();
        assert!(pod["metadata"]["annotations"]["jumpnet.io/cluster-secret"].is_null());
    }
    assert_eq!(h.broker.inits(), 1);
}

#[tokio::test]
async fn auth_toggle_with_a_bad_image_stops_at_the_canary_and_reverting_recovers() {
    let h = Harness::running(json!({"replicas": 3, "image": "jumpnet:1"})).await;
    h.world
        .lock()
        .unwrap()
        .bad_images
        .insert("jumpnet:typo".into());
    h.edit_spec(|spec| {
        spec["auth"] = json!({"enabled": true});
        spec["image"] = json!("jumpnet:typo");
    });
    for _ in 0..4 {
        h.reconcile().await.unwrap();
        h.settle();
    }
    let restarts: Vec<String> = actions(&h.take())
        .into_iter()
        .filter(|l| l.contains("/pods/"))
        .collect();
    assert_eq!(restarts, [format!("k8s POST {PODS}/demo-2/eviction")]);
    assert!(h.broker.leader().is_some(), "two brokers still serve");
    let d = condition(&h.status(), "Degraded").clone();
    assert_eq!(d["reason"], "ImagePullBackOff", "{d}");
    assert!(d["message"].as_str().unwrap().contains("ErrImageNeverPull"));

    // both reverted: only the broken canary restarts
    h.edit_spec(|spec| {
        spec["auth"] = json!({"enabled": false});
        spec["image"] = json!("jumpnet:1");
    });
    let journal = h.converge().await;
    let restarts: Vec<String> = actions(&journal)
        .into_iter()
        .filter(|l| l.contains("/pods/"))
        .collect();
    assert_eq!(restarts, [format!("k8s DELETE {PODS}/demo-2")]);
    assert_eq!(members(&h.status()), voters(3));
}

/// Makes `pod`'s Ready condition false since long ago (a pod that never got ready).
fn unready_since_long(h: &Harness, pod: &str) {
    h.world.lock().unwrap().edit(&format!("{PODS}/{pod}"), |p| {
        p["status"]["conditions"][0]["lastTransitionTime"] = json!("2020-01-01T00:00:00Z");
    });
}

#[tokio::test]
async fn a_bad_image_stops_the_roll_as_rollout_stuck_and_reverting_recovers_alone() {
    let h = Harness::running(json!({"replicas": 3, "image": "jumpnet:1"})).await;
    h.world
        .lock()
        .unwrap()
        .bad_images
        .insert("jumpnet:typo".into());
    h.edit_spec(|spec| spec["image"] = json!("jumpnet:typo"));
    h.reconcile().await.unwrap();
    h.settle();
    h.reconcile().await.unwrap();
    let d = condition(&h.status(), "Degraded").clone();
    assert_eq!(
        (d["status"].as_str(), d["reason"].as_str()),
        (Some("True"), Some("ImagePullBackOff")),
        "says why within one reconcile: {d}"
    );
    unready_since_long(&h, "demo-2");
    h.take();
    h.reconcile().await.unwrap();
    let journal = h.take();
    assert!(
        !journal
            .iter()
            .any(|l| l.contains("/pods/demo-1") || l.contains("/pods/demo-0")),
        "the roll stopped at demo-2: {journal:#?}"
    );
    assert!(
        journal.contains(&event("RolloutStuck", "-")),
        "a Warning Event on the turn: {journal:#?}"
    );
    let d = condition(&h.status(), "Degraded").clone();
    assert_eq!(d["reason"], "RolloutStuck");
    assert!(d["message"].as_str().unwrap().contains("demo-2"), "{d}");
    assert!(
        d["message"].as_str().unwrap().contains("ErrImageNeverPull"),
        "{d}"
    );
    assert_eq!(h.status()["phase"], "Degraded");

    h.edit_spec(|spec| spec["image"] = json!("jumpnet:1"));
    let journal = h.converge().await;
    assert_eq!(
        restart_steps(&journal),
        [format!("k8s POST {PODS}/demo-2/eviction")],
        "the broken pod restarted without a human, nothing else"
    );
    assert_eq!(condition(&h.status(), "Degraded")["status"], "False");
}

#[tokio::test]
async fn a_one_voter_cluster_restarts_by_delete_since_it_has_no_disruption_to_spend() {
    let h = Harness::running(json!({"replicas": 1, "image": "jumpnet:1"})).await;
    h.edit_spec(|spec| spec["image"] = json!("jumpnet:2"));
    let journal = h.converge().await;
    assert_eq!(
        restart_steps(&journal),
        [format!("k8s DELETE {PODS}/demo-0")]
    );
}

#[tokio::test]
async fn a_restart_the_budget_refuses_waits_and_says_so() {
    let h = Harness::running(json!({"replicas": 3, "image": "jumpnet:1"})).await;
    h.edit_spec(|spec| spec["image"] = json!("jumpnet:2"));
    // someone drains a node right then: demo-0 goes down, the budget is spent
    h.world
        .lock()
        .unwrap()
        .before_next("POST", &format!("{PODS}/demo-2/eviction"), |w| {
            w.edit(&format!("{PODS}/demo-0"), |p| {
                p["status"]["conditions"][0]["status"] = json!("False");
            })
        });
    h.reconcile().await.unwrap();
    let journal = h.take();
    assert!(
        !journal.iter().any(|l| l.contains("reason=RestartPod")),
        "not carried out, no event: {journal:#?}"
    );
    assert!(
        h.get(&format!("{PODS}/demo-2")).is_some(),
        "demo-2 still runs"
    );
    let p = condition(&h.status(), "Progressing").clone();
    assert!(
        p["message"]
            .as_str()
            .unwrap()
            .contains("PodDisruptionBudget allows no disruption"),
        "{p}"
    );
}

#[tokio::test]
async fn growing_the_storage_expands_every_pvc_and_recreates_the_statefulset_keeping_the_pods() {
    let h = Harness::running(json!({"replicas": 3, "storage": {"size": "64Mi"}})).await;
    let uids: Vec<Value> = (0..3)
        .map(|i| h.get(&format!("{PODS}/demo-{i}")).unwrap()["metadata"]["uid"].clone())
        .collect();
    h.edit_spec(|spec| spec["storage"]["size"] = json!("128Mi"));
    h.reconcile().await.unwrap();
    let journal = actions(&h.take());
    let pvcs: Vec<&String> = journal
        .iter()
        .filter(|l| l.contains("persistentvolumeclaims/"))
        .collect();
    assert_eq!(
        pvcs,
        (0..3)
            .map(|i| format!(
                "k8s PATCH /api/v1/namespaces/ns/persistentvolumeclaims/data-demo-{i}"
            ))
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()
    );
    assert!(
        journal.contains(&format!("k8s DELETE {STS} propagationPolicy=Orphan")),
        "{journal:#?}"
    );
    assert!(
        !journal
            .iter()
            .any(|l| l.starts_with(&format!("k8s PATCH {STS}"))),
        "not re-applied while being deleted"
    );
    assert!(
        !journal.iter().any(|l| l.contains("/pods/")),
        "no pod touched"
    );
    for i in 0..3 {
        let pvc = h
            .get(&format!(
                "/api/v1/namespaces/ns/persistentvolumeclaims/data-demo-{i}"
            ))
            .unwrap();
        assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "128Mi");
    }
    assert_eq!(
        condition(&h.status(), "Progressing")["reason"],
        "StorageResizing"
    );

    h.reconcile().await.unwrap();
    let sts = h.get(STS).unwrap();
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        "128Mi"
    );
    h.settle();
    h.converge().await;
    for (i, uid) in uids.iter().enumerate() {
        assert_eq!(
            &h.get(&format!("{PODS}/demo-{i}")).unwrap()["metadata"]["uid"],
            uid,
            "pod {i} kept"
        );
    }
}

#[tokio::test]
async fn shrinking_the_storage_is_refused_everything_else_still_applies() {
    let h =
        Harness::running(json!({"replicas": 3, "image": "jumpnet:1", "storage": {"size": "64Mi"}}))
            .await;
    h.edit_spec(|spec| {
        spec["storage"]["size"] = json!("32Mi");
        spec["image"] = json!("jumpnet:2");
    });
    h.reconcile().await.unwrap();
    let journal = actions(&h.take());
    assert!(
        !journal.iter().any(|l| l.contains("persistentvolumeclaims")),
        "{journal:#?}"
    );
    let sts = h.get(STS).unwrap();
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        "64Mi"
    );
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["image"],
        "jumpnet:2"
    );
    let d = condition(&h.status(), "Degraded").clone();
    assert_eq!(d["reason"], "StorageChangeRefused");
    assert!(
        d["message"].as_str().unwrap().contains("cannot shrink"),
        "{d}"
    );
    assert!(
        journal.contains(&event("StorageChangeRefused", "-")),
        "{journal:#?}"
    );
}

#[tokio::test]
async fn a_failed_reconcile_says_why_in_the_status_with_the_api_servers_words() {
    let h = Harness::running(json!({"replicas": 3})).await;
    let forbidden = "configmaps \"demo-config\" is forbidden: User \"system:serviceaccount:op:op\" cannot patch resource \"configmaps\" in API group \"\" in the namespace \"ns\"";
    h.world.lock().unwrap().refuse_next(
        "PATCH",
        "/api/v1/namespaces/ns/configmaps/demo-config",
        403,
        "Forbidden",
        forbidden,
    );
    assert!(h.reconcile().await.is_err());
    let status = h.status();
    let d = condition(&status, "Degraded");
    assert_eq!(
        (d["status"].as_str(), d["reason"].as_str()),
        (Some("True"), Some("ReconcileError"))
    );
    assert!(d["message"].as_str().unwrap().contains(forbidden), "{d}");
    assert_eq!(condition(&status, "Ready")["status"], "False");
    assert_eq!(status["phase"], "Degraded");
    assert!(status["clusterId"].is_string(), "the cluster id stays");
    assert!(h.take().contains(&event("ReconcileError", "-")));
    // the next good reconcile clears it
    h.reconcile().await.unwrap();
    assert_eq!(condition(&h.status(), "Degraded")["status"], "False");
    assert_eq!(h.status()["phase"], "Running");
}

#[tokio::test]
async fn a_new_cluster_whose_image_cannot_be_pulled_says_so_at_once() {
    let h = Harness::new(json!({"replicas": 1, "image": "jumpnet:typo"}));
    h.world
        .lock()
        .unwrap()
        .bad_images
        .insert("jumpnet:typo".into());
    h.reconcile().await.unwrap();
    h.settle();
    h.take();
    h.reconcile().await.unwrap();
    let d = condition(&h.status(), "Degraded").clone();
    assert_eq!(d["reason"], "ImagePullBackOff");
    assert!(d["message"].as_str().unwrap().contains("demo-0"), "{d}");
    assert!(h.take().contains(&event("ImagePullBackOff", "-")));
    assert_eq!(h.status()["phase"], "Degraded");
}

#[tokio::test]
async fn a_voter_back_empty_is_readded_bound_to_its_new_incarnation() {
    let h = Harness::running(json!({"replicas": 3})).await;
    let before = h.broker.member_incarnation(2);
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
    h.converge().await;
    let after = h.broker.member_incarnation(2);
    assert!(
        after.is_some() && after != before,
        "{before:?} -> {after:?}"
    );
}

#[tokio::test]
async fn force_new_cluster_recovers_a_cluster_that_lost_a_majority_for_good() {
    let h = Harness::running(json!({"replicas": 3})).await;
    let cid = h.status()["clusterId"].clone();
    // the volumes of demo-1 and demo-2 are gone for good: they come back empty
    {
        let mut w = h.world.lock().unwrap();
        for i in [1, 2] {
            w.handle("DELETE", &format!("{PODS}/demo-{i}"), None, "", b"");
            w.handle(
                "DELETE",
                &format!("/api/v1/namespaces/ns/persistentvolumeclaims/data-demo-{i}"),
                None,
                "",
                b"",
            );
        }
        w.settle();
    }
    h.take();
    h.reconcile().await.unwrap();
    assert_eq!(condition(&h.status(), "Degraded")["reason"], "QuorumLost");
    assert!(
        admin(&h.take()).is_empty(),
        "nothing is done without a human"
    );

    h.world.lock().unwrap().edit(CR_PATH, |o| {
        o["metadata"]["annotations"] = json!({"jumpnet.io/force-new-cluster": "demo-0"});
    });
    let journal = h.converge().await;
    assert_eq!(
        admin(&journal)[..3],
        [
            "raft POST demo-0 /v1/cluster/force-new-cluster".to_string(),
            add(1),
            add(2)
        ]
    );
    assert!(journal.contains(&event("ForceNewCluster", "demo-0")));
    assert!(journal.contains(&event("ForceNewClusterDone", "demo-0")));
    assert!(
        h.cluster()
            .metadata
            .annotations
            .unwrap_or_default()
            .is_empty(),
        "annotation removed"
    );
    assert_eq!(h.status()["clusterId"], cid, "the same cluster, recovered");
    assert_eq!(members(&h.status()), voters(3));
    assert_eq!(h.broker.forced(), [0]);
    assert_eq!(h.broker.inits(), 1);
}

#[tokio::test]
async fn a_survivor_with_an_old_copy_is_discarded_before_it_rejoins() {
    let h = Harness::running(json!({"replicas": 3})).await;
    {
        let mut w = h.world.lock().unwrap();
        w.handle("DELETE", &format!("{PODS}/demo-1"), None, "", b"");
        w.handle(
            "DELETE",
            "/api/v1/namespaces/ns/persistentvolumeclaims/data-demo-1",
            None,
            "",
            b"",
        );
        w.handle("DELETE", &format!("{PODS}/demo-2"), None, "", b"");
        w.settle();
    }
    // demo-2 still has its data but is down (its node is gone): no quorum, demo-0's /readyz fails
    h.broker.stop(2);
    h.settle();
    h.world.lock().unwrap().edit(CR_PATH, |o| {
        o["metadata"]["annotations"] = json!({"jumpnet.io/force-new-cluster": "demo-0"});
    });
    h.reconcile().await.unwrap();
    assert_eq!(
        admin(&h.take()),
        ["raft POST demo-0 /v1/cluster/force-new-cluster"]
    );
    h.broker.start(2); // its node is back, with the old copy
    h.broker.give_data(2);
    h.reconcile().await.unwrap();
    let journal = actions(&h.take());
    assert!(
        journal.contains(
            &"k8s DELETE /api/v1/namespaces/ns/persistentvolumeclaims/data-demo-2".to_string()
        ),
        "{journal:#?}"
    );
    h.settle();
    h.converge().await;
    assert_eq!(members(&h.status()), voters(3));
}

#[tokio::test]
async fn a_cluster_restored_from_a_backup_hands_its_url_to_the_bootstrap() {
    let h = Harness::new(
        json!({"replicas": 1, "restore": {"fromUrl": "http://backups.example/jn/snap-1"}}),
    );
    let journal = h.converge().await;
    assert!(
        journal.contains(
            &"raft POST demo-0 /v1/cluster/init restore_from=http://backups.example/jn/snap-1"
                .to_string()
        ),
        "{journal:#?}"
    );
    assert_eq!(
        h.broker.restored_from(),
        ["http://backups.example/jn/snap-1"]
    );
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
            format!("k8s POST {PODS}/demo-2/eviction"),
            format!("k8s POST {PODS}/demo-1/eviction"),
            "raft POST demo-0 /v1/cluster/transfer-leader to=1".into(),
            format!("k8s POST {PODS}/demo-0/eviction"),
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

const CERT: &str = "/apis/cert-manager.io/v1/namespaces/ns/certificates/demo";
const TLS_SECRET: &str = "/api/v1/namespaces/ns/secrets/demo-tls";

/// What cert-manager (or a user) writes: a CA and a certificate for the cluster's names.
fn tls_secret(h: &Harness, name: &str) -> String {
    let (ca, cert, key) = crate::fixtures::test_pki(&["demo.ns.svc"]);
    let b64 = |s: &str| base64_encode(s.as_bytes());
    h.world.lock().unwrap().insert(json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": "ns"},
        "data": {"tls.crt": b64(&cert), "tls.key": b64(&key), "ca.crt": b64(&ca)},
    }));
    ca
}

fn base64_encode(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn args(h: &Harness) -> Vec<String> {
    serde_json::from_value(
        h.get(STS).unwrap()["spec"]["template"]["spec"]["containers"][0]["args"].clone(),
    )
    .unwrap()
}

#[tokio::test]
async fn tls_from_an_issuer_makes_a_certificate_and_waits_for_its_secret_before_any_pod() {
    let h = Harness::new(json!({"replicas": 3,
        "tls": {"enabled": true, "issuerRef": {"name": "ca", "kind": "ClusterIssuer"}}}));
    h.world.lock().unwrap().serve_group("cert-manager.io/v1");
    h.reconcile().await.unwrap();
    assert_eq!(
        h.take(),
        s(&[
            "k8s GET /apis/cert-manager.io/v1",
            &format!("k8s PATCH {CERT}"),
            &format!("k8s GET {TLS_SECRET}"),
            &event("TLSNotReady", "-"),
            "k8s PATCH /apis/jumpnet.io/v1alpha1/namespaces/ns/jumpnetclusters/demo/status phase=Degraded",
        ]),
        "the Certificate, then nothing but the status until its Secret exists"
    );
    let cert = h.get(CERT).unwrap();
    assert_eq!(cert["spec"]["secretName"], "demo-tls");
    assert_eq!(
        cert["spec"]["issuerRef"],
        json!({"name": "ca", "kind": "ClusterIssuer", "group": "cert-manager.io"})
    );
    let dns = cert["spec"]["dnsNames"].as_array().unwrap();
    for name in [
        "demo",
        "demo.ns.svc",
        "demo.ns.svc.cluster.local",
        "*.demo-headless.ns.svc",
        "*.demo-headless.ns.svc.cluster.local",
    ] {
        assert!(dns.contains(&json!(name)), "{name} not in {dns:?}");
    }
    assert_eq!(
        cert["metadata"]["ownerReferences"][0]["uid"],
        h.cluster().metadata.uid.unwrap().as_str()
    );
    let d = condition(&h.status(), "Degraded").clone();
    assert_eq!(
        (d["status"].as_str(), d["reason"].as_str()),
        (Some("True"), Some("TLSNotReady"))
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("Certificate demo into Secret demo-tls"),
        "{d}"
    );
    assert_eq!(condition(&h.status(), "Ready")["status"], "False");

    // still missing: the same status, no second write or Event
    h.reconcile().await.unwrap();
    assert!(
        writes(&h.take()).iter().all(|l| l.contains(CERT)),
        "only the Certificate re-applied"
    );

    // cert-manager issues: the cluster forms over https, verified against the Secret's CA
    let ca = tls_secret(&h, "demo-tls");
    h.converge().await;
    assert_eq!(members(&h.status()), voters(3));
    assert_eq!(condition(&h.status(), "Degraded")["status"], "False");
    let endpoints = h.broker.take_endpoints();
    assert!(!endpoints.is_empty());
    for (url, trusted) in &endpoints {
        assert!(
            url.starts_with("https://demo-")
                && url.ends_with(".demo-headless.ns.svc.cluster.local:9090"),
            "{url}: a name the certificate carries"
        );
        assert_eq!(trusted.as_deref(), Some(ca.as_str()));
    }
    let args = args(&h);
    for flag in [
        "--tls-cert=/etc/jumpnet/tls/tls.crt",
        "--peer-tls-ca=/etc/jumpnet/tls/ca.crt",
        "--advertise-raft=$(POD_NAME).demo-headless.$(POD_NAMESPACE).svc.cluster.local:8080",
    ] {
        assert!(args.contains(&flag.to_string()), "{flag} not in {args:?}");
    }
    let pod = h.get(&format!("{PODS}/demo-0")).unwrap();
    assert!(pod["metadata"]["annotations"]["jumpnet.io/peer-tls"].is_string());
    let probe = &h.get(STS).unwrap()["spec"]["template"]["spec"]["containers"][0]["readinessProbe"];
    assert_eq!(probe["httpGet"]["scheme"], "HTTPS");
    let cm = h
        .get("/api/v1/namespaces/ns/configmaps/demo-config")
        .unwrap();
    assert_eq!(
        cm["data"]["JUMPNET_SERVER"],
        "https://demo.ns.svc.cluster.local:9090"
    );
}

#[tokio::test]
async fn without_cert_manager_or_a_secret_the_cluster_is_tls_not_ready_and_makes_no_pods() {
    let h =
        Harness::new(json!({"replicas": 3, "tls": {"enabled": true, "issuerRef": {"name": "ca"}}}));
    h.reconcile().await.unwrap();
    assert_eq!(
        h.take(),
        s(&[
            "k8s GET /apis/cert-manager.io/v1",
            &format!("k8s GET {TLS_SECRET}"),
            &event("TLSNotReady", "-"),
            "k8s PATCH /apis/jumpnet.io/v1alpha1/namespaces/ns/jumpnetclusters/demo/status phase=Degraded",
        ])
    );
    assert!(h.get(STS).is_none() && h.get(CERT).is_none());
    let status = h.status();
    assert_eq!(status["phase"], "Degraded");
    let d = condition(&status, "Degraded");
    assert_eq!(d["reason"], "TLSNotReady");
    let message = d["message"].as_str().unwrap();
    assert!(
        message.contains("cert-manager") && message.contains("Secret demo-tls"),
        "says what is missing: {message}"
    );
    h.settle();
    assert!(
        h.world.lock().unwrap().list(PODS).is_empty(),
        "no pod to crash-loop"
    );

    // a Secret made by hand is enough, even without cert-manager
    tls_secret(&h, "demo-tls");
    h.converge().await;
    assert_eq!(members(&h.status()), voters(3));
}

#[tokio::test]
async fn tls_from_the_users_secret_needs_no_cert_manager_and_kafka_gets_its_ports() {
    let h = Harness::new(
        json!({"replicas": 1, "tls": {"enabled": true, "secretName": "mine"},
        "kafka": {"enabled": true}}),
    );
    h.reconcile().await.unwrap();
    let journal = h.take();
    assert_eq!(journal[0], "k8s GET /api/v1/namespaces/ns/secrets/mine");
    assert!(
        !journal.iter().any(|l| l.contains("cert-manager")),
        "{journal:#?}"
    );
    let message = condition(&h.status(), "Degraded")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("Secret mine (spec.tls.secretName) does not exist"),
        "{message}"
    );

    // present but incomplete: named
    h.world.lock().unwrap().insert(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mine", "namespace": "ns"},
        "data": {"tls.crt": "eA=="},
    }));
    h.reconcile().await.unwrap();
    assert!(!h
        .take()
        .iter()
        .any(|l| l.contains("statefulsets/demo replicas")));
    let message = condition(&h.status(), "Degraded")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(message, "Secret mine has no tls.key, ca.crt");

    h.world
        .lock()
        .unwrap()
        .remove("/api/v1/namespaces/ns/secrets/mine");
    tls_secret(&h, "mine");
    h.converge().await;
    let sts = h.get(STS).unwrap();
    let pod = &sts["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][1]["secret"]["secretName"], "mine");
    let args = args(&h);
    assert!(
        args.contains(&"--kafka=0.0.0.0:9093".to_string()),
        "{args:?}"
    );
    assert!(args.contains(
        &"--advertise-kafka=$(POD_NAME).demo-headless.$(POD_NAMESPACE).svc:9093".to_string()
    ));
    let ports = |path: &str| -> Vec<Value> {
        h.get(path).unwrap()["spec"]["ports"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert!(ports("/api/v1/namespaces/ns/services/demo")
        .contains(&json!({"name": "kafka", "port": 9093, "targetPort": 9093, "protocol": "TCP"})));
    assert!(ports("/api/v1/namespaces/ns/services/demo-headless")
        .iter()
        .any(|p| p["name"] == "kafka"));
}

/// Kafka clients are told each member's `--advertise-kafka` (SPEC §6): the operator adds members with
/// it, since a broker cannot know another pod's flags (without it, the member's API host, the FQDN,
/// would stand in).
#[tokio::test]
async fn kafka_members_are_added_with_the_name_their_pod_advertises() {
    let h = Harness::new(json!({"replicas": 3, "kafka": {"enabled": true, "port": 19092}}));
    let adds: Vec<String> = admin(&h.converge().await)
        .into_iter()
        .filter(|l| l.contains("/v1/cluster/members id="))
        .collect();
    assert_eq!(
        adds,
        [1, 2]
            .map(|id| format!(
                "{} kafka_addr=demo-{id}.demo-headless.ns.svc:19092",
                add(id)
            ))
            .to_vec()
    );
    let args = args(&h);
    assert!(args.contains(
        &"--advertise-kafka=$(POD_NAME).demo-headless.$(POD_NAMESPACE).svc:19092".to_string()
    ));
}

#[tokio::test]
async fn turning_tls_on_waits_for_the_secret_then_restarts_every_pod_together() {
    let h = Harness::running(json!({"replicas": 3})).await;
    let sts_before = h.get(STS).unwrap()["spec"].clone();
    h.edit_spec(|spec| spec["tls"] = json!({"enabled": true, "secretName": "mine"}));
    for _ in 0..2 {
        h.reconcile().await.unwrap();
        h.settle();
    }
    let journal = h.take();
    assert!(
        !journal
            .iter()
            .any(|l| l.contains("statefulsets") || l.contains("/pods")),
        "the running cluster is left alone: {journal:#?}"
    );
    assert_eq!(h.get(STS).unwrap()["spec"], sts_before);
    assert_eq!(condition(&h.status(), "Degraded")["reason"], "TLSNotReady");
    assert_eq!(members(&h.status()), voters(3), "what was observed stays");

    // Brokers with and without peer TLS refuse each other: a canary, then the rest at once.
    h.broker.take_endpoints();
    tls_secret(&h, "mine");
    h.reconcile().await.unwrap();
    let restarts: Vec<String> = actions(&h.take())
        .into_iter()
        .filter(|l| l.contains("/pods/"))
        .collect();
    assert_eq!(restarts, [format!("k8s POST {PODS}/demo-2/eviction")]);
    h.settle();
    h.reconcile().await.unwrap();
    let journal = h.take();
    assert!(
        journal.iter().any(|l| l.contains("reason=RestartAllPods")),
        "{journal:#?}"
    );
    h.settle();
    h.converge().await;
    assert_eq!(members(&h.status()), voters(3));
    assert_eq!(h.broker.inits(), 1);
    assert!(h
        .broker
        .take_endpoints()
        .iter()
        .all(|(u, ca)| u.starts_with("https://") && ca.is_some()));

    // and off again: the same all-at-once restart, back to plain http
    h.edit_spec(|spec| spec["tls"] = json!({"enabled": false}));
    let journal = h.converge().await;
    assert_eq!(
        actions(&journal)
            .iter()
            .filter(|l| l.contains("/pods/"))
            .count(),
        3
    );
    h.take();
    h.broker.take_endpoints();
    h.reconcile().await.unwrap();
    assert!(h
        .broker
        .take_endpoints()
        .iter()
        .all(|(u, ca)| u.starts_with("http://") && ca.is_none()));
    assert!(
        h.get("/api/v1/namespaces/ns/secrets/mine").is_some(),
        "the user's Secret is theirs"
    );
}

#[tokio::test]
async fn a_tls_service_monitor_scrapes_https_with_the_secrets_ca() {
    let h = Harness::new(
        json!({"replicas": 1, "tls": {"enabled": true, "secretName": "mine"},
        "metrics": {"serviceMonitor": {"enabled": true}}}),
    );
    h.world
        .lock()
        .unwrap()
        .serve_group("monitoring.coreos.com/v1");
    tls_secret(&h, "mine");
    h.reconcile().await.unwrap();
    let sm = h
        .get("/apis/monitoring.coreos.com/v1/namespaces/ns/servicemonitors/demo")
        .unwrap();
    let e = &sm["spec"]["endpoints"][0];
    assert_eq!(e["scheme"], "https");
    assert_eq!(
        e["tlsConfig"]["ca"]["secret"],
        json!({"name": "mine", "key": "ca.crt"})
    );
    assert_eq!(e["tlsConfig"]["serverName"], "demo.ns.svc");
}

#[tokio::test]
async fn a_new_ca_restarts_no_broker_and_the_operator_trusts_it_at_once() {
    let h = Harness::new(json!({"replicas": 3, "tls": {"enabled": true, "secretName": "mine"}}));
    tls_secret(&h, "mine");
    h.converge().await;
    let template = h.get(STS).unwrap()["spec"]["template"].clone();
    h.world
        .lock()
        .unwrap()
        .remove("/api/v1/namespaces/ns/secrets/mine");
    let ca = tls_secret(&h, "mine"); // re-issued by another CA
    h.take();
    h.broker.take_endpoints();
    h.reconcile().await.unwrap();
    let journal = h.take();
    assert!(
        !actions(&journal).iter().any(|l| l.contains("/pods/")),
        "the brokers re-read ca.crt: {journal:#?}"
    );
    assert_eq!(h.get(STS).unwrap()["spec"]["template"], template);
    let endpoints = h.broker.take_endpoints();
    assert!(!endpoints.is_empty());
    assert!(endpoints
        .iter()
        .all(|(_, trusted)| trusted.as_deref() == Some(ca.as_str())));
}

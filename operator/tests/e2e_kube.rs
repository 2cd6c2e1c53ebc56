//! End to end against a real API server: the operator binary, run from the host, forms a Raft
//! cluster of real broker pods, scales it up and down, and (with a second image) rolls it,
//! while published data stays readable. Runs against kind or `../shared/kube-emu` (with its
//! podman kubelet, which runs the pods as real containers):
//!
//! ```sh
//! KUBECONFIG=... JUMPNET_E2E_IMAGE=localhost/jumpnet:dev [JUMPNET_E2E_IMAGE2=localhost/jumpnet:dev2] \
//!   cargo test -p jumpnet-operator --test e2e_kube -- --ignored --nocapture
//! ```
//! The operator reaches brokers by pod IP (`--broker-address pod-ip`): the host must route to
//! pod IPs (true for kube-emu and for kind on Linux).

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use jumpnet_operator::crd::JumpnetCluster;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, CustomResourceExt};
use serde_json::json;

struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    let start = Instant::now();
    loop {
        let Some(state) = check().await else {
            println!("{what}: after {:.1}s", start.elapsed().as_secs_f64());
            return;
        };
        assert!(
            start.elapsed() < timeout,
            "timed out waiting for {what}; last state: {state}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `None` once the cluster is Running with `n` ready voters, else a description of its state.
async fn running(api: &Api<JumpnetCluster>, n: usize) -> Option<String> {
    let jc = api.get("e2e").await.ok()?;
    let s = jc.status.clone().unwrap_or_default();
    let voters = s.members.iter().filter(|m| m.role == "voter").count();
    let done = s.phase.as_deref() == Some("Running")
        && s.ready_replicas as usize == n
        && voters == n
        && s.members.len() == n
        && s.observed_generation == jc.metadata.generation;
    (!done).then(|| {
        format!(
            "{:?} ready={} members={:?}",
            s.phase, s.ready_replicas, s.members
        )
    })
}

async fn pod_ip(pods: &Api<Pod>, name: &str) -> String {
    pods.get(name)
        .await
        .unwrap()
        .status
        .unwrap()
        .pod_ip
        .unwrap()
}

#[tokio::test]
#[ignore = "needs KUBECONFIG and a cluster that can run JUMPNET_E2E_IMAGE"]
async fn operator_forms_scales_and_rolls_a_real_cluster() {
    let image = std::env::var("JUMPNET_E2E_IMAGE").expect("JUMPNET_E2E_IMAGE");
    let client = Client::try_default().await.expect("KUBECONFIG");
    let ns = format!("jn-e2e-{}", std::process::id());

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "jumpnetclusters.jumpnet.io",
        &PatchParams::apply("e2e").force(),
        &Patch::Apply(JumpnetCluster::crd()),
    )
    .await
    .unwrap();
    let established = await_condition(
        crds,
        "jumpnetclusters.jumpnet.io",
        conditions::is_crd_established(),
    );
    tokio::time::timeout(Duration::from_secs(30), established)
        .await
        .unwrap()
        .unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .unwrap();

    let _operator = Operator(
        Command::new(env!("CARGO_BIN_EXE_jumpnet-operator"))
            .args([
                "run",
                "--namespaces",
                &ns,
                "--metrics-addr",
                "127.0.0.1:0",
                "--leader-election=false",
            ])
            .args(["--broker-address", "pod-ip", "--requeue-busy", "2"])
            .spawn()
            .unwrap(),
    );

    let api: Api<JumpnetCluster> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let cluster = json!({
        "apiVersion": "jumpnet.io/v1alpha1", "kind": "JumpnetCluster",
        "metadata": {"name": "e2e", "namespace": ns},
        "spec": {"replicas": 3, "image": image, "imagePullPolicy": "IfNotPresent",
                 "storage": {"size": "100Mi", "deleteClaimOnScaleDown": true}},
    });
    api.create(
        &PostParams::default(),
        &serde_json::from_value(cluster).unwrap(),
    )
    .await
    .unwrap();
    wait_for("3 voters", Duration::from_secs(180), || running(&api, 3)).await;
    let cluster_id = api
        .get("e2e")
        .await
        .unwrap()
        .status
        .unwrap()
        .cluster_id
        .unwrap();

    let http = reqwest::Client::new();
    for i in 0..3 {
        let url = format!(
            "http://{}:9090/v1/topics/e2e/messages",
            pod_ip(&pods, "e2e-1").await
        );
        let resp = http
            .post(url)
            .json(&json!({"messages": [{"value": format!("m{i}")}]}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "publish: {}", resp.status());
    }

    let scale = |n: u32| {
        let api = api.clone();
        async move {
            api.patch(
                "e2e",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": n}})),
            )
            .await
            .unwrap();
        }
    };
    scale(5).await;
    wait_for("5 voters", Duration::from_secs(180), || running(&api, 5)).await;
    scale(3).await;
    wait_for("back to 3 voters", Duration::from_secs(180), || {
        running(&api, 3)
    })
    .await;
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    wait_for("StatefulSet shrunk", Duration::from_secs(60), || async {
        let r = sts.get("e2e").await.ok()?.spec.replicas;
        (r != Some(3)).then(|| format!("{r:?}"))
    })
    .await;

    if let Ok(image2) = std::env::var("JUMPNET_E2E_IMAGE2") {
        api.patch(
            "e2e",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"image": image2}})),
        )
        .await
        .unwrap();
        wait_for(
            "rolled to the new image",
            Duration::from_secs(240),
            || async {
                running(&api, 3).await?;
                let list = pods
                    .list(&ListParams::default().labels("app.kubernetes.io/instance=e2e"))
                    .await
                    .ok()?;
                let stale: Vec<_> = list
                    .items
                    .iter()
                    .filter(|p| {
                        p.spec.as_ref().unwrap().containers[0].image.as_deref()
                            != Some(image2.as_str())
                    })
                    .map(|p| p.metadata.name.clone().unwrap())
                    .collect();
                (!stale.is_empty()).then(|| format!("old image: {stale:?}"))
            },
        )
        .await;
    }

    let status = api.get("e2e").await.unwrap().status.unwrap();
    assert_eq!(
        status.cluster_id.as_deref(),
        Some(cluster_id.as_str()),
        "bootstrapped once"
    );
    let url = format!("http://{}:9090/history/e2e", pod_ip(&pods, "e2e-2").await);
    let values: Vec<String> = http.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(values, ["m0", "m1", "m2"]);

    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
}

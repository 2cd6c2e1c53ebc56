//! Forced recovery after losing a quorum for good (docs/broker-contract.md, part 3): the survivor
//! becomes the only voter, keeps every message it acknowledged and the cluster id, and takes new
//! members.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::harness::{wait_until, Cluster};

const FORCE: &str = "/v1/cluster/force-new-cluster";

async fn publish(c: &Cluster, n: usize, topic: &str) -> Vec<String> {
    let mut acked = Vec::new();
    for i in 0..n {
        let v = format!("m{i}");
        c.put(i % 3, topic, &v).await.unwrap();
        acked.push(v);
    }
    acked
}

fn voters(v: &Value) -> Vec<u64> {
    v["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "voter")
        .map(|m| m["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_survivor_of_a_lost_quorum_becomes_the_only_voter_with_every_acknowledged_message() {
    let mut c = Cluster::three(&[]).await;
    let acked = publish(&c, 30, "kept").await;
    let before = c.view(2).await.unwrap();
    let cluster_id = before["cluster_id"].clone();
    let me = before["node_id"].as_u64().unwrap();

    // A cluster with a live quorum refuses, whatever this node's role.
    let (s, v) = c.send(Method::POST, 2, FORCE, "{}").await.unwrap();
    assert_eq!(
        (s, &v["error"]["code"]),
        (409, &Value::from("has_quorum")),
        "{v}"
    );
    // The route exists for the operator's probe.
    let (s, _) = c.send(Method::OPTIONS, 2, FORCE, "").await.unwrap();
    assert_ne!(s, 404);

    c.nodes[0].kill();
    c.nodes[1].kill();
    // Once the lease of the last leader it heard ran out, the survivor recovers.
    let view = wait_until(
        "the forced recovery answers 200",
        Duration::from_secs(30),
        || async {
            match c.send(Method::POST, 2, FORCE, "{}").await? {
                (200, v) => Some(v),
                (409, v) if v["error"]["code"] == "has_quorum" => None,
                (s, v) => panic!("{s} {v}\n{}", c.logs()),
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    assert_eq!(voters(&view), vec![me], "{view}");
    assert_eq!(view["leader_id"].as_u64(), Some(me), "{view}");
    assert_eq!(view["cluster_id"], cluster_id, "{view}");
    // Idempotent.
    let (s, v) = c.send(Method::POST, 2, FORCE, "{}").await.unwrap();
    assert_eq!(s, 200, "{v}");

    assert_eq!(c.history(2, "kept").await.unwrap(), acked);
    assert_eq!(c.put(2, "kept", "after").await.unwrap(), 30);
    // New members join the survivor (empty, by Raft snapshot or log).
    let joined = c.add(Some(2), &[]);
    c.wait_voters(&[2, joined], 2).await;
    let h = wait_until(
        "the new member has the data",
        Duration::from_secs(20),
        || async { c.history(joined, "kept").await.filter(|h| h.len() == 31) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    assert_eq!(h[..30], acked[..]);
    assert_eq!(c.view(joined).await.unwrap()["cluster_id"], cluster_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_force_new_cluster_rewrites_the_membership_once_before_serving() {
    let mut c = Cluster::three(&[]).await;
    let acked = publish(&c, 20, "kept").await;
    let cluster_id = c.view(1).await.unwrap()["cluster_id"].clone();
    for n in c.nodes.iter_mut() {
        n.kill();
    }
    c.nodes[1].args.push("--force-new-cluster".into());
    c.nodes[1].start();
    c.wait_voters(&[1], 1).await;
    assert_eq!(c.view(1).await.unwrap()["cluster_id"], cluster_id);
    assert_eq!(c.history(1, "kept").await.unwrap(), acked);
    c.put(1, "kept", "after").await.unwrap();
    // With the flag still set, a restart is a no-op.
    c.nodes[1].kill();
    c.nodes[1].start();
    c.wait_voters(&[1], 1).await;
    assert_eq!(c.history(1, "kept").await.unwrap().len(), 21);
    assert!(c.nodes[1].log_tail().contains("already the only voter"));
}

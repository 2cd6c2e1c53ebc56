//! A full-cluster restart keeps every acknowledged message.

use std::time::Duration;

use crate::harness::{wait_until, Cluster};

#[tokio::test(flavor = "multi_thread")]
async fn full_cluster_restart_keeps_every_acknowledged_message() {
    let mut c = Cluster::three(&[]).await;
    let mut acked = Vec::new();
    for i in 0..60 {
        let v = format!("r{i}");
        c.put(i % 3, "durable", &v).await.unwrap();
        acked.push(v);
    }
    // Crash all three at once (kill -9): nothing gets a chance to flush on the way out.
    for n in c.nodes.iter_mut() {
        n.kill();
    }
    for n in c.nodes.iter_mut() {
        n.start();
    }
    c.wait_voters(&[0, 1, 2], 3).await;
    for i in 0..3 {
        let h = wait_until("history back", Duration::from_secs(20), || async {
            c.history(i, "durable").await.filter(|h| h.len() >= 60)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
        assert_eq!(h, acked, "node {i} after restart");
    }
    // The restarted cluster keeps taking writes at the next offset.
    assert_eq!(c.put(1, "durable", "after").await.unwrap(), 60);
}

/// Kill node `i`, delete its state dir, start it again with the same command line.
fn wipe_and_restart(c: &mut Cluster, i: usize) {
    c.nodes[i].kill();
    std::fs::remove_dir_all(&c.nodes[i].dir).unwrap();
    c.nodes[i].start();
}

async fn wait_log(c: &Cluster, i: usize, what: &str) {
    wait_until(what, Duration::from_secs(20), || async {
        c.nodes[i].log_tail().contains(what).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standalone_first_node_back_on_an_empty_state_dir_does_not_start_a_new_cluster() {
    // Review H5 case 3: node 1 (no flags) lost its state dir and restarts with its old command
    // line; a new one-node cluster there would acknowledge writes its old peers overwrite.
    let mut c = Cluster::three(&[]).await;
    c.put(1, "kept", "before").await.unwrap();
    let old = c.view(1).await.unwrap();
    let incarnation = old["members"][0]["incarnation"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(incarnation.len(), 32, "{old}");
    wipe_and_restart(&mut c, 0);
    wait_log(&c, 0, "not starting a new cluster").await;
    let v = c.view(0).await.unwrap();
    assert_eq!(v["cluster_id"], serde_json::Value::Null, "{v}");
    assert_ne!(v["incarnation"].as_str().unwrap(), incarnation, "{v}");
    assert!(c.put(0, "kept", "lost?").await.is_err());
    let (s, _) = c.get(0, "/readyz").await.unwrap();
    assert_eq!(s, 503);
    // The old cluster carries on with its two live voters, and still records the old incarnation.
    c.put(1, "kept", "after").await.unwrap();
    let v = c.view(1).await.unwrap();
    let member1 = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == 1)
        .unwrap();
    assert_eq!(member1["incarnation"].as_str(), Some(incarnation.as_str()));
    assert_eq!(c.history(2, "kept").await.unwrap(), vec!["before", "after"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_joined_member_back_on_an_empty_state_dir_neither_votes_nor_appends_until_re_added() {
    // Review H5 cases 1 and 2: the wiped node gets its old id back, but not the old member's place.
    let mut c = Cluster::three(&[]).await;
    c.put(0, "kept", "before").await.unwrap();
    wipe_and_restart(&mut c, 2);
    wait_log(&c, 2, "a member with incarnation").await;
    wait_log(&c, 2, "refused a raft request for another incarnation").await;
    c.put(0, "kept", "while").await.unwrap();
    let v = c
        .view(2)
        .await
        .unwrap_or_else(|| panic!("node 2 does not answer\n{}", c.logs()));
    assert_eq!(v["cluster_id"], serde_json::Value::Null, "{v}");
    assert_eq!(v["last_log_index"], 0, "nothing appended: {v}");
    assert_eq!(v["term"], 0, "no term adopted: {v}");
    // The operator's way back: remove the old member; the node's join then adds it anew.
    let leader = c.leader_seen_by(0).await.unwrap();
    let (s, body) = c
        .send(reqwest::Method::DELETE, leader, "/v1/cluster/members/3", "")
        .await
        .unwrap();
    assert_eq!(s, 200, "{body}");
    c.wait_voters(&[0, 1, 2], 3).await;
    let h = wait_until("node 2 caught up", Duration::from_secs(20), || async {
        c.history(2, "kept").await.filter(|h| h.len() >= 2)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    assert_eq!(h, vec!["before", "while"]);
}

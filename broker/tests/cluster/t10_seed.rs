//! The seed's command lines and curl calls.

use crate::harness::Cluster;

#[tokio::test(flavor = "multi_thread")]
async fn seed_command_lines_form_a_three_node_cluster() {
    // `Cluster::three` starts the seed's lines: `-state_dir=DIR -raft :P -api :Q` and
    // `-state_dir DIR ... -join :P0` (Go-style single-dash flags, `:PORT` addresses), with P = Q = 0
    // on a first start (the OS picks; restarts use the ports it picked).
    let c = Cluster::three(&[]).await;
    for i in 0..3 {
        let v = crate::harness::wait_until(
            "the cluster id is recorded",
            std::time::Duration::from_secs(5),
            || async { c.view(i).await.filter(|v| v["cluster_id"].is_string()) },
        )
        .await
        .unwrap();
        let voters: Vec<u64> = v["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "voter")
            .map(|m| m["id"].as_u64().unwrap())
            .collect();
        assert_eq!(voters.len(), 3, "node {i} sees {v}");
    }
    assert_eq!(
        c.view(0).await.unwrap()["cluster_id"],
        c.view(2).await.unwrap()["cluster_id"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn follower_forwards_publish_and_every_node_reads_the_same_history() {
    let c = Cluster::three(&[]).await;
    let leader = c.leader_seen_by(0).await.unwrap();
    let follower = (leader + 1) % 3;
    let mut offsets = Vec::new();
    for i in 0..25 {
        offsets.push(
            c.put(follower, "foo", &format!("msg-{i}"))
                .await
                .expect("publish through a follower"),
        );
    }
    assert_eq!(
        offsets,
        (0..25).collect::<Vec<u64>>(),
        "dense offsets in publish order"
    );
    let expected: Vec<String> = (0..25).map(|i| format!("msg-{i}")).collect();
    // Read-your-writes on the node that took the write.
    assert_eq!(c.history(follower, "foo").await.unwrap(), expected);
    for i in 0..3 {
        let h = crate::harness::wait_until(
            "history replicated",
            std::time::Duration::from_secs(10),
            || async { c.history(i, "foo").await.filter(|h| h.len() == 25) },
        )
        .await
        .unwrap();
        assert_eq!(h, expected, "node {i}");
    }
    // `GET /<topic>`: the newest values (10 by default), oldest first; unknown topics are empty.
    let (s, newest) = c.get(leader, "/foo").await.unwrap();
    assert_eq!(s, 200);
    assert_eq!(newest, serde_json::json!(expected[15..]));
    assert_eq!(
        c.get(follower, "/nothing-here").await.unwrap(),
        (200, serde_json::json!([]))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn named_consumer_reads_each_value_once_through_the_seed_api() {
    let c = Cluster::three(&[]).await;
    for i in 0..5 {
        c.put(1, "jobs", &format!("j{i}")).await.unwrap();
    }
    let (_, first) = c.get(2, "/jobs?consumer=worker&limit=3").await.unwrap();
    assert_eq!(first, serde_json::json!(["j0", "j1", "j2"]));
    let (_, rest) = c.get(0, "/jobs?consumer=worker").await.unwrap();
    assert_eq!(
        rest,
        serde_json::json!(["j3", "j4"]),
        "position is replicated: another node continues where the first left off"
    );
    let (_, none) = c.get(1, "/jobs?consumer=worker").await.unwrap();
    assert_eq!(none, serde_json::json!([]));
    let (_, other) = c.get(1, "/jobs?consumer=other&limit=2").await.unwrap();
    assert_eq!(
        other,
        serde_json::json!(["j0", "j1"]),
        "consumers are independent"
    );
}

/// M2: many calls of one consumer name at once, through every node: each value is answered
/// exactly once, none skipped (the claim is a compare-and-set of the position; the values are read
/// on the answering node only).
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_calls_of_one_consumer_share_the_values_without_overlap() {
    let c = Cluster::three(&[]).await;
    let total = 60;
    for i in 0..total {
        c.put(i % 3, "queue", &format!("m{i}")).await.unwrap();
    }
    let c = std::sync::Arc::new(c);
    let mut tasks = Vec::new();
    for w in 0..6 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut got: Vec<String> = Vec::new();
            loop {
                let (s, v) = c
                    .get(w % 3, "/queue?consumer=shared&limit=4")
                    .await
                    .unwrap();
                if s == 503 {
                    continue; // a lost claim race under heavy contention; nothing was claimed
                }
                assert_eq!(s, 200, "{v}");
                let page: Vec<String> = serde_json::from_value(v).unwrap();
                if page.is_empty() {
                    return got;
                }
                got.extend(page);
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        all.len(),
        "a value was answered twice: {all:?}"
    );
    assert_eq!(all.len(), total, "values were skipped: {all:?}");
}

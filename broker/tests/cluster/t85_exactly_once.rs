//! Exactly-once publish: retries with the same producer id and sequence store nothing twice, also
//! when the leader died in the middle of the first attempt.
//!
//! The first attempt is provably in flight when the leader dies: the followers are frozen
//! (SIGSTOP), so the leader appends the batch but cannot commit it, and the test waits until the
//! request is parked on the leader before it kills it. Whether the followers got the entry before
//! they froze is up to the kernel's buffers: the outcome is unknown, as for a real client.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::harness::{wait_until, Cluster};

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_the_leader_was_killed_mid_request_stores_the_batch_once() {
    // A long election timeout: the leader keeps taking writes for its lease (2x) after the
    // followers froze, long enough to see the request parked.
    let mut c = Cluster::three(&["--election-timeout-ms", "1000"]).await;
    c.put(0, "pay", "warmup").await.unwrap();
    let leader = c.leader_seen_by(0).await.unwrap();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for &i in &survivors {
        c.nodes[i].freeze(true);
    }
    let body = json!({"messages": [{"value": "once-a"}, {"value": "once-b"}], "producer_id": "p-1", "sequence": 7}).to_string();

    let first = {
        let (url, body) = (
            format!("{}/v1/topics/pay/messages", c.nodes[leader].api()),
            body.clone(),
        );
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    // Kill the leader while the request is in flight (its fate is unknown to the client).
    c.wait_one_request_parked(leader).await;
    c.nodes[leader].kill();
    for &i in &survivors {
        c.nodes[i].freeze(false);
    }
    let first = first.await.unwrap();
    assert!(first.is_err(), "the first attempt got no answer: {first:?}");

    let (offsets, dup) = wait_until(
        "the retry succeeds on a survivor",
        Duration::from_secs(20),
        || async {
            match c
                .send(Method::POST, survivors[0], "/v1/topics/pay/messages", &body)
                .await
            {
                Some((200, v)) => Some((v["offsets"].clone(), v["duplicate"].clone())),
                _ => None,
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    let again = c
        .send(Method::POST, survivors[1], "/v1/topics/pay/messages", &body)
        .await
        .unwrap()
        .1;
    assert_eq!(
        (again["offsets"].clone(), again["duplicate"].as_bool()),
        (offsets.clone(), Some(true)),
        "a second retry gets the same answer"
    );
    eprintln!("retry answered {offsets} (duplicate: {dup})");

    for &i in &survivors {
        let h = wait_until("history has the batch", Duration::from_secs(10), || async {
            c.history(i, "pay")
                .await
                .filter(|h| h.contains(&"once-b".to_string()))
        })
        .await
        .unwrap();
        assert_eq!(
            h.iter().filter(|v| *v == "once-a").count(),
            1,
            "node {i}: {h:?}"
        );
        assert_eq!(
            h.iter().filter(|v| *v == "once-b").count(),
            1,
            "node {i}: {h:?}"
        );
        let a = h.iter().position(|v| v == "once-a").unwrap();
        assert_eq!(h[a + 1], "once-b", "the batch is contiguous");
        assert_eq!(json!([a, a + 1]), offsets);
    }

    // Next sequence: new offsets; an old one outside the remembered window: refused.
    let next =
        json!({"messages": [{"value": "next"}], "producer_id": "p-1", "sequence": 8}).to_string();
    let (s, v) = c
        .send(Method::POST, survivors[1], "/v1/topics/pay/messages", &next)
        .await
        .unwrap();
    assert_eq!((s, v["duplicate"].as_bool()), (200, Some(false)));
    let old =
        json!({"messages": [{"value": "old"}], "producer_id": "p-1", "sequence": 3}).to_string();
    let (s, v) = c
        .send(Method::POST, survivors[1], "/v1/topics/pay/messages", &old)
        .await
        .unwrap();
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("sequence_too_old"))
    );
}

/// M8: a producer that restarted without its sequence keeps its id with the next epoch and starts
/// at sequence 0; the old epoch is fenced (409 producer_fenced) — also after a leader change, and
/// on a node that restarted and caught up from a snapshot (the epoch is replicated state).
#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_producer_with_the_next_epoch_starts_over_and_fences_the_old_one() {
    let mut c = Cluster::three(&["--snapshot-every", "20"]).await;
    let body = |epoch: u64, sequence: u64, value: &str| {
        json!({"messages": [{"value": value}], "producer_id": "p-e", "producer_epoch": epoch, "sequence": sequence})
            .to_string()
    };

    // Epoch 0 (no `producer_epoch`: the body as before epochs) publishes 0..3.
    for seq in 0..3u64 {
        let old = json!({"messages": [{"value": format!("old-{seq}")}], "producer_id": "p-e", "sequence": seq});
        assert_eq!(stored(publish(&c, 0, old.to_string()).await), (seq, false));
    }
    // The restarted instance: epoch 1 from sequence 0.
    assert_eq!(
        stored(publish(&c, 1, body(1, 0, "new-0")).await),
        (3, false)
    );
    fenced(publish(&c, 2, body(0, 3, "zombie")).await);

    // Leader change: the new leader knows the epoch.
    let leader = c.leader_seen_by(0).await.unwrap();
    let last = c.view(leader).await.unwrap()["last_log_index"]
        .as_u64()
        .unwrap();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    c.nodes[leader].kill();
    c.wait_new_leader(&survivors, leader).await;
    fenced(publish(&c, survivors[0], body(0, 4, "zombie")).await);
    assert_eq!(
        stored(publish(&c, survivors[1], body(1, 0, "new-0")).await),
        (3, true),
        "a retry of the new epoch's first batch gets the first answer"
    );
    assert_eq!(
        stored(publish(&c, survivors[0], body(1, 1, "new-1")).await),
        (4, false)
    );

    // The survivors compact their logs past what the killed node has: it restarts and catches
    // up from a snapshot, which carries the epoch.
    let mut i = 0;
    wait_until(
        "the survivors purged their logs",
        Duration::from_secs(30),
        || {
            i += 1;
            let n = survivors[i % 2];
            let (c, survivors) = (&c, &survivors);
            async move {
                c.put(n, "filler", &format!("f{i}")).await.ok()?;
                for &s in survivors {
                    (c.view(s).await?["purged_index"].as_u64()? > last).then_some(())?;
                }
                Some(())
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    c.nodes[leader].start();
    c.wait_voters(&[0, 1, 2], 3).await;
    let h = wait_until(
        "the restarted node caught up",
        Duration::from_secs(30),
        || async { c.history(leader, "epochs").await.filter(|h| h.len() == 5) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    assert_eq!(h, ["old-0", "old-1", "old-2", "new-0", "new-1"]);
    let v = c.view(leader).await.unwrap();
    assert!(
        v["snapshot_index"].as_u64().unwrap() > last,
        "it installed a snapshot: {v}"
    );

    // The current leader goes away; the restarted node (maybe the new leader) serves the writes.
    let second = c.leader_seen_by(leader).await.unwrap();
    c.nodes[second].kill();
    let rest: Vec<usize> = (0..3).filter(|i| *i != second).collect();
    c.wait_new_leader(&rest, second).await;
    fenced(publish(&c, leader, body(0, 9, "zombie")).await);
    assert_eq!(
        stored(publish(&c, leader, body(2, 0, "newer-0")).await),
        (5, false)
    );
    fenced(publish(&c, rest[0], body(1, 2, "zombie")).await);
    for &i in &rest {
        let h = wait_until(
            "history has the last batch",
            Duration::from_secs(10),
            || async { c.history(i, "epochs").await.filter(|h| h.len() == 6) },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
        assert!(!h.iter().any(|v| v == "zombie"), "node {i}: {h:?}");
    }
}

/// Publish to topic `epochs` through node `i`, retrying while no leader answers.
async fn publish(c: &Cluster, i: usize, body: String) -> (u16, serde_json::Value) {
    wait_until("an answer", Duration::from_secs(20), || async {
        match c
            .send(Method::POST, i, "/v1/topics/epochs/messages", &body)
            .await
        {
            Some((503, _)) | None => None,
            Some(answer) => Some(answer),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()))
}

fn stored((status, v): (u16, serde_json::Value)) -> (u64, bool) {
    assert_eq!(status, 200, "{v}");
    (
        v["base_offset"].as_u64().unwrap(),
        v["duplicate"].as_bool().unwrap(),
    )
}

fn fenced((status, v): (u16, serde_json::Value)) {
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("producer_fenced")),
        "{v}"
    );
}

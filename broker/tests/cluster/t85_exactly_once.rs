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

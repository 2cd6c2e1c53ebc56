//! SIGTERM: the leader hands over, `/readyz` turns 503, in-flight requests get answers, exit 0.

use std::time::Duration;

use crate::harness::{wait_until, Cluster};

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_on_the_leader_hands_over_and_exits_cleanly() {
    let mut c = Cluster::three(&[]).await;
    let leader = c.leader_seen_by(0).await.unwrap();
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    c.put(leader, "t", "before").await.unwrap();

    // A long-poll in flight on the leader when the signal arrives.
    let poll = {
        let url = format!(
            "{}/v1/topics/t/messages?offset=1&wait_ms=20000",
            c.nodes[leader].api()
        );
        tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status().as_u16()) })
    };
    c.wait_one_request_parked(leader).await;

    c.nodes[leader].signal_term();
    let not_ready = wait_until(
        "/readyz turns 503 during shutdown",
        Duration::from_secs(5),
        || async {
            match c.get(leader, "/readyz").await {
                Some((503, v)) => Some(v),
                _ => None,
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    assert_eq!(not_ready["error"]["code"], "not_ready");

    let status = poll
        .await
        .unwrap()
        .expect("the in-flight long-poll got a complete answer");
    assert!(
        status == 200 || status == 503,
        "long-poll answered {status}"
    );
    let code = c.nodes[leader].terminate();
    assert_eq!(code, Some(0), "clean exit\n{}", c.nodes[leader].log_tail());
    let log = std::fs::read_to_string(c.nodes[leader].log_path()).unwrap();
    assert!(
        log.contains("handed leadership over"),
        "the leader handed over before stopping:\n{log}"
    );

    let new_leader = c.wait_new_leader(&others, leader).await;
    assert_ne!(new_leader, leader);
    c.put(others[0], "t", "after").await.unwrap();
    let h = wait_until(
        "the other survivor applied it",
        Duration::from_secs(5),
        || async { c.history(others[1], "t").await.filter(|h| h.len() == 2) },
    )
    .await
    .unwrap();
    assert_eq!(h, vec!["before", "after"]);
}

//! A leader cut off from the majority stops claiming to be ready and refuses writes with 503 at
//! once (rather than letting them time out), and serves again once it hears from the others.

use std::time::{Duration, Instant};

use crate::harness::{wait_until, Cluster};

/// A refusal takes a round trip, not the 10 s commit timeout (generous for a loaded machine).
const REFUSED_AT_ONCE: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_without_a_majority_refuses_writes_with_503_and_recovers() {
    let c = Cluster::three(&[]).await;
    let leader = c.leader_seen_by(0).await.unwrap();
    wait_until("ready", Duration::from_secs(5), || async {
        c.get(leader, "/readyz").await.filter(|(s, _)| *s == 200)
    })
    .await
    .unwrap();
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for &i in &others {
        c.nodes[i].freeze(true);
    }
    let (_, v) = wait_until(
        "/readyz turns 503 on the cut-off leader",
        Duration::from_secs(5),
        || async { c.get(leader, "/readyz").await.filter(|(s, _)| *s == 503) },
    )
    .await
    .unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("majority"),
        "{v}"
    );
    let t = Instant::now();
    let err = c.put(leader, "t", "lost").await.unwrap_err();
    assert!(err.starts_with("503") && err.contains("no_quorum"), "{err}");
    assert!(
        t.elapsed() < REFUSED_AT_ONCE,
        "refused at once, not after a timeout: {:?}",
        t.elapsed()
    );

    for &i in &others {
        c.nodes[i].freeze(false);
    }
    let offset = wait_until("writes succeed again", Duration::from_secs(15), || async {
        c.put(others[0], "t", "back").await.ok()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    assert_eq!(offset, 0, "the refused write was not stored");
}

//! Losing the leader: a new one quickly, nothing acknowledged lost, the old one catches up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{wait_until, Cluster};

/// Publishes `v0, v1, ...` one at a time through `apis` (round robin) until stopped; records the
/// values that were acknowledged, in order. Failed publishes are not retried (their outcome may be
/// unknown), so every recorded value must be in the log exactly once, in this order.
fn publisher(
    apis: Vec<String>,
    stop: Arc<AtomicBool>,
) -> (Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>) {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let a = acked.clone();
    let handle = tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let value = format!("v{i}");
            let api = &apis[i as usize % apis.len()];
            let r = http
                .put(format!("{api}/"))
                .body(serde_json::json!({"Key": "stream", "Value": value}).to_string())
                .send()
                .await;
            if r.is_ok_and(|r| r.status() == 200) {
                a.lock().unwrap().push(value);
            }
            i += 1;
        }
    });
    (acked, handle)
}

/// A new leader is elected within this of the old one's death: the election timeout is 300–600 ms,
/// so a few rounds (split votes on a loaded machine) still fit; a failover that needs an operator
/// or a long timeout would not.
const ELECTION_BOUND: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread")]
async fn acked_messages_survive_leader_kill_and_the_old_leader_catches_up() {
    let mut c = Cluster::three(&[]).await;
    let leader = c.leader_seen_by(0).await.unwrap();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, handle) = publisher(
        survivors.iter().map(|i| c.nodes[*i].api()).collect(),
        stop.clone(),
    );

    wait_until(
        "50 publishes acknowledged",
        Duration::from_secs(30),
        || async { (acked.lock().unwrap().len() >= 50).then_some(()) },
    )
    .await
    .unwrap();
    c.nodes[leader].kill();
    let killed_at = Instant::now();
    let acked_at_kill = acked.lock().unwrap().len();

    let new_leader = wait_until("a survivor leads", Duration::from_secs(10), || async {
        let l = c.leader_seen_by(survivors[0]).await?;
        (l != leader && c.leader_seen_by(survivors[1]).await == Some(l)).then_some(l)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    let election = killed_at.elapsed();
    assert!(election < ELECTION_BOUND, "new leader after {election:?}");
    assert!(survivors.contains(&new_leader));

    wait_until(
        "publishes continue after the kill",
        Duration::from_secs(30),
        || async { (acked.lock().unwrap().len() >= acked_at_kill + 50).then_some(()) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    stop.store(true, Ordering::Relaxed);
    handle.await.unwrap();
    let acked = acked.lock().unwrap().clone();

    let mut histories = Vec::new();
    for &i in &survivors {
        let h = wait_until(
            "survivor history complete",
            Duration::from_secs(10),
            || async {
                let h = c.history(i, "stream").await?;
                acked.iter().all(|v| h.contains(v)).then_some(h)
            },
        )
        .await
        .unwrap_or_else(|e| panic!("node {i}: {e}"));
        // Acknowledged values appear once each, in acknowledgement order.
        let positions: Vec<usize> = acked
            .iter()
            .map(|v| h.iter().position(|x| x == v).unwrap())
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "acked order preserved on node {i}"
        );
        for v in &acked {
            assert_eq!(
                h.iter().filter(|x| *x == v).count(),
                1,
                "{v} stored once on node {i}"
            );
        }
        histories.push(h);
    }
    assert_eq!(histories[0], histories[1], "survivors agree");

    c.nodes[leader].start();
    let expected = histories[0].clone();
    wait_until(
        "the restarted node caught up",
        Duration::from_secs(30),
        || async { (c.history(leader, "stream").await? == expected).then_some(()) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    c.wait_voters(&[0, 1, 2], 3).await;
}

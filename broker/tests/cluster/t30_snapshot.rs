//! Log compaction: snapshots bound the log, and a node joining after the purge catches up from a
//! streamed snapshot.

use std::time::Duration;

use crate::harness::{wait_until, Cluster};

#[tokio::test(flavor = "multi_thread")]
async fn node_joining_after_purge_catches_up_from_a_snapshot() {
    let snap = ["--snapshot-every", "50"];
    let mut c = Cluster::new();
    c.add(None, &snap);
    c.add(Some(0), &snap);
    c.wait_voters(&[0, 1], 2).await;
    for i in 0..400 {
        c.put(i % 2, "big", &format!("m{i}-{}", "x".repeat(100)))
            .await
            .unwrap();
    }
    // A second topic and a consumer position travel in the snapshot too.
    c.put(0, "small", "only").await.unwrap();
    let (s, _) = c.get(1, "/big?consumer=reader&limit=7").await.unwrap();
    assert_eq!(s, 200);

    let purged = wait_until(
        "the leader purged its log",
        Duration::from_secs(20),
        || async {
            let v = c.view(0).await?;
            let p = v["purged_index"].as_u64()?;
            (p > 100).then_some(p)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));

    let late = c.add(Some(1), &snap);
    c.wait_voters(&[0, 1, late], 3).await;
    let expected = c.history(0, "big").await.unwrap();
    assert_eq!(expected.len(), 400);
    let got = wait_until(
        "the late node has the whole log",
        Duration::from_secs(30),
        || async { c.history(late, "big").await.filter(|h| h.len() == 400) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    assert_eq!(got, expected);
    assert_eq!(c.history(late, "small").await.unwrap(), vec!["only"]);
    let v = c.view(late).await.unwrap();
    assert!(
        v["snapshot_index"].as_u64().unwrap() >= purged,
        "entries up to {purged} were purged before it joined, so it must have installed a snapshot: {v}"
    );
    // The consumer position came along: reading on the new node continues at offset 7.
    let (_, next) = c.get(late, "/big?consumer=reader&limit=1").await.unwrap();
    assert_eq!(next[0].as_str().unwrap(), &expected[7]);
}

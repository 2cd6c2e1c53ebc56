//! H3: a node joining a cluster whose log was compacted catches up from a snapshot of any size,
//! while the leader keeps taking writes.
//!
//! The size is `JUMPNET_SOAK_SNAPSHOT_MB` (default 64: the bounded profile every `cargo test`
//! runs); `scripts/soak.sh snapshot` runs it with several GB.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{wait_until, Cluster};

/// Bytes of one message value, and messages per publish (about 6 MiB of JSON: under the
/// default 8 MiB request limit).
const MSG: usize = 256 * 1024;
const PER_BATCH: u64 = 24;
const TOPIC: &str = "big";

#[tokio::test(flavor = "multi_thread")]
async fn a_joining_node_catches_up_from_a_snapshot_of_any_size() {
    let mb: u64 = std::env::var("JUMPNET_SOAK_SNAPSHOT_MB")
        .ok()
        .map(|v| {
            v.parse()
                .expect("JUMPNET_SOAK_SNAPSHOT_MB is a number of MB")
        })
        .unwrap_or(64);
    let messages = (mb << 20).div_ceil(MSG as u64).next_multiple_of(PER_BATCH);
    let flags = ["--snapshot-every", "10"];
    let mut c = Cluster::new();
    c.add(None, &flags);
    c.wait_voters(&[0], 1).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let base = filler();

    // Fill the topic: big batches, a few in flight.
    let started = Instant::now();
    let next_batch = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let (http, base, next_batch) = (http.clone(), base.clone(), next_batch.clone());
            let url = format!("{}/v1/topics/{TOPIC}/messages", c.nodes[0].api());
            tokio::spawn(async move {
                loop {
                    let b = next_batch.fetch_add(1, Ordering::SeqCst);
                    if b * PER_BATCH >= messages {
                        return;
                    }
                    let batch: Vec<Value> = (b * PER_BATCH..(b + 1) * PER_BATCH)
                        .map(|i| json!({ "value": value(&base, i) }))
                        .collect();
                    let body = json!({ "messages": batch });
                    let r = http.post(&url).json(&body).send().await.unwrap();
                    let status = r.status();
                    let v: Value = r.json().await.unwrap();
                    assert_eq!(status, 200, "{v}");
                    assert_eq!(v["offsets"].as_array().unwrap().len() as u64, PER_BATCH);
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let fill = started.elapsed();
    eprintln!(
        "t31: published {messages} messages ({} MB) in {fill:.1?}",
        (messages * MSG as u64) >> 20
    );

    // The leader's log is compacted: a joiner cannot replay it and must take a snapshot.
    let last = c.view(0).await.unwrap()["last_log_index"].as_u64().unwrap();
    let purged = wait_until(
        "the leader compacted its log",
        Duration::from_secs(60),
        || async {
            // A write moves the snapshot policy along if the last batches ended exactly at a mark.
            c.put(0, "tick", "t").await.ok()?;
            let p = c.view(0).await?["purged_index"].as_u64()?;
            (p + 20 >= last).then_some(p)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));

    // Small publishes on the leader during the transfer: they keep being answered promptly.
    let transfer_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let side = {
        let (http, done) = (http.clone(), transfer_done.clone());
        let url = format!("{}/v1/topics/side/messages", c.nodes[0].api());
        tokio::spawn(async move {
            let (mut n, mut worst) = (0u64, Duration::ZERO);
            while !done.load(Ordering::SeqCst) || n == 0 {
                let t = Instant::now();
                let r = http
                    .post(&url)
                    .json(&json!({"messages": [{"value": format!("s{n}")}]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                worst = worst.max(t.elapsed());
                n += 1;
            }
            (n, worst)
        })
    };

    let joined = Instant::now();
    let learner = c.add(Some(0), &flags);
    let leader_info = topic(&c, 0, TOPIC).await.unwrap();
    let hw = leader_info["high_watermark"].as_u64().unwrap();
    assert_eq!(hw, messages);
    // Generous: 60 s plus 1 s per 5 MB (a slow shared disk does ~50 MB/s for each of the copies).
    let bound = Duration::from_secs(60 + mb / 5);
    // Caught up: the learner serves the whole topic and its Raft state says it applied the
    // leader's log (openraft records the install once it returned, a moment after the data shows).
    wait_until("the learner caught up", bound, || async {
        topic(&c, learner, TOPIC)
            .await
            .filter(|t| t["high_watermark"].as_u64() == Some(hw))?;
        c.view(learner)
            .await
            .filter(|v| v["applied_index"].as_u64() >= Some(purged))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    let transfer = joined.elapsed();
    transfer_done.store(true, Ordering::SeqCst);
    let (side_writes, worst) = side.await.unwrap();
    eprintln!(
        "t31: a {mb} MB snapshot was sent and installed in {transfer:.1?} ({:.0} MB/s); \
         {side_writes} publishes on the leader meanwhile, slowest {worst:.1?}",
        mb as f64 / transfer.as_secs_f64()
    );
    // More than the leader's usual log past a snapshot (10 + 10 entries here): without holding
    // the log during the transfer, the learner would need a second snapshot.
    assert!(
        side_writes > 20,
        "only {side_writes} writes during the transfer: the test proves nothing"
    );
    assert!(
        worst < Duration::from_secs(5),
        "the leader stalled publishes for {worst:?} during the transfer"
    );

    let v = c.view(learner).await.unwrap();
    assert!(
        v["snapshot_index"].as_u64().unwrap() >= purged,
        "entries up to {purged} were purged before it joined, so it installed a snapshot: {v}"
    );
    let got = topic(&c, learner, TOPIC).await.unwrap();
    for k in ["high_watermark", "log_start_offset", "bytes", "messages"] {
        assert_eq!(got[k], leader_info[k], "{k}: {got} vs {leader_info}");
    }
    // A sample of messages, byte for byte (value, timestamp, publisher) as the leader serves them.
    let step = (messages / 40).max(1);
    let sample = (0..messages)
        .step_by(step as usize)
        .chain([1, messages - 1]);
    for off in sample {
        let on_leader = read_one(&c, 0, off).await;
        let on_learner = read_one(&c, learner, off).await;
        assert_eq!(on_learner, on_leader, "offset {off}");
        // Writers interleave their batches: the value names the message it is.
        let v = on_learner["value"].as_str().unwrap();
        let n: u64 = v[..10].parse().unwrap();
        assert!(
            v == value(&base, n),
            "offset {off} holds a corrupt message {n}"
        );
    }
    // The learner also gets the writes made during the transfer, from the log: the leader built
    // no new snapshot while it was sending one (`cluster::compaction`), so the entries after the
    // snapshot are still there (with `--snapshot-every 10` the side writes alone are hundreds of
    // times its usual log), and one snapshot is all the learner ever needs.
    let side_hw = topic(&c, 0, "side").await.unwrap()["high_watermark"].clone();
    wait_until("the learner has the side writes", bound, || async {
        topic(&c, learner, "side")
            .await
            .filter(|t| t["high_watermark"] == side_hw)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));

    let installs = std::fs::read_to_string(c.nodes[learner].log_path())
        .unwrap()
        .matches("installed snapshot from the leader")
        .count();
    eprintln!(
        "t31: caught up with the writes made during the transfer after {:.1?} ({installs} snapshot installs)",
        joined.elapsed()
    );
    if installs != 1 {
        for n in [0, learner] {
            let log = std::fs::read_to_string(c.nodes[n].log_path()).unwrap();
            for line in log
                .lines()
                .filter(|l| l.contains("snapshot") || l.contains("purg") || l.contains("learner"))
            {
                eprintln!("node {n}: {}", &line[..line.len().min(300)]);
            }
        }
    }
    assert_eq!(
        installs,
        1,
        "the learner needed {installs} snapshots: the leader purged the log it needed after the first"
    );

    // Retention on the leader still works afterwards, and the learner trims the same offsets.
    let keep = (mb << 20) / 4;
    let (s, v) = c
        .send(
            Method::PUT,
            0,
            &format!("/v1/topics/{TOPIC}"),
            &json!({"retention": {"max_bytes": keep}}).to_string(),
        )
        .await
        .unwrap();
    assert!(s == 200 || s == 201, "{v}");
    for i in [0, learner] {
        let t = wait_until("retention trimmed", Duration::from_secs(60), || async {
            topic(&c, i, TOPIC)
                .await
                .filter(|t| t["bytes"].as_u64().is_some_and(|b| b <= keep))
        })
        .await
        .unwrap_or_else(|e| panic!("node {i}: {e}\n{}", c.logs()));
        assert!(t["log_start_offset"].as_u64().unwrap() > 0, "{t}");
        assert_eq!(t["high_watermark"].as_u64(), Some(hw));
    }
}

async fn topic(c: &Cluster, i: usize, name: &str) -> Option<Value> {
    match c.get(i, &format!("/v1/topics/{name}")).await? {
        (200, v) => Some(v),
        _ => None,
    }
}

async fn read_one(c: &Cluster, i: usize, offset: u64) -> Value {
    let (s, v) = c
        .get(
            i,
            &format!("/v1/topics/{TOPIC}/messages?offset={offset}&limit=1"),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["messages"][0]["offset"].as_u64(), Some(offset), "{v}");
    v["messages"][0].clone()
}

/// Pseudo-random printable bytes, twice a message long: every message is a window of it.
fn filler() -> Arc<String> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let s = (0..2 * MSG)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (b'!' + (x % 90) as u8) as char
        })
        .collect();
    Arc::new(s)
}

/// Message `i`: its number, then a window of the filler that depends on it.
fn value(base: &str, i: u64) -> String {
    let head = format!("{i:010}:");
    let start = (i as usize).wrapping_mul(7919) % MSG;
    head.clone() + &base[start..start + MSG - head.len()]
}

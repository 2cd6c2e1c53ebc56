//! Consumer groups against real processes (SPEC §9): fetchers on all three nodes share the work —
//! never the same message at once, every message exactly once when all acknowledge — and a
//! leader kill mid-stream never brings back an acknowledged message while the unacknowledged ones
//! come back after `ack_wait_ms`. The CLI's `consume --group` prints and acknowledges.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{wait_until, Cluster, BIN};

const TOTAL: u64 = 300;
const PATH: &str = "/v1/topics/jobs/groups/workers";

/// A message of the group: (partition, offset).
type Ref = (u64, u64);

#[derive(Default)]
struct Seen {
    /// Messages a fetcher holds (leased to it, not yet acknowledged).
    held: BTreeSet<Ref>,
    /// Messages whose acknowledgement was answered 200.
    acked: BTreeSet<Ref>,
    /// message -> deliveries received.
    deliveries: BTreeMap<Ref, Vec<u64>>,
    violations: Vec<String>,
}

async fn call(http: &reqwest::Client, url: String, body: Value) -> Option<Value> {
    let r = http.post(url).json(&body).send().await.ok()?;
    (r.status() == 200).then_some(())?;
    r.json().await.ok()
}

fn message_ref(m: &Value) -> Ref {
    (
        m["partition"].as_u64().unwrap(),
        m["offset"].as_u64().unwrap(),
    )
}

/// Fetch and acknowledge through `apis` (the next one when a node fails) until `stop`.
fn fetcher(
    apis: Vec<String>,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            let api = &apis[i % apis.len()];
            let Some(v) = call(
                &http,
                format!("{api}{PATH}/fetch"),
                json!({"max_messages": 10, "wait_ms": 500}),
            )
            .await
            else {
                i += 1;
                continue;
            };
            let got: Vec<(Ref, u64)> = v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| (message_ref(m), m["delivery"].as_u64().unwrap()))
                .collect();
            {
                let mut s = seen.lock().unwrap();
                for &(r, d) in &got {
                    if s.acked.contains(&r) {
                        s.violations.push(format!(
                            "message {r:?} delivered again (delivery {d}) after its ack"
                        ));
                    }
                    if !s.held.insert(r) {
                        s.violations
                            .push(format!("message {r:?} leased to two fetchers at once"));
                    }
                    s.deliveries.entry(r).or_default().push(d);
                }
            }
            let refs: Vec<Value> = got
                .iter()
                .map(|((p, o), _)| json!({"partition": p, "offset": o}))
                .collect();
            // An ack whose answer was lost may have been stored: retry it (acks are idempotent)
            // on the next nodes, or the message would count as neither acknowledged nor coming back.
            let mut acked = false;
            for _ in 0..apis.len() * 8 {
                let api = &apis[i % apis.len()];
                let body = json!({ "messages": refs });
                if call(&http, format!("{api}{PATH}/ack"), body)
                    .await
                    .is_some()
                {
                    acked = true;
                    break;
                }
                i += 1;
            }
            let mut s = seen.lock().unwrap();
            for (r, _) in got {
                s.held.remove(&r);
                if acked {
                    s.acked.insert(r);
                }
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn fetchers_on_every_node_share_the_work_and_a_leader_kill_loses_no_ack() {
    share_the_work_through_a_leader_kill(1).await;
}

/// Issue 16: the same over four partitions with keyed publishes: every message of every
/// partition is acknowledged once, none comes back after its ack across the kill.
#[tokio::test(flavor = "multi_thread")]
async fn a_group_over_four_partitions_survives_a_leader_kill() {
    share_the_work_through_a_leader_kill(4).await;
}

async fn share_the_work_through_a_leader_kill(partitions: u32) {
    let mut c = Cluster::three(&[]).await;
    let apis: Vec<String> = (0..3).map(|i| c.nodes[i].api()).collect();
    let (status, v) = c
        .send(
            reqwest::Method::PUT,
            0,
            "/v1/topics/jobs",
            &json!({ "partitions": partitions }).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{v}");
    // One batch per key (a batch goes to its first key's partition).
    let keys = 20;
    let mut sent: BTreeSet<Ref> = BTreeSet::new();
    for k in 0..keys {
        let messages: Vec<Value> = (0..TOTAL / keys)
            .map(|i| json!({"key": format!("key-{k}"), "value": format!("job-{k}-{i}")}))
            .collect();
        let (status, v) = c
            .send(
                reqwest::Method::POST,
                0,
                "/v1/topics/jobs/messages",
                &json!({ "messages": messages }).to_string(),
            )
            .await
            .unwrap();
        assert_eq!(status, 200, "{v}");
        let p = v["partition"].as_u64().unwrap();
        sent.extend(
            v["offsets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| (p, o.as_u64().unwrap())),
        );
    }
    assert_eq!(sent.len() as u64, TOTAL);
    let used: BTreeSet<u64> = sent.iter().map(|(p, _)| *p).collect();
    assert!(
        partitions == 1 || used.len() >= 2,
        "keys spread over the partitions: {used:?}"
    );
    let (status, v) = c
        .send(
            reqwest::Method::PUT,
            1,
            PATH,
            &json!({"ack_wait_ms": 5000}).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");

    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut fetchers: Vec<_> = (0..3)
        .map(|i| {
            fetcher(
                vec![
                    apis[i].clone(),
                    apis[(i + 1) % 3].clone(),
                    apis[(i + 2) % 3].clone(),
                ],
                seen.clone(),
                stop.clone(),
            )
        })
        .collect();
    wait_until(
        "a third of the work acknowledged",
        Duration::from_secs(60),
        || async { (seen.lock().unwrap().acked.len() as u64 >= TOTAL / 3).then_some(()) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));

    // Lease a few and never acknowledge them, then kill the leader.
    let leader = c.leader_seen_by(0).await.unwrap();
    let survivor = (0..3).find(|i| *i != leader).unwrap();
    let (status, v) = c
        .send(
            reqwest::Method::POST,
            survivor,
            &format!("{PATH}/fetch"),
            &json!({"max_messages": 5}).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    let abandoned: Vec<Ref> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(message_ref)
        .collect();
    assert_eq!(abandoned.len(), 5, "{v}");
    {
        let mut s = seen.lock().unwrap();
        for r in &abandoned {
            s.deliveries.entry(*r).or_default().push(1);
        }
    }
    c.nodes[leader].kill();

    wait_until(
        "every message acknowledged",
        Duration::from_secs(90),
        || async { (seen.lock().unwrap().acked.len() as u64 == TOTAL).then_some(()) },
    )
    .await
    .unwrap_or_else(|e| {
        let s = seen.lock().unwrap();
        let missing: Vec<&Ref> = sent.iter().filter(|r| !s.acked.contains(r)).collect();
        panic!(
            "{e}: missing {missing:?}, violations {:?}\n{}",
            s.violations,
            c.logs()
        )
    });
    stop.store(true, Ordering::Relaxed);
    for f in fetchers.drain(..) {
        f.await.unwrap();
    }

    {
        let s = seen.lock().unwrap();
        assert!(s.violations.is_empty(), "{:?}", s.violations);
        assert_eq!(s.acked, sent);
        for r in &abandoned {
            let d = &s.deliveries[r];
            assert!(
                d.len() >= 2 && d.last() > Some(&1),
                "abandoned message {r:?} came back: {d:?}"
            );
        }
    }

    // The killed node comes back and agrees: nothing left to do, on any partition.
    c.nodes[leader].start();
    wait_until(
        "the restarted node shows the group done",
        Duration::from_secs(60),
        || async {
            let (status, v) = c.get(leader, PATH).await?;
            let floors_done = v["partitions"].as_array()?.iter().all(|p| {
                let n = p["partition"].as_u64().unwrap_or(u64::MAX);
                p["acked_floor"].as_u64()
                    == Some(sent.iter().filter(|(q, _)| *q == n).count() as u64)
            });
            (status == 200 && floors_done && v["lag"] == 0 && v["in_flight"] == 0).then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_consume_group_prints_and_acknowledges() {
    let c = Cluster::three(&[]).await;
    let all = (0..3)
        .map(|i| c.nodes[i].api())
        .collect::<Vec<_>>()
        .join(",");
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().expect("run jumpnet");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    run(&[
        "publish", "tasks", "a", "b", "c", "d", "e", "--server", &all,
    ]);
    // --max 2: prints two, acknowledges them.
    assert_eq!(
        run(&["consume", "tasks", "--group", "g", "--max", "2", "--server", &all]),
        "a\nb\n"
    );
    let out = run(&[
        "consume", "tasks", "--group", "g", "--output", "json", "--server", &all,
    ]);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(&str, u64, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["value"].as_str().unwrap(),
                l["offset"].as_u64().unwrap(),
                l["delivery"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, vec![("c", 2, 1), ("d", 3, 1), ("e", 4, 1)]);
    // Everything acknowledged: nothing more, and the group says so.
    assert_eq!(
        run(&["consume", "tasks", "--group", "g", "--server", &all]),
        ""
    );
    let (status, v) = c.get(0, "/v1/topics/tasks/groups/g").await.unwrap();
    assert_eq!(
        (status, v["acked_floor"].as_u64(), v["lag"].as_u64()),
        (200, Some(5), Some(0)),
        "{v}"
    );
    // `jumpnet groups`: the table and the JSON, then delete.
    run(&["publish", "tasks", "f", "--server", &all]);
    let table = run(&["groups", "tasks", "--server", &all]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec![
                "GROUP",
                "PENDING",
                "IN_FLIGHT",
                "ACKED_FLOOR",
                "REDELIVERED",
                "DEAD_LETTERED",
                "LAG"
            ],
            vec!["g", "1", "0", "5", "0", "0", "1"],
        ],
        "{table}"
    );
    let doc: Value =
        serde_json::from_str(&run(&["groups", "tasks", "--json", "--server", &all])).unwrap();
    assert_eq!(doc["groups"][0]["group"], "g", "{doc}");
    assert_eq!(
        run(&["groups", "delete", "tasks", "g", "--server", &all]),
        "deleted group g of topic tasks\n"
    );
    let (status, _) = c.get(0, "/v1/topics/tasks/groups/g").await.unwrap();
    assert_eq!(status, 404);
}

async fn metrics_show(c: &Cluster, i: usize, line: &str) {
    let url = format!("{}/metrics", c.nodes[i].api());
    wait_until(line, Duration::from_secs(20), || async {
        let text = c.http.get(&url).send().await.ok()?.text().await.ok()?;
        text.lines().any(|l| l == line).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_client_drives_a_group_and_a_dead_letter_names_its_origin() {
    use jumpnet_broker::client::{Client, GroupSettings, MessageRef};

    let c = Cluster::three(&[]).await;
    let servers: Vec<String> = c.nodes.iter().map(|n| n.api()).collect();
    let client = Client::builder(&servers).build().unwrap();
    client
        .publish("mail", vec!["x".into(), "y".into()])
        .await
        .unwrap();
    let settings = GroupSettings {
        ack_wait_ms: Some(60_000),
        max_deliveries: Some(1),
        dead_letter_topic: Some("mail-dlq".into()),
        start: None,
    };
    let info = client
        .configure_group("mail", "senders", &settings)
        .await
        .unwrap();
    assert_eq!((info.pending, info.max_deliveries), (2, 1));
    let got = client
        .group_fetch("mail", "senders", 10, None)
        .await
        .unwrap();
    let refs: Vec<MessageRef> = got
        .iter()
        .map(|m| MessageRef {
            partition: m.message.partition,
            offset: m.message.offset,
        })
        .collect();
    assert_eq!(
        got.iter().map(|m| m.message.text()).collect::<Vec<_>>(),
        ["x", "y"]
    );
    metrics_show(&c, 0, "jumpnet_group_messages_in_flight 2").await;
    assert_eq!(
        client
            .group_ack("mail", "senders", &refs[..1])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        client
            .group_nack("mail", "senders", &refs[1..], None)
            .await
            .unwrap(),
        1
    );
    // "y" had its only delivery: the next fetch moves it to the dead-letter topic.
    let got = client
        .group_fetch("mail", "senders", 10, Some(Duration::from_millis(500)))
        .await
        .unwrap();
    assert!(got.is_empty(), "{got:?}");
    let info = client.group_info("mail", "senders").await.unwrap();
    assert_eq!(
        (info.dead_lettered, info.acked_floor, info.lag),
        (1, 2, 0),
        "{info:?}"
    );
    let dlq = client.read("mail-dlq", Some(0), 10, None).await.unwrap();
    assert_eq!(dlq.messages.len(), 1);
    assert_eq!(dlq.messages[0].text(), "y");
    let h = dlq.messages[0].headers.clone().unwrap();
    assert_eq!(
        (
            h["jumpnet-origin-topic"].as_str(),
            h["jumpnet-origin-offset"].as_str(),
            h["jumpnet-origin-group"].as_str(),
            h["jumpnet-deliveries"].as_str()
        ),
        ("mail", "1", "senders", "1")
    );
    metrics_show(&c, 1, "jumpnet_group_dead_lettered_total 1").await;

    assert_eq!(client.list_groups("mail").await.unwrap().len(), 1);
    assert!(client.delete_group("mail", "senders").await.unwrap());
    assert!(!client.delete_group("mail", "senders").await.unwrap());
    assert!(client.group_info("mail", "senders").await.is_err());
}

/// Acknowledgements survive a full restart (every node kill -9'd, log replay and snapshots): the
/// acknowledged messages never come back, the unacknowledged ones do, once, with `delivery` 2.
#[tokio::test(flavor = "multi_thread")]
async fn acks_survive_a_full_restart_of_every_node() {
    let mut c = Cluster::three(&["--snapshot-every", "20"]).await;
    let http = reqwest::Client::new();
    let api = |c: &Cluster, i: usize| c.nodes[i].api();
    let values: Vec<Value> = (0..100)
        .map(|i| json!({"value": format!("j{i}")}))
        .collect();
    call(
        &http,
        format!("{}/v1/topics/jobs/messages", api(&c, 0)),
        json!({"messages": values}),
    )
    .await
    .expect("publish");
    let put = http
        .put(format!("{}{PATH}", api(&c, 0)))
        .json(&json!({"ack_wait_ms": 1500}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    // Lease all 100 (ten fetches through different nodes, so many log entries), ack 0..60.
    let mut leased = BTreeSet::new();
    for k in 0..10 {
        let v = call(
            &http,
            format!("{}{PATH}/fetch", api(&c, k % 3)),
            json!({"max_messages": 10}),
        )
        .await
        .expect("fetch");
        for m in v["messages"].as_array().unwrap() {
            leased.insert(m["offset"].as_u64().unwrap());
        }
    }
    assert_eq!(leased, (0..100).collect::<BTreeSet<u64>>());
    for chunk in (0..60u64).collect::<Vec<_>>().chunks(20) {
        let refs: Vec<Value> = chunk.iter().map(|o| json!({"offset": o})).collect();
        let v = call(
            &http,
            format!("{}{PATH}/ack", api(&c, 1)),
            json!({"messages": refs}),
        )
        .await
        .expect("ack");
        assert_eq!(v["count"].as_u64(), Some(20), "{v}");
    }
    for i in 0..3 {
        c.nodes[i].kill();
    }
    for i in 0..3 {
        c.nodes[i].start();
    }
    c.wait_voters(&[0, 1, 2], 3).await;
    // After the ack wait the 40 unacknowledged messages come back, and only those.
    let mut again = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while again.len() < 40 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {again:?} came back within 30 s"
        );
        let url = format!("{}{PATH}/fetch", api(&c, 2));
        match call(&http, url, json!({"max_messages": 50, "wait_ms": 500})).await {
            Some(v) => {
                for m in v["messages"].as_array().unwrap() {
                    let (o, d) = (
                        m["offset"].as_u64().unwrap(),
                        m["delivery"].as_u64().unwrap(),
                    );
                    assert!(
                        again.insert(o, d).is_none(),
                        "{o} delivered twice after the restart"
                    );
                }
            }
            // the node is still starting: the long-poll is the wait once it answers
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert_eq!(
        again,
        (60..100).map(|o| (o, 2)).collect::<BTreeMap<u64, u64>>(),
        "only the unacknowledged, each delivered a second time"
    );
    let (status, info) = c.get(0, PATH).await.unwrap();
    assert_eq!(
        (
            status,
            info["acked_floor"].as_u64(),
            info["in_flight"].as_u64()
        ),
        (200, Some(60), Some(40)),
        "{info}"
    );
}

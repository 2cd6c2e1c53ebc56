//! The CLI against a real cluster: publish, consume (also --follow), topics, consumers, cluster
//! status, bench.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{wait_until, Cluster, BIN};

fn jumpnet(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run jumpnet");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_publishes_consumes_lists_and_reports_through_a_cluster() {
    let c = Cluster::three(&[]).await;
    let (n0, n1, n2) = (c.nodes[0].api(), c.nodes[1].api(), c.nodes[2].api());
    let all = format!("{n0},{n1},{n2}");

    let (ok, out, err) = jumpnet(&[
        "publish", "events", "alpha", "beta", "gamma", "--server", &n1,
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, "events 0\nevents 1\nevents 2\n");
    // Lines from stdin.
    let mut child = Command::new(BIN)
        .args(["publish", "events", "--server", &n2, "--output", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"delta\nepsilon\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let published: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(published["offsets"], serde_json::json!([3, 4]));

    wait_until("node 0 has all five", Duration::from_secs(5), || async {
        c.history(0, "events").await.filter(|h| h.len() == 5)
    })
    .await
    .unwrap();
    let (ok, out, _) = jumpnet(&["consume", "events", "--from-beginning", "--server", &n0]);
    assert!(ok);
    assert_eq!(out, "alpha\nbeta\ngamma\ndelta\nepsilon\n");
    let (_, out, _) = jumpnet(&[
        "consume", "events", "--offset", "3", "--output", "json", "--server", &all,
    ]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["offset"].as_u64(), lines[0]["value"].as_str()),
        (Some(3), Some("delta"))
    );
    // A named consumer continues where it left off.
    let (_, out, _) = jumpnet(&[
        "consume",
        "events",
        "--consumer",
        "cli",
        "--max-messages",
        "2",
        "--server",
        &n1,
    ]);
    assert_eq!(out, "alpha\nbeta\n");
    let (_, out, _) = jumpnet(&["consume", "events", "--consumer", "cli", "--server", &n2]);
    assert_eq!(out, "gamma\ndelta\nepsilon\n");

    let (ok, out, _) = jumpnet(&["topics", "--server", &n0]);
    assert!(ok);
    assert!(out.starts_with("TOPIC"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()[..2] == ["events", "5"]),
        "{out}"
    );

    let (ok, out, _) = jumpnet(&["cluster", "status", "--server", &n2]);
    assert!(ok);
    let rows: Vec<&str> = out.lines().skip(2).collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert_eq!(
        rows.iter().filter(|r| r.contains(" leader ")).count(),
        1,
        "{out}"
    );
    assert_eq!(
        rows.iter().filter(|r| r.contains(" voter ")).count(),
        2,
        "{out}"
    );
    let (_, out, _) = jumpnet(&["cluster", "status", "--output", "json", "--server", &n2]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["members"].as_array().unwrap().len(), 3);

    // Errors: one line on stderr, non-zero exit.
    let (ok, _, err) = jumpnet(&["consume", "no-such-topic", "--server", &n0]);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("topic_not_found"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn consume_follow_receives_messages_published_after_it_started() {
    let c = Cluster::three(&[]).await;
    let (n0, n1) = (c.nodes[0].api(), c.nodes[1].api());
    c.put(0, "live", "before").await.unwrap();
    wait_until("node 1 has the topic", Duration::from_secs(5), || async {
        c.history(1, "live").await.filter(|h| !h.is_empty())
    })
    .await
    .unwrap();
    let mut follower = Command::new(BIN)
        .args([
            "consume",
            "live",
            "--follow",
            "--max-messages",
            "3",
            "--server",
            &n1,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Wait until the stream is open on node 1 (the follower process is connected), then publish.
    wait_until("the follower is connected", Duration::from_secs(10), || async {
        let text = reqwest::get(format!("{n1}/metrics")).await.ok()?.text().await.ok()?;
        text.lines()
            .any(|l| l.starts_with("jumpnet_http_requests_total{code=\"200\",method=\"GET\",route=\"/v1/topics/{topic}/stream\"}"))
            .then_some(())
    })
    .await
    .unwrap();
    for v in ["one", "two", "three"] {
        let (ok, _, err) = jumpnet(&["publish", "live", v, "--server", &n0]);
        assert!(ok, "{err}");
    }
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    let got: Vec<String> = (0..3).map(|_| lines.next().unwrap().unwrap()).collect();
    assert_eq!(
        got,
        ["one", "two", "three"],
        "only messages after it started, in order"
    );
    assert!(follower.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_runs_a_bounded_load_and_reports_sane_numbers() {
    let c = Cluster::three(&[]).await;
    let servers = format!("{},{}", c.nodes[0].api(), c.nodes[1].api());
    let (ok, out, err) = jumpnet(&[
        "bench",
        "--server",
        &servers,
        "--count",
        "600",
        "--batch-size",
        "10",
        "--producers",
        "2",
        "--concurrency",
        "4",
        "--consumers",
        "1",
        "--message-size",
        "64",
        "--output",
        "json",
    ]);
    assert!(ok, "{err}");
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["messages_sent"].as_u64(), Some(600), "{s}");
    assert_eq!(s["messages_received"].as_u64(), Some(600), "{s}");
    assert_eq!(s["requests"].as_u64(), Some(60), "{s}");
    assert_eq!(s["errors"].as_u64(), Some(0), "{s}");
    let l = &s["latency_ms"];
    let q: Vec<f64> = ["p50", "p90", "p99", "p999", "max"]
        .iter()
        .map(|k| l[k].as_f64().unwrap())
        .collect();
    assert!(
        q[0] > 0.0 && q.windows(2).all(|w| w[0] <= w[1]),
        "percentiles ordered: {l}"
    );
    assert!(s["throughput_msgs_per_s"].as_f64().unwrap() > 0.0);
    let topic = s["topic"].as_str().unwrap();
    let t = c.get(0, &format!("/v1/topics/{topic}")).await.unwrap().1;
    assert_eq!(
        t["messages"].as_u64(),
        Some(600),
        "the topic holds exactly what bench says it sent"
    );
}

/// `bench --group G --backlog N` (`--read group`): workers of one consumer group drain the backlog, each
/// message acknowledged once.
#[tokio::test(flavor = "multi_thread")]
async fn bench_drains_a_backlog_through_a_consumer_group() {
    let c = Cluster::three(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("group.json");
    let (ok, _out, err) = jumpnet(&[
        "bench",
        "--server",
        &c.nodes[0].api(),
        "--topic",
        "work",
        "--backlog",
        "3000",
        "--group",
        "drain",
        "--consumers",
        "3",
        "--page-size",
        "200",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let read = doc["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "read")
        .unwrap();
    assert_eq!(
        (
            read["messages"].as_u64(),
            read["errors"].as_u64(),
            read["api"].as_str()
        ),
        (Some(3000), Some(0), Some("group")),
        "{read}"
    );
    let (status, g) = c.get(0, "/v1/topics/work/groups/drain").await.unwrap();
    assert_eq!(
        (status, g["acked_floor"].as_u64(), g["lag"].as_u64()),
        (200, Some(3000), Some(0)),
        "{g}"
    );
}

/// PUTs of consumer positions the cluster answered (each is a Raft write), over all nodes.
async fn position_commits(c: &Cluster) -> u64 {
    let mut total = 0;
    for n in &c.nodes {
        let text = reqwest::get(format!("{}/metrics", n.api()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        total += text
            .lines()
            .filter(|l| {
                l.starts_with("jumpnet_http_requests_total{")
                    && l.contains("method=\"PUT\"")
                    && l.contains("route=\"/v1/consumers/{name}/topics/{topic}\"")
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
            .sum::<u64>();
    }
    total
}

/// Users' review: `consume --follow --consumer` committed once per message (a Raft write each),
/// and the SSE reader corrupted multi-byte characters split across network chunks.
#[tokio::test(flavor = "multi_thread")]
async fn consume_follow_commits_in_batches_and_keeps_multibyte_text_whole() {
    let c = Cluster::three(&[]).await;
    let n0 = c.nodes[0].api();
    let big = "日本語のテキスト😀".repeat(20_000); // ~620 KB: many chunks, split characters
    let mut lines: Vec<String> = (0..300).map(|i| format!("m{i} ü€")).collect();
    lines.insert(150, big.clone());
    let mut child = Command::new(BIN)
        .args(["publish", "many", "--server", &n0])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        format!("{}\n", lines.join("\n")).as_bytes(),
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    let before = position_commits(&c).await;

    let (ok, out, err) = jumpnet(&[
        "consume",
        "many",
        "--follow",
        "--consumer",
        "follower",
        "--max-messages",
        "301",
        "--server",
        &n0,
    ]);
    assert!(ok, "{err}");
    assert!(
        out == format!("{}\n", lines.join("\n")),
        "the text came back altered"
    );
    let commits = position_commits(&c).await - before;
    assert!(
        (1..=10).contains(&commits),
        "{commits} commits for 301 messages"
    );
    let (status, p) = c
        .get(0, "/v1/consumers/follower/topics/many")
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        p["offset"].as_u64(),
        Some(301),
        "the last position is committed at exit: {p}"
    );
}

/// Issue 16: `jumpnet consumers` lists named positions with their lag (a table, or JSON), `reset`
/// moves one (backwards too), `delete` removes it through any node.
#[tokio::test(flavor = "multi_thread")]
async fn consumers_lists_resets_and_deletes_named_positions() {
    let c = Cluster::three(&[]).await;
    let (n0, n1, n2) = (c.nodes[0].api(), c.nodes[1].api(), c.nodes[2].api());
    let all = format!("{n0},{n1},{n2}");
    for v in ["a", "b", "c", "d", "e"] {
        c.put(0, "orders", v).await.unwrap();
    }
    c.put(0, "audit-log", "x").await.unwrap();
    for (name, topic, offset) in [
        ("billing", "orders", 2),
        ("audit", "orders", 5),
        ("billing", "audit-log", 0),
    ] {
        let (status, body) = c
            .send(
                reqwest::Method::PUT,
                0,
                &format!("/v1/consumers/{name}/topics/{topic}"),
                &format!(r#"{{"offset":{offset}}}"#),
            )
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
    }

    // Node 0 answered the commits, so it has applied them.
    let (ok, out, err) = jumpnet(&["consumers", "--server", &n0]);
    assert!(ok, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["NAME", "TOPIC", "PARTITION", "OFFSET", "END", "LAG"],
            vec!["billing", "audit-log", "0", "0", "1", "1"],
            vec!["audit", "orders", "0", "5", "5", "0"],
            vec!["billing", "orders", "0", "2", "5", "3"],
        ],
        "{out}"
    );
    let (ok, out, err) = jumpnet(&["consumers", "--topic", "orders", "--json", "--server", &n0]);
    assert!(ok, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["consumers"][1],
        serde_json::json!({"name": "billing", "topic": "orders", "partition": 0, "offset": 2, "end_offset": 5, "lag": 3})
    );
    assert_eq!(doc["consumers"].as_array().unwrap().len(), 2);

    let (ok, out, err) = jumpnet(&[
        "consumers",
        "reset",
        "billing",
        "--topic",
        "orders",
        "--to-offset",
        "0",
        "--server",
        &n1,
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "consumer billing of topic orders at offset 0 (lag 5)\n"
    );

    let (ok, out, err) = jumpnet(&[
        "consumers",
        "delete",
        "audit",
        "--topic",
        "orders",
        "--server",
        &all,
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, "deleted consumer audit of topic orders\n");
    // Replicated: every node stops listing it.
    for i in 0..3 {
        let api = c.nodes[i].api();
        wait_until(
            "the deleted position is gone",
            Duration::from_secs(10),
            || {
                let api = api.clone();
                async move {
                    let (ok, out, _) = jumpnet(&[
                        "consumers",
                        "--topic",
                        "orders",
                        "--output",
                        "json",
                        "--server",
                        &api,
                    ]);
                    let doc: serde_json::Value = serde_json::from_str(&out).ok()?;
                    let names: Vec<&str> = doc["consumers"]
                        .as_array()?
                        .iter()
                        .filter_map(|e| e["name"].as_str())
                        .collect();
                    (ok && names == ["billing"] && doc["consumers"][0]["offset"] == 0).then_some(())
                }
            },
        )
        .await
        .unwrap();
    }
    let (ok, _, err) = jumpnet(&[
        "consumers",
        "delete",
        "audit",
        "--topic",
        "orders",
        "--server",
        &n2,
    ]);
    assert!(!ok);
    assert!(err.contains("404 consumer_not_found"), "{err}");
}

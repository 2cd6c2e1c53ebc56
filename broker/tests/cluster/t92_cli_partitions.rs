//! The CLI with partitions (SPEC §2, §8): `topics create|set --partitions`, the PARTITIONS column,
//! `publish --partition`/`--key`, `consume --partition` (also with a named consumer and
//! `--follow`), and one-line errors for a partition the topic does not have.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::harness::{Cluster, BIN};

fn jumpnet(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run jumpnet");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Exit code and stderr of a failing command: one line naming `code`.
fn fails_with(args: &[&str], code: &str) {
    let out = Command::new(BIN).args(args).output().expect("run jumpnet");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(code), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_creates_raises_publishes_to_and_consumes_partitions() {
    let mut c = Cluster::new();
    c.add(None, &[]);
    c.wait_voters(&[0], 1).await;
    let s = c.nodes[0].api();
    let s = s.as_str();

    let (ok, out, err) = jumpnet(&["topics", "create", "p", "--partitions", "2", "--server", s]);
    assert!(ok, "{err}");
    assert_eq!(out, "topic p has 2 partitions\n");
    let (ok, out, err) = jumpnet(&["topics", "set", "p", "--partitions", "3", "--server", s]);
    assert!(ok, "{err}");
    assert_eq!(out, "topic p has 3 partitions\n");
    fails_with(
        &["topics", "set", "p", "--partitions", "2", "--server", s],
        "invalid_partitions",
    );
    // `create` of an existing topic leaves it as it is.
    let (ok, out, _) = jumpnet(&["topics", "create", "p", "--server", s]);
    assert!(ok);
    assert_eq!(out, "topic p has 3 partitions\n");

    let (ok, out, err) = jumpnet(&["publish", "p", "x", "y", "--partition", "2", "--server", s]);
    assert!(ok, "{err}");
    assert_eq!(out, "p 0 partition 2\np 1 partition 2\n");
    fails_with(
        &["publish", "p", "z", "--partition", "3", "--server", s],
        "invalid_partition",
    );
    // A key lands where Kafka's partitioner puts it: toPositive(murmur2("foobar")) % 3.
    let want = ((-790332482i32 & 0x7fff_ffff) as u64) % 3;
    let (_, out, _) = jumpnet(&[
        "publish", "p", "k", "--key", "foobar", "--output", "json", "--server", s,
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["partition"].as_u64(), Some(want), "{v}");

    let (ok, out, err) = jumpnet(&[
        "consume",
        "p",
        "--partition",
        "2",
        "--from-beginning",
        "--server",
        s,
    ]);
    assert!(ok, "{err}");
    let mut expect = "x\ny\n".to_string();
    if want == 2 {
        expect.push_str("k\n");
    }
    assert_eq!(out, expect);
    fails_with(
        &["consume", "p", "--partition", "7", "--server", s],
        "partition 7",
    );
    // A named consumer's position is per partition.
    let (_, out, _) = jumpnet(&[
        "consume",
        "p",
        "--partition",
        "2",
        "--consumer",
        "c",
        "--max",
        "1",
        "--server",
        s,
    ]);
    assert_eq!(out, "x\n");
    let (_, out, _) = jumpnet(&["consumers", "--topic", "p", "--json", "--server", s]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v["consumers"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{v}");
    assert_eq!(
        (rows[0]["partition"].as_u64(), rows[0]["offset"].as_u64()),
        (Some(2), Some(1)),
        "{v}"
    );

    let (ok, out, _) = jumpnet(&["topics", "--server", s]);
    assert!(ok);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0][..4],
        ["TOPIC", "MESSAGES", "BYTES", "PARTITIONS"],
        "{out}"
    );
    assert_eq!(
        (rows[1][0], rows[1][1], rows[1][3]),
        ("p", "3", "3"),
        "{out}"
    );

    // --follow on a partition: gets what is published there, not elsewhere.
    let mut child = Command::new(BIN)
        .args([
            "consume",
            "p",
            "--partition",
            "1",
            "--follow",
            "--max",
            "1",
            "--server",
            s,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The stream starts at the partition's end: publish until the follower has printed (the
    // first publishes may come before it connected; each one lands on partition 1).
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    });
    let mut i = 0;
    while !reader.is_finished() {
        jumpnet(&[
            "publish",
            "p",
            "elsewhere",
            "--partition",
            "0",
            "--server",
            s,
        ]);
        jumpnet(&[
            "publish",
            "p",
            &format!("one-{i}"),
            "--partition",
            "1",
            "--server",
            s,
        ]);
        i += 1;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let line = reader.join().unwrap();
    assert!(line.starts_with("one-"), "{line}");
    assert!(child.wait().unwrap().success());
}

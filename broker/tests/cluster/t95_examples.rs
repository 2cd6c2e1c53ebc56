//! The Rust examples run as written against a real cluster.

use std::process::Command;

use crate::harness::Cluster;

/// `target/<profile>/examples/<name>` (cargo builds examples before it runs tests).
pub fn example(name: &str) -> std::path::PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let path = deps.parent().unwrap().join("examples").join(name);
    assert!(path.exists(), "{} is not built: `cargo test -p jumpnet-broker` (all targets) or `cargo build --examples` builds it", path.display());
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_producer_and_consumer_examples_talk_through_a_cluster() {
    let c = Cluster::three(&[]).await;
    let servers = c
        .nodes
        .iter()
        .map(|n| n.api())
        .collect::<Vec<_>>()
        .join(",");
    let out = Command::new(example("producer"))
        .args(["--servers", &servers, "--topic", "orders", "--count", "5"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(printed.lines().count(), 5);
    assert!(printed.contains("published order-4 at offset 4"));

    let consume = |count: &str| {
        Command::new(example("consumer"))
            .args([
                "--servers",
                &servers,
                "--topic",
                "orders",
                "--group",
                "billing",
                "--count",
                count,
            ])
            .output()
            .unwrap()
    };
    let first = consume("3");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&first.stdout),
        "0 customer-0 order-0\n1 customer-1 order-1\n2 customer-2 order-2\n"
    );
    // The group's position was committed: a second run continues after it.
    let second = consume("2");
    assert_eq!(
        String::from_utf8_lossy(&second.stdout),
        "3 customer-0 order-3\n4 customer-1 order-4\n"
    );
}

/// The worker-pool example: worker `a` dies on job-5 without acknowledging its batch; then
/// workers `b` and `c` share the rest of the group, job-5 included once its lease ran out.
#[tokio::test(flavor = "multi_thread")]
async fn rust_workers_share_a_group_and_a_crashed_workers_job_goes_to_another() {
    use jumpnet_broker::client::OutMessage;
    let c = Cluster::three(&[]).await;
    let servers = c
        .nodes
        .iter()
        .map(|n| n.api())
        .collect::<Vec<_>>()
        .join(",");
    let client = jumpnet_broker::client::Client::builder([servers.as_str()])
        .build()
        .unwrap();
    let jobs: Vec<OutMessage> = (0..40)
        .map(|i| OutMessage::from(format!("job-{i}").as_str()))
        .collect();
    client.publish("jobs", jobs).await.unwrap();
    let worker = |name: &'static str, crash: bool| {
        let mut args = vec![
            "--servers",
            &servers,
            "--topic",
            "jobs",
            "--group",
            "pool",
            "--name",
            name,
            "--batch",
            "3",
            "--ack-wait-ms",
            "1500",
            "--until-empty",
        ];
        if crash {
            args.extend(["--crash-on", "job-5"]);
        }
        tokio::process::Command::new(example("worker"))
            .args(args)
            .output()
    };
    let parse = |out: &std::process::Output| -> Vec<(String, u32, String)> {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f[0].to_string(), f[2].parse().unwrap(), f[3].to_string())
            })
            .collect()
    };
    let a = worker("a", true).await.unwrap();
    assert_eq!(
        a.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&a.stderr)
    );
    let mut lines = parse(&a);
    assert_eq!(
        lines.iter().map(|(_, _, v)| v.as_str()).collect::<Vec<_>>(),
        ["job-0", "job-1", "job-2", "job-3", "job-4"],
        "a handled the first batch and died in the second"
    );
    let (b, c2) = tokio::join!(worker("b", false), worker("c", false));
    for out in [b.unwrap(), c2.unwrap()] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        lines.extend(parse(&out));
    }
    let handled: std::collections::BTreeSet<&str> =
        lines.iter().map(|(_, _, v)| v.as_str()).collect();
    assert_eq!(handled.len(), 40, "every job handled: {lines:?}");
    let firsts: Vec<&str> = lines
        .iter()
        .filter(|(_, d, _)| *d == 1)
        .map(|(_, _, v)| v.as_str())
        .collect();
    let unique: std::collections::BTreeSet<&str> = firsts.iter().copied().collect();
    assert_eq!(
        firsts.len(),
        unique.len(),
        "no job delivered first to two workers"
    );
    // a's unacknowledged batch (job-3, job-4 handled, job-5 died on) came back to b or c
    for job in ["job-3", "job-4", "job-5"] {
        assert!(
            lines
                .iter()
                .any(|(w, d, v)| v == job && *d >= 2 && w != "a"),
            "{job} redelivered to another worker: {lines:?}"
        );
    }
    let info = client.group_info("jobs", "pool").await.unwrap();
    assert_eq!((info.pending, info.in_flight, info.acked_floor), (0, 0, 40));
}

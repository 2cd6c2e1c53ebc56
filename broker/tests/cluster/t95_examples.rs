//! The Rust examples run as written against a real cluster.

use std::process::Command;

use crate::harness::Cluster;

/// `target/<profile>/examples/<name>` (cargo builds examples before it runs tests).
fn example(name: &str) -> std::path::PathBuf {
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

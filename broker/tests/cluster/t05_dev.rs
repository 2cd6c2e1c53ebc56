//! `jumpnet dev`: a local 3-node cluster in one command; Ctrl-C stops all three.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::BIN;

/// `n` consecutive free loopback ports.
fn free_run(n: u16) -> u16 {
    loop {
        let base = 20_000 + (rand_port() % 30_000);
        if (0..n).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
}

fn rand_port() -> u16 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        % 65_000) as u16
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_starts_three_nodes_prints_what_to_try_and_stops_them_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let raft = free_run(3);
    let api = loop {
        let a = free_run(3);
        if a.abs_diff(raft) >= 3 {
            break a;
        }
    };
    let kafka = loop {
        let k = free_run(3);
        if k.abs_diff(raft) >= 3 && k.abs_diff(api) >= 3 {
            break k;
        }
    };
    let mut dev = Command::new(BIN)
        .args([
            "dev",
            "--dir",
            &dir.path().display().to_string(),
            "--raft-port",
            &raft.to_string(),
            "--api-port",
            &api.to_string(),
            "--kafka-port",
            &kafka.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(dev.stdout.take().unwrap()).lines();
    let mut welcome = String::new();
    while let Some(Ok(line)) = out.next() {
        welcome.push_str(&line);
        welcome.push('\n');
        if line.contains("Ctrl-C") {
            break;
        }
    }
    assert!(
        welcome.contains(&format!(
            "curl -XPUT localhost:{api} -d '{{\"Key\":\"foo\",\"Value\":\"bar\"}}'"
        )),
        "{welcome}"
    );
    assert!(
        welcome.contains(&format!("kcat -P -b 127.0.0.1:{kafka} -t foo")),
        "{welcome}"
    );
    for k in kafka..kafka + 3 {
        tokio::net::TcpStream::connect(("127.0.0.1", k))
            .await
            .unwrap_or_else(|e| panic!("Kafka port {k}: {e}"));
    }

    let http = reqwest::Client::new();
    let v: serde_json::Value = http
        .get(format!("http://127.0.0.1:{api}/v1/cluster"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut members: Vec<(u64, String, String)> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_u64().unwrap(),
                m["api_addr"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    members.sort();
    let expected: Vec<(u64, String, String)> = (0..3)
        .map(|i| {
            (
                i as u64 + 1,
                format!("127.0.0.1:{}", api + i),
                "voter".to_string(),
            )
        })
        .collect();
    assert_eq!(members, expected, "node N has id N and API port api+N-1");
    assert!(dir.path().join("1").join("node.json").exists());

    let r = http
        .put(format!("http://127.0.0.1:{api}/"))
        .body(r#"{"Key":"foo","Value":"bar"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Ctrl-C: the whole tree stops, cleanly.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(dev.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = dev.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "jumpnet dev did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    for i in 0..3 {
        assert!(
            TcpListener::bind(("127.0.0.1", api + i)).is_ok(),
            "node {} still holds its port",
            i + 1
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_tls_makes_a_throwaway_ca_and_prints_the_curl_line_that_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let raft = free_run(2);
    let api = loop {
        let a = free_run(2);
        if a.abs_diff(raft) >= 2 {
            break a;
        }
    };
    let mut dev = Command::new(BIN)
        .args([
            "dev",
            "--tls",
            "--nodes",
            "2",
            "--dir",
            &dir.path().display().to_string(),
            "--raft-port",
            &raft.to_string(),
            "--api-port",
            &api.to_string(),
            "--kafka-port",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(dev.stdout.take().unwrap()).lines();
    let mut welcome = String::new();
    while let Some(Ok(line)) = out.next() {
        welcome.push_str(&line);
        welcome.push('\n');
        if line.contains("Ctrl-C") {
            break;
        }
    }
    let ca = std::path::absolute(dir.path().join("tls").join("ca.pem")).unwrap();
    assert!(
        welcome.contains(&format!("CA:  {}", ca.display()))
            && welcome.contains(&format!(
                "curl --cacert {} https://localhost:{api}/v1/cluster",
                ca.display()
            )),
        "{welcome}"
    );

    // The printed line works as printed (curl when the machine has it, else reqwest).
    let url = format!("https://localhost:{api}/v1/cluster");
    let body = match Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&ca)
        .arg(&url)
        .output()
    {
        Ok(o) => {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).to_string()
        }
        Err(_) => {
            let cert = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
            let http = reqwest::Client::builder()
                .add_root_certificate(cert)
                .build()
                .unwrap();
            http.get(&url).send().await.unwrap().text().await.unwrap()
        }
    };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["members"].as_array().unwrap().len(), 2, "{v}");
    // Plain HTTP is not served on the TLS port.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{api}/v1/cluster"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 400);
    // The raft ports speak mutual TLS too (the two nodes formed a cluster over them): a plain
    // raft hello gets no raft answer, and the peer certificate's expiry is exported.
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", raft))
        .await
        .unwrap();
    raw.write_all(b"JNRAFT1\n").await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), raw.read_to_end(&mut got)).await;
    assert!(!got.starts_with(b"JNRAFT1"), "{got:?}");
    let cert = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let metrics = reqwest::Client::builder()
        .add_root_certificate(cert)
        .build()
        .unwrap()
        .get(format!("https://localhost:{api}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("jumpnet_tls_certificate_expiry_seconds{listener=\"peer\"}"),
        "{metrics}"
    );

    // SIGTERM (kill, timeout, a supervisor) stops the nodes too, not only `dev` itself.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(dev.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = dev.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "jumpnet dev did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    for i in 0..3 {
        assert!(
            TcpListener::bind(("127.0.0.1", api + i)).is_ok(),
            "node {} still holds its port after SIGTERM",
            i + 1
        );
    }
}

//! Client certificates (SPEC §10, `--tls-client-ca`): a node requiring them serves clients that
//! present one from its CA (curl, the CLI's `--cert`/`--cert-key` and env, the Rust client's
//! `identity_*`, bench) and refuses, at once and with a line that says so, those presenting none or
//! one of another CA; the CLI checks the files first; a node joins through the API of such a node
//! with its own certificate (its peer certificate, else its API certificate).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use jumpnet_broker::client::{Client, Error as ClientError, OutMessage};

use crate::harness::{wait_until, Cluster};
use crate::t76_tls::{https, jumpnet, TestCa};
use crate::t77_peer_tls::{strs, PeerCa};
use crate::t95_examples::example;

/// Write `text` to `dir/name`; its path as a string.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A reqwest client trusting `ca` and presenting `cert`/`key`.
fn mtls_http(ca: &str, cert: &str, key: &str) -> reqwest::Client {
    let b = jumpnet_broker::tls::trusting(reqwest::Client::builder(), Some(Path::new(ca))).unwrap();
    jumpnet_broker::tls::presenting(
        b,
        Some(((Path::new(cert), "cert"), (Path::new(key), "key"))),
    )
    .unwrap()
    .timeout(Duration::from_secs(5))
    .build()
    .unwrap()
}

/// Wait until node `i` (https) lists `voters` voters, asking with `http`.
async fn wait_voters_https(c: &Cluster, i: usize, http: &reqwest::Client, voters: usize) {
    let url = format!("https://127.0.0.1:{}/v1/cluster", c.nodes[i].api_port);
    wait_until(
        &format!("{voters} voters"),
        Duration::from_secs(30),
        || async {
            let v: serde_json::Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            let n = v["members"]
                .as_array()?
                .iter()
                .filter(|m| m["role"] == "voter")
                .count();
            (n == voters).then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_requiring_client_certificates_serves_those_presenting_one_and_refuses_the_rest() {
    let mut c = Cluster::new();
    let dir = c.tmp.path().to_path_buf();
    let ca = TestCa::new(&dir);
    let ca_path = ca.pem.display().to_string();
    let (server_pem, server_key) = ca.issue("server", None);
    let (client_pem, client_key) = ca.issue("client", None);
    let (cert, key) = (
        write(&dir, "s.crt", &server_pem),
        write(&dir, "s.key", &server_key),
    );
    let (ccert, ckey) = (
        write(&dir, "c.crt", &client_pem),
        write(&dir, "c.key", &client_key),
    );
    let both = write(&dir, "c-both.pem", &format!("{client_pem}{client_key}"));
    let other_dir = dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let (spem, skey) = TestCa::new(&other_dir).issue("stranger", None);
    let (scert, skey) = (
        write(&dir, "x.crt", &spem),
        write(&dir, "x.key", skey.as_str()),
    );
    c.add(
        None,
        &[
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tls-client-ca",
            &ca_path,
        ],
    );
    let base = https(&c);
    let http = mtls_http(&ca_path, ccert.as_str(), ckey.as_str());
    wait_until("the node is ready", Duration::from_secs(30), || async {
        let r = http.get(format!("{base}/readyz")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));

    // The Rust client with a certificate: separate files, then one PEM holding both.
    let client = Client::builder([base.as_str()])
        .ca_file(&ca.pem)
        .unwrap()
        .identity_files(ccert.as_str(), ckey.as_str())
        .unwrap()
        .build()
        .unwrap();
    let sent = client
        .publish("orders", vec![OutMessage::from("one")])
        .await
        .unwrap();
    assert_eq!(sent.base_offset, 0);
    let pem_client = Client::builder([base.as_str()])
        .ca_file(&ca.pem)
        .unwrap()
        .identity_pem(both.as_bytes(), both.as_bytes())
        .map(|_| ())
        .unwrap_err();
    assert!(
        pem_client.to_string().contains("client certificate"),
        "a path is not PEM text: {pem_client}"
    );
    let combined = std::fs::read(&both).unwrap();
    let page = Client::builder([base.as_str()])
        .ca_file(&ca.pem)
        .unwrap()
        .identity_pem(&combined, &combined)
        .unwrap()
        .build()
        .unwrap()
        .read("orders", Some(0), 10, None)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1);

    // Without a certificate, or with one of another CA: refused at once, saying why.
    for (what, builder) in [
        ("none", Client::builder([base.as_str()])),
        (
            "a stranger's",
            Client::builder([base.as_str()])
                .identity_files(scert.as_str(), skey.as_str())
                .unwrap(),
        ),
    ] {
        let bare = builder.ca_file(&ca.pem).unwrap().build().unwrap();
        let started = Instant::now();
        match bare.read("orders", Some(0), 10, None).await {
            Err(ClientError::Tls(m)) => {
                assert!(
                    m.contains("client certificate") && m.contains("--cert"),
                    "{what}: {m}"
                )
            }
            other => panic!("{what}: expected a TLS error, got {:?}", other.map(|_| ())),
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: retried"
        );
    }

    // The CLI: flags, env, one file holding both; every client command takes them.
    let tls_args = ["--server", base.as_str(), "--cacert", ca_path.as_str()];
    let tls_args = &tls_args[..];
    let (ok, out, err) = jumpnet(
        &[
            &[
                "publish",
                "orders",
                "two",
                "--cert",
                ccert.as_str(),
                "--cert-key",
                ckey.as_str(),
            ][..],
            tls_args,
        ]
        .concat(),
        &[],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "orders 1\n");
    let (ok, out, err) = jumpnet(
        &[&["consume", "orders"][..], tls_args].concat(),
        &[
            ("JUMPNET_CERT", ccert.as_str()),
            ("JUMPNET_CERT_KEY", ckey.as_str()),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "one\ntwo\n");
    let both_args = ["--cert", both.as_str()];
    for cmd in [
        &["topics"][..],
        &["consumers"][..],
        &["groups", "orders"][..],
        &["cluster", "status"][..],
    ] {
        let (ok, _, err) = jumpnet(&[cmd, tls_args, &both_args[..]].concat(), &[]);
        assert!(ok, "{cmd:?}: {err}");
    }
    // bench's raw requests (the seed API) present it too.
    let (ok, out, err) = jumpnet(
        &[
            &[
                "bench",
                "--api",
                "seed",
                "--count",
                "20",
                "--concurrency",
                "2",
                "--output",
                "json",
                "--cert",
                ccert.as_str(),
                "--cert-key",
                ckey.as_str(),
            ][..],
            tls_args,
        ]
        .concat(),
        &[],
    );
    assert!(ok, "{err}");
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["messages_sent"].as_u64(), Some(20), "{s}");
    assert_eq!(s["errors"].as_u64(), Some(0), "{s}");

    // The Rust examples read the CLI's variables: the CA and the certificate from the environment.
    let producer = |env: &[(&str, &str)]| {
        Command::new(example("producer"))
            .args([
                "--servers",
                base.as_str(),
                "--topic",
                "orders",
                "--count",
                "1",
            ])
            .env_remove("JUMPNET_CACERT")
            .env_remove("JUMPNET_CERT")
            .env_remove("JUMPNET_CERT_KEY")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let out = producer(&[
        ("JUMPNET_CACERT", ca_path.as_str()),
        ("JUMPNET_CERT", ccert.as_str()),
        ("JUMPNET_CERT_KEY", ckey.as_str()),
    ]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && printed.contains("published order-0"),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = producer(&[("JUMPNET_CACERT", ca_path.as_str())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("client certificate"),
        "without JUMPNET_CERT: {stderr}"
    );

    // The CLI without one, or with a stranger's: one line that says what to do.
    for (what, extra) in [
        ("none", vec![]),
        (
            "a stranger's",
            vec!["--cert", scert.as_str(), "--cert-key", skey.as_str()],
        ),
    ] {
        let started = Instant::now();
        let (ok, _, err) = jumpnet(&[&["topics"][..], tls_args, extra.as_slice()].concat(), &[]);
        assert!(!ok, "{what}");
        assert!(
            err.lines().count() == 1
                && err.starts_with("jumpnet: ")
                && err.contains("client certificate")
                && err.contains("--cert"),
            "{what}: {err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: retried"
        );
    }

    // curl, as the README shows it.
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("no curl on this machine: the curl part is skipped");
        return;
    }
    let curl = |extra: &[&str]| {
        Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "5",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .args(["--cacert", &ca_path])
            .args(extra)
            .arg(format!("{base}/v1/topics/orders"))
            .output()
            .unwrap()
    };
    let with = curl(&["--cert", ccert.as_str(), "--key", ckey.as_str()]);
    assert!(
        with.status.success() && with.stdout == b"200",
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    for (what, extra) in [
        ("none", vec![]),
        (
            "a stranger's",
            vec!["--cert", scert.as_str(), "--key", skey.as_str()],
        ),
    ] {
        let out = curl(&extra);
        assert!(
            !out.status.success() && out.stdout != b"200",
            "curl with {what} got through"
        );
    }
    // The node took no harm from the refused handshakes.
    assert!(http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
}

#[test]
fn client_certificate_flags_and_files_are_checked_first_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = TestCa::new(d);
    let (pem, key) = ca.issue("client", None);
    let (_, other_key) = ca.issue("other", None);
    let cert = write(d, "c.crt", &pem);
    let key = write(d, "c.key", &key);
    let other_key = write(d, "o.key", &other_key);
    let not_pem = write(d, "n.txt", "hello");
    let missing = d.join("missing.pem").display().to_string();
    // No server is contacted: an https address nothing listens on.
    let server = ["--server", "https://127.0.0.1:9"];
    let server = &server[..];
    for (args, env, expect) in [
        (
            vec!["--cert-key", key.as_str()],
            vec![],
            "--cert-key needs --cert",
        ),
        (
            vec![],
            vec![("JUMPNET_CERT_KEY", key.as_str())],
            "--cert-key needs --cert",
        ),
        (vec!["--cert", missing.as_str()], vec![], "missing.pem"),
        (
            vec!["--cert", cert.as_str()],
            vec![],
            "give the key file with --cert-key",
        ),
        (
            vec!["--cert", not_pem.as_str(), "--cert-key", key.as_str()],
            vec![],
            "n.txt",
        ),
        (
            vec!["--cert", cert.as_str(), "--cert-key", not_pem.as_str()],
            vec![],
            "--cert-key",
        ),
        (
            vec!["--cert", cert.as_str(), "--cert-key", other_key.as_str()],
            vec![],
            "do not belong together",
        ),
    ] {
        let (ok, _, err) = jumpnet(&[&["topics"][..], server, args.as_slice()].concat(), &env);
        assert!(!ok, "{args:?} {env:?}");
        assert!(
            err.lines().count() == 1 && err.starts_with("jumpnet: ") && err.contains(expect),
            "{args:?} {env:?}: {err}"
        );
        assert!(
            !err.contains("127.0.0.1:9"),
            "checked before any request: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_joins_through_the_api_of_a_node_requiring_client_certificates() {
    // Without peer TLS the joining node presents its API certificate.
    let mut c = Cluster::new();
    let dir = c.tmp.path().to_path_buf();
    let ca = TestCa::new(&dir);
    let ca_path = ca.pem.display().to_string();
    let files = |name: &str| {
        let (pem, key) = ca.issue(name, None);
        (
            write(&dir, &format!("{name}.crt"), &pem),
            write(&dir, &format!("{name}.key"), &key),
        )
    };
    let ((cert0, key0), (cert1, key1), (ccert, ckey)) =
        (files("node0"), files("node1"), files("client"));
    let tls = |cert: &str, key: &str| -> Vec<String> {
        [
            "--tls-cert",
            cert,
            "--tls-key",
            key,
            "--tls-client-ca",
            ca_path.as_str(),
        ]
        .map(String::from)
        .to_vec()
    };
    c.add(None, &strs(&tls(&cert0, &key0)));
    let http = mtls_http(&ca_path, ccert.as_str(), ckey.as_str());
    wait_voters_https(&c, 0, &http, 1).await;
    let mut flags = tls(&cert1, &key1);
    flags.extend([
        "--cacert".into(),
        ca_path.clone(),
        "--join".into(),
        format!("127.0.0.1:{}", c.nodes[0].api_port),
    ]);
    c.add(None, &strs(&flags));
    wait_voters_https(&c, 0, &http, 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_tls_node_joins_through_the_api_of_a_node_requiring_client_certificates() {
    // With peer TLS it presents its peer certificate: its API certificate here comes from a CA
    // the first node does not trust, so only the peer certificate can get it in.
    let mut c = Cluster::new();
    let dir = c.tmp.path().to_path_buf();
    let ca = PeerCa::new(&dir, "ours");
    let ca_path = ca.pem.display().to_string();
    let (pem0, key0) = ca.issue("api0", 2100);
    let (cert0, key0) = (
        write(&dir, "api0.crt", &pem0),
        write(&dir, "api0.key", &key0),
    );
    let mut flags0 = ca.node_flags(&dir, "node0", &ca);
    flags0.extend(
        [
            "--tls-cert",
            cert0.as_str(),
            "--tls-key",
            key0.as_str(),
            "--tls-client-ca",
            ca_path.as_str(),
        ]
        .map(String::from),
    );
    c.add(None, &strs(&flags0));
    let (cpem, ckey) = ca.issue("client", 2100);
    let (ccert, ckey) = (
        write(&dir, "client.crt", &cpem),
        write(&dir, "client.key", ckey.as_str()),
    );
    let http = mtls_http(&ca_path, ccert.as_str(), ckey.as_str());
    wait_voters_https(&c, 0, &http, 1).await;

    let other_dir = dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = TestCa::new(&other_dir);
    let (pem1, key1) = other.issue("api1", None);
    let (cert1, key1) = (
        write(&dir, "api1.crt", &pem1),
        write(&dir, "api1.key", &key1),
    );
    let join = format!("127.0.0.1:{}", c.nodes[0].api_port);
    let mut flags1 = ca.node_flags(&dir, "node1", &ca);
    flags1.extend(
        [
            "--tls-cert",
            cert1.as_str(),
            "--tls-key",
            key1.as_str(),
            "--cacert",
            ca_path.as_str(),
            "--join",
            join.as_str(),
        ]
        .map(String::from),
    );
    c.add(None, &strs(&flags1));
    wait_voters_https(&c, 0, &http, 2).await;
}

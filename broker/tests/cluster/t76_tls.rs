//! TLS on the API (SPEC §10): clients with the CA publish and read (Rust client, CLI, curl);
//! without it they fail at once with a certificate error; plain HTTP to the TLS port gets a 400
//! and the node keeps serving; a rotated certificate reaches new connections with no request
//! failing; an expired certificate shows in `jumpnet_tls_certificate_expiry_seconds`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jumpnet_broker::client::{Client, Error as ClientError, OutMessage, Producer};
use jumpnet_broker::tls::CertInfo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use crate::harness::{wait_until, Cluster, BIN};

/// A test CA that issues server certificates for 127.0.0.1 / localhost.
pub(crate) struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub(crate) pem: PathBuf,
}

impl TestCa {
    pub(crate) fn new(dir: &Path) -> TestCa {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, "test CA");
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        let pem = dir.join("ca.pem");
        std::fs::write(&pem, cert.pem()).unwrap();
        TestCa {
            issuer: Issuer::new(p, key),
            pem,
        }
    }

    /// (certificate PEM, key PEM) for `cn`, valid until `not_after` (default: year 2100).
    pub(crate) fn issue(&self, cn: &str, not_after: Option<(i32, u8, u8)>) -> (String, String) {
        let mut p =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.not_before = rcgen::date_time_ymd(2019, 1, 1);
        let (y, m, d) = not_after.unwrap_or((2100, 1, 1));
        p.not_after = rcgen::date_time_ymd(y, m, d);
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Replace a file the way a secret volume does: write beside it, rename over it.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A node serving TLS with a certificate for `cn`; returns (cluster, CA, cert path, key path).
fn tls_node(cn: &str, not_after: Option<(i32, u8, u8)>) -> (Cluster, TestCa, PathBuf, PathBuf) {
    let mut c = Cluster::new();
    let ca = TestCa::new(c.tmp.path());
    let (cert, key) = (c.tmp.path().join("tls.crt"), c.tmp.path().join("tls.key"));
    let (cert_pem, key_pem) = ca.issue(cn, not_after);
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    c.add(
        None,
        &[
            "--tls-cert",
            &cert.display().to_string(),
            "--tls-key",
            &key.display().to_string(),
        ],
    );
    (c, ca, cert, key)
}

pub(crate) fn https(c: &Cluster) -> String {
    format!("https://127.0.0.1:{}", c.nodes[0].api_port)
}

fn trusting(ca: &Path) -> reqwest::Client {
    let certs = reqwest::Certificate::from_pem_bundle(&std::fs::read(ca).unwrap()).unwrap();
    certs
        .into_iter()
        .fold(reqwest::Client::builder(), |b, c| b.add_root_certificate(c))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn wait_ready(c: &Cluster, http: &reqwest::Client) {
    let url = format!("{}/readyz", https(c));
    wait_until("the TLS node is ready", Duration::from_secs(30), || async {
        let r = http.get(&url).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
}

/// A metric's value from /metrics (the sum over its series).
async fn metric(http: &reqwest::Client, base: &str, name: &str) -> Option<f64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// The subject of the certificate a brand-new TLS connection is served.
async fn served_subject(port: u16, ca: &Path) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in jumpnet_broker::tls::read_certs(&std::fs::read(ca).unwrap()).unwrap() {
        roots.add(c).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(jumpnet_broker::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("127.0.0.1".try_into().unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let cert = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    Ok(CertInfo::parse(&cert)?.subject)
}

pub(crate) fn jumpnet(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("JUMPNET_CACERT")
        .env_remove("JUMPNET_CERT")
        .env_remove("JUMPNET_CERT_KEY")
        .envs(env.iter().copied())
        .output()
        .expect("run jumpnet");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_node_serves_clients_with_the_ca_refuses_the_rest_and_survives_plain_http() {
    let (c, ca, _, _) = tls_node("node-a", None);
    let http = trusting(&ca.pem);
    wait_ready(&c, &http).await;
    let base = https(&c);
    let ca_path = ca.pem.display().to_string();

    // The Rust client with the CA.
    let client = Client::builder([base.as_str()])
        .ca_file(&ca.pem)
        .unwrap()
        .build()
        .unwrap();
    let producer = Producer::new(client.clone());
    let sent = producer
        .send("orders", vec![OutMessage::from("one")])
        .await
        .unwrap();
    assert_eq!(sent.base_offset, 0);
    let page = client.read("orders", Some(0), 10, None).await.unwrap();
    assert_eq!(page.messages.len(), 1);

    // The CLI with --cacert, and with JUMPNET_CACERT.
    let (ok, out, err) = jumpnet(
        &[
            "publish", "orders", "two", "--server", &base, "--cacert", &ca_path,
        ],
        &[],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "orders 1\n");
    let (ok, out, err) = jumpnet(
        &["consume", "orders", "--server", &base],
        &[("JUMPNET_CACERT", &ca_path)],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "one\ntwo\n");

    // Without the CA: a certificate error at once, not 30 s of retries.
    let started = Instant::now();
    let bare = Client::builder([base.as_str()]).build().unwrap();
    match bare.read("orders", Some(0), 10, None).await {
        Err(ClientError::Tls(m)) => {
            assert!(m.contains("certificate") && m.contains("--cacert"), "{m}")
        }
        other => panic!(
            "expected a TLS error, got {:?}",
            other.map(|p| p.messages.len())
        ),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    let (ok, _, err) = jumpnet(&["topics", "--server", &base], &[]);
    assert!(!ok);
    assert!(
        err.lines().count() == 1 && err.contains("certificate") && err.contains("--cacert"),
        "{err}"
    );

    // Plain HTTP to the TLS port: a 400 that says so, and the node keeps serving.
    let plain = reqwest::Client::new();
    let r = plain
        .get(format!(
            "http://127.0.0.1:{}/v1/cluster",
            c.nodes[0].api_port
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("https://"));
    let (ok, out, err) = jumpnet(
        &["consume", "orders", "--server", &base, "--cacert", &ca_path],
        &[],
    );
    assert!(ok && out == "one\ntwo\n", "{err}");
    let failures = metric(&http, &base, "jumpnet_tls_handshake_failures_total")
        .await
        .unwrap();
    assert!(
        failures >= 2.0,
        "plain HTTP and the untrusting clients: {failures}"
    );
    let expiry = metric(&http, &base, "jumpnet_tls_certificate_expiry_seconds")
        .await
        .unwrap();
    assert!(expiry > 365.0 * 86_400.0, "{expiry}");

    // curl, the way the README shows it.
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .args(args)
            .output()
    };
    if let Ok(out) = curl(&[
        "--cacert",
        &ca_path,
        &format!("{base}/v1/topics/orders/messages?offset=0"),
    ]) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("\"two\""));
        let refused = curl(&[&format!("{base}/v1/cluster")]).unwrap();
        assert_eq!(refused.status.code(), Some(60), "curl: unknown CA");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_certificate_reaches_new_connections_while_no_request_fails() {
    let (c, ca, cert, key) = tls_node("before-rotation", None);
    let http = trusting(&ca.pem);
    wait_ready(&c, &http).await;
    let base = https(&c);
    let port = c.nodes[0].api_port;
    assert!(served_subject(port, &ca.pem)
        .await
        .unwrap()
        .contains("before-rotation"));

    // Publishers on pooled connections, and a loop opening a new connection per request.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let producer = Producer::new(
        Client::builder([base.as_str()])
            .ca_file(&ca.pem)
            .unwrap()
            .build()
            .unwrap(),
    );
    let publisher = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let r = producer
                    .send("rot", vec![OutMessage::from(format!("m{i}").as_str())])
                    .await;
                i += 1;
                match r {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        eprintln!("publish failed: {e}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        })
    };
    let fresh = {
        let (stop, ok, failed, ca, base) = (
            stop.clone(),
            ok.clone(),
            failed.clone(),
            ca.pem.clone(),
            base.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // A new client: a new connection and handshake every time.
                let r = trusting(&ca).get(format!("{base}/v1/topics")).send().await;
                match r {
                    Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::Relaxed),
                    other => {
                        eprintln!("fresh request failed: {other:?}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        })
    };
    wait_until("requests flow", Duration::from_secs(10), || async {
        (ok.load(Ordering::Relaxed) > 20).then_some(())
    })
    .await
    .unwrap();

    // cert-manager's rotation: a new certificate and key (another name, another serial).
    let (cert_pem, key_pem) = ca.issue("after-rotation", None);
    replace(&cert, &cert_pem);
    replace(&key, &key_pem);
    wait_until(
        "new connections get the new certificate",
        Duration::from_secs(10),
        || async {
            served_subject(port, &ca.pem)
                .await
                .ok()
                .filter(|s| s.contains("after-rotation"))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    let at_rotation = ok.load(Ordering::Relaxed);
    wait_until(
        "requests go on after it",
        Duration::from_secs(10),
        || async { (ok.load(Ordering::Relaxed) > at_rotation + 20).then_some(()) },
    )
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    publisher.await.unwrap();
    fresh.await.unwrap();
    assert_eq!(failed.load(Ordering::Relaxed), 0, "{}", c.logs());
    assert!(c.nodes[0].log_tail().contains("TLS certificate reloaded"));

    // A broken file keeps the working certificate, with an error in the log.
    replace(
        &cert,
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    );
    wait_until(
        "the bad file is reported",
        Duration::from_secs(10),
        || async {
            c.nodes[0]
                .log_tail()
                .contains("does not load")
                .then_some(())
        },
    )
    .await
    .unwrap();
    assert!(served_subject(port, &ca.pem)
        .await
        .unwrap()
        .contains("after-rotation"));
    assert!(http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_certificate_shows_a_negative_expiry() {
    let (c, _ca, _, _) = tls_node("expired", Some((2020, 1, 1)));
    // Clients rightly refuse it; the scrape here looks past that.
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    wait_ready(&c, &http).await;
    let expiry = metric(&http, &https(&c), "jumpnet_tls_certificate_expiry_seconds")
        .await
        .unwrap();
    assert!(expiry < -86_400.0, "{expiry}");
}

#[test]
fn tls_flags_and_files_are_checked_at_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let state = format!("--state-dir={}", dir.path().join("s").display());
    let missing = dir.path().join("none.pem").display().to_string();
    for (args, expect) in [
        (
            vec!["--tls-cert", missing.as_str()],
            "--tls-cert needs --tls-key",
        ),
        (
            vec!["--tls-client-ca", missing.as_str()],
            "--tls-client-ca needs",
        ),
        (
            vec![
                "--tls-cert",
                missing.as_str(),
                "--tls-key",
                missing.as_str(),
            ],
            "--tls-cert",
        ),
    ] {
        let out = Command::new(BIN)
            .args([
                "serve",
                &state,
                "--raft",
                "127.0.0.1:0",
                "--api",
                "127.0.0.1:0",
            ])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("jumpnet: ") && last.contains(expect),
            "{args:?}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_node_shuts_down_gracefully_with_idle_and_long_polling_connections() {
    let (mut c, ca, _, _) = tls_node("node-a", None);
    let http = trusting(&ca.pem);
    wait_ready(&c, &http).await;
    let base = https(&c);
    let client = Client::builder([base.as_str()])
        .ca_file(&ca.pem)
        .unwrap()
        .retry_for(Duration::from_secs(2))
        .build()
        .unwrap();
    // A kept-alive idle connection, and a long-poll waiting for a message that never comes.
    client
        .publish("q", vec![OutMessage::from("x")])
        .await
        .unwrap();
    let poll = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .read("q", Some(1), 10, Some(Duration::from_secs(30)))
                .await
        })
    };
    wait_until(
        "the long-poll is parked",
        Duration::from_secs(10),
        || async {
            let text = http
                .get(format!("{base}/metrics"))
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.lines()
                .find(|l| l.starts_with("jumpnet_http_requests_in_flight "))
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .filter(|n| *n >= 2.0) // the long-poll and this scrape
                .map(|_| ())
        },
    )
    .await
    .unwrap();

    let started = Instant::now();
    assert_eq!(c.nodes[0].terminate(), Some(0), "{}", c.logs());
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    let ended = tokio::time::timeout(Duration::from_secs(5), poll).await;
    assert!(ended.is_ok(), "the long-poll was not ended by the shutdown");
    let log = std::fs::read_to_string(c.nodes[0].log_path()).unwrap();
    assert!(!log.contains("did not finish in time"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_joins_through_a_tls_api_address_trusting_cacert() {
    let (mut c, ca, cert, key) = tls_node("node-a", None);
    let http = trusting(&ca.pem);
    wait_ready(&c, &http).await;
    let api0 = format!("127.0.0.1:{}", c.nodes[0].api_port);
    c.add(
        None,
        &[
            "--tls-cert",
            &cert.display().to_string(),
            "--tls-key",
            &key.display().to_string(),
            "--cacert",
            &ca.pem.display().to_string(),
            "--join",
            &api0,
        ],
    );
    let url = format!("{}/v1/cluster", https(&c));
    wait_until(
        "the second node is a voter",
        Duration::from_secs(30),
        || async {
            let v: serde_json::Value = http.get(&url).send().await.ok()?.json().await.ok()?;
            let voters = v["members"]
                .as_array()?
                .iter()
                .filter(|m| m["role"] == "voter")
                .count();
            (voters == 2).then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
}

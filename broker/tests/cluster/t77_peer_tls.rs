//! Mutual TLS on the raft port (SPEC §10, `--peer-tls-*`): a cluster forms, replicates and
//! survives a leader restart over it; a node whose certificate another CA signed, a node without
//! peer TLS and raw bytes are refused while the cluster carries on; a rewritten certificate reaches
//! new connections without a restart; the flags come as three or not at all, and count as peer
//! protection for `--auth-file`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jumpnet_broker::tls::CertInfo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{wait_until, Cluster, BIN};

/// A CA that issues peer certificates (serverAuth + clientAuth) for 127.0.0.1 / localhost.
pub(crate) struct PeerCa {
    issuer: Issuer<'static, KeyPair>,
    pub(crate) pem: PathBuf,
}

impl PeerCa {
    pub(crate) fn new(dir: &Path, name: &str) -> PeerCa {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(DnType::CommonName, format!("{name} peer CA"));
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        let pem = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&pem, cert.pem()).unwrap();
        PeerCa {
            issuer: Issuer::new(p, key),
            pem,
        }
    }

    /// (certificate PEM, key PEM) for `cn`, valid until the first day of `year`.
    pub(crate) fn issue(&self, cn: &str, year: i32) -> (String, String) {
        let mut p =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.not_before = rcgen::date_time_ymd(2019, 1, 1);
        p.not_after = rcgen::date_time_ymd(year, 1, 1);
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// Files for node `cn` in `dir` and the `--peer-tls-*` flags naming them, trusting `trust`.
    pub(crate) fn node_flags(&self, dir: &Path, cn: &str, trust: &PeerCa) -> Vec<String> {
        let (cert, key) = (dir.join(format!("{cn}.crt")), dir.join(format!("{cn}.key")));
        let (cert_pem, key_pem) = self.issue(cn, 2100);
        std::fs::write(&cert, cert_pem).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        [
            ("--peer-tls-cert", &cert),
            ("--peer-tls-key", &key),
            ("--peer-tls-ca", &trust.pem),
        ]
        .into_iter()
        .flat_map(|(f, p)| [f.to_string(), p.display().to_string()])
        .collect()
    }
}

pub(crate) fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Replace a file the way a secret volume does: write beside it, rename over it.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A metric's value from node `i`'s /metrics: the sum of the series whose line starts with
/// `series` (a name, or a name with its labels).
async fn metric(c: &Cluster, i: usize, series: &str) -> Option<f64> {
    let text = c
        .http
        .get(format!("{}/metrics", c.nodes[i].api()))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

async fn wait_history(c: &Cluster, i: usize, topic: &str, want: &[&str]) {
    wait_until(
        &format!("node {i} holds {want:?}"),
        Duration::from_secs(20),
        || async { (c.history(i, topic).await? == want).then_some(()) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
}

async fn mtls_three(ca: &PeerCa) -> Cluster {
    let mut c = Cluster::new();
    for n in 0..3 {
        let flags = ca.node_flags(c.tmp.path(), &format!("node{n}"), ca);
        c.add((n > 0).then_some(0), &strs(&flags));
    }
    c.wait_voters(&[0, 1, 2], 3).await;
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_tls_cluster_forms_replicates_and_survives_a_leader_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = PeerCa::new(tmp.path(), "ours");
    let mut c = mtls_three(&ca).await;
    let leader = c.leader_seen_by(0).await.unwrap();
    let follower = (leader + 1) % 3;
    c.put(leader, "t", "a").await.unwrap();
    // A write through a follower is forwarded over the raft port too.
    c.put(follower, "t", "b").await.unwrap();
    for i in 0..3 {
        wait_history(&c, i, "t", &["a", "b"]).await;
        let expiry = metric(
            &c,
            i,
            "jumpnet_tls_certificate_expiry_seconds{listener=\"peer\"}",
        )
        .await
        .unwrap_or_else(|| panic!("node {i} exports no peer certificate expiry"));
        assert!(expiry > 86_400.0 * 365.0, "{expiry}");
    }

    c.nodes[leader].kill();
    let others: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let new = c.wait_new_leader(&others, leader).await;
    c.put(new, "t", "c").await.unwrap();
    c.nodes[leader].start();
    c.wait_voters(&[0, 1, 2], 3).await;
    wait_history(&c, leader, "t", &["a", "b", "c"]).await;
    c.put(leader, "t", "d").await.unwrap();
    for i in 0..3 {
        wait_history(&c, i, "t", &["a", "b", "c", "d"]).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn peers_without_a_certificate_from_the_ca_are_refused_and_the_cluster_carries_on() {
    let mut c = Cluster::new();
    let tmp = c.tmp.path().to_path_buf();
    let ca = PeerCa::new(&tmp, "ours");
    let theirs = PeerCa::new(&tmp, "theirs");
    c.add(None, &strs(&ca.node_flags(&tmp, "node0", &ca)));
    c.wait_voters(&[0], 1).await;
    c.put(0, "t", "x").await.unwrap();

    // It trusts our CA, but its own certificate is another CA's: refused by the listener.
    let intruder = c.add(Some(0), &strs(&theirs.node_flags(&tmp, "intruder", &ca)));
    // No peer TLS at all.
    let plain = c.add(Some(0), &[]);
    // Raw bytes on the raft port (a raft hello, then junk) get no raft answer.
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", c.nodes[0].raft_port))
        .await
        .unwrap();
    raw.write_all(b"JNRAFT1\nhello, anyone?\n").await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), raw.read_to_end(&mut got))
        .await
        .expect("the raft port closes a connection that does not speak TLS")
        .ok();
    assert!(!got.windows(6).any(|w| w == b"JNRAFT"), "{got:?}");

    let friend = c.add(Some(0), &strs(&ca.node_flags(&tmp, "friend", &ca)));
    c.wait_voters(&[0, friend], 2).await;
    c.put(friend, "t", "y").await.unwrap();
    wait_history(&c, friend, "t", &["x", "y"]).await;

    wait_until(
        "the intruder says its certificate was refused",
        Duration::from_secs(15),
        || async {
            c.nodes[intruder]
                .log_tail()
                .contains("refused our peer certificate")
                .then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.nodes[intruder].log_tail()));
    let refused = metric(
        &c,
        0,
        "jumpnet_tls_handshake_failures_total{listener=\"peer\"}",
    )
    .await
    .unwrap();
    // At least the intruder, the plain node and the raw bytes.
    assert!(refused >= 3.0, "{refused}");
    let log = std::fs::read_to_string(c.nodes[0].log_path()).unwrap();
    assert!(log.contains("refused a raft peer: TLS handshake failed"));
    let v = c.view(0).await.unwrap();
    assert_eq!(
        v["members"].as_array().unwrap().len(),
        2,
        "only the friend joined: {v}"
    );
    let _ = plain;
}

/// The certificate a brand-new connection to `port`'s raft listener is served, dialled with a
/// client certificate of `ca`.
async fn served_peer_cert(port: u16, ca: &PeerCa) -> Result<CertInfo, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in jumpnet_broker::tls::read_certs(&std::fs::read(&ca.pem).unwrap()).unwrap() {
        roots.add(c).unwrap();
    }
    let (cert, key) = ca.issue("probe", 2100);
    let certs = jumpnet_broker::tls::read_certs(cert.as_bytes()).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(jumpnet_broker::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("127.0.0.1".try_into().unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let der = tls
        .get_ref()
        .1
        .peer_certificates()
        .ok_or("no certificate")?[0]
        .clone();
    CertInfo::parse(&der)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rewritten_peer_certificate_reaches_new_connections_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = PeerCa::new(tmp.path(), "ours");
    let mut c = mtls_three(&ca).await;
    let before = served_peer_cert(c.nodes[1].raft_port, &ca).await.unwrap();

    // Node 1's files are rewritten (cert-manager renewed it): a new certificate, a later notAfter.
    let (cert, key) = ca.issue("node1-renewed", 2200);
    let dir = c.tmp.path().to_path_buf();
    replace(&dir.join("node1.key"), &key);
    replace(&dir.join("node1.crt"), &cert);
    let after = wait_until(
        "node 1 serves the renewed certificate on the raft port",
        Duration::from_secs(15),
        || async {
            let info = served_peer_cert(c.nodes[1].raft_port, &ca).await.ok()?;
            (info.serial != before.serial).then_some(info)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
    assert!(after.subject.contains("node1-renewed"), "{after:?}");
    wait_until(
        "node 1's peer expiry metric follows",
        Duration::from_secs(15),
        || async {
            let s = metric(
                &c,
                1,
                "jumpnet_tls_certificate_expiry_seconds{listener=\"peer\"}",
            )
            .await?;
            (s > 150.0 * 365.0 * 86_400.0).then_some(())
        },
    )
    .await
    .unwrap();

    // Another node restarts: every connection to and from it is new, with node 1's new certificate.
    c.nodes[2].kill();
    c.nodes[2].start();
    c.wait_voters(&[0, 1, 2], 3).await;
    c.put(2, "t", "after-rotation").await.unwrap();
    c.put(1, "t", "from-node1").await.unwrap();
    for i in 0..3 {
        wait_history(&c, i, "t", &["after-rotation", "from-node1"]).await;
    }
}

/// Run `serve` with `args` until it exits; (exit code, stderr).
fn serve_fails(args: &[&str]) -> (Option<i32>, String) {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .arg("serve")
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .args(["--raft", "127.0.0.1:0", "--api", "127.0.0.1:0"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn peer_tls_flags_come_together_and_count_as_peer_protection() {
    let mut c = Cluster::new();
    let tmp = c.tmp.path().to_path_buf();
    let ca = PeerCa::new(&tmp, "ours");
    let flags = ca.node_flags(&tmp, "node0", &ca);

    for partial in [&flags[..2], &flags[..4], &flags[2..]] {
        let (code, err) = serve_fails(&strs(partial));
        assert_eq!(code, Some(64), "{err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains("peer TLS needs all of"), "{err}");
    }
    let mut missing = flags.clone();
    missing[1] = tmp.join("nope.crt").display().to_string();
    let (code, err) = serve_fails(&strs(&missing));
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("--peer-tls-cert") && err.contains("nope.crt"),
        "{err}"
    );

    // Tokens with peer TLS and no cluster secret: the raft port is protected, the node starts.
    let tokens = tmp.join("tokens");
    std::fs::write(&tokens, "admin-token ops admin,publish,consume\n").unwrap();
    let mut args = strs(&flags);
    let tokens = tokens.display().to_string();
    args.extend(["--auth-file", &tokens]);
    c.add(None, &args);
    wait_until("the node is ready", Duration::from_secs(20), || async {
        c.get(0, "/readyz").await.filter(|(s, _)| *s == 200)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", c.logs()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_tls_node_joins_through_a_plain_api_address() {
    let mut c = Cluster::new();
    let tmp = c.tmp.path().to_path_buf();
    let ca = PeerCa::new(&tmp, "ours");
    c.add(None, &strs(&ca.node_flags(&tmp, "node0", &ca)));
    c.wait_voters(&[0], 1).await;
    // The TLS dial of an HTTP port fails as "not a raft port", and the join asks the API instead.
    let mut flags = ca.node_flags(&tmp, "node1", &ca);
    flags.extend([
        "--join".into(),
        format!("127.0.0.1:{}", c.nodes[0].api_port),
    ]);
    let n = c.add(None, &strs(&flags));
    c.wait_voters(&[0, n], 2).await;
}

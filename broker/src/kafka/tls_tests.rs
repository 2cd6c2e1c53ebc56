//! The Kafka listener over TLS: a TLS client is served; a plaintext client on the TLS port is
//! closed and counted, and the listener keeps serving.

use std::sync::Arc;

use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::handlers::test_support::{fast_config, Client, Harness};
use super::KafkaTls;
use crate::tls::{read_certs, write_dev_pki, ServerTls, TlsFiles};

async fn tls_client(h: &Harness, ca_pem: &[u8]) -> std::io::Result<Client> {
    let mut roots = rustls::RootCertStore::empty();
    for c in read_certs(ca_pem).unwrap() {
        roots.add(c).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(h.addr).await?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    Ok(Client::over(stream))
}

#[tokio::test]
async fn kafka_clients_are_served_over_tls_and_plaintext_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = write_dev_pki(tmp.path()).unwrap();
    let other = write_dev_pki(&tmp.path().join("other")).unwrap();
    let server = ServerTls::load(&TlsFiles {
        cert: pki.cert.clone(),
        key: pki.key.clone(),
        client_ca: None,
    })
    .unwrap();
    let failures = prometheus::IntCounter::new("failures", "test").unwrap();
    let tls = KafkaTls {
        acceptor: tokio_rustls::TlsAcceptor::from(server.config.clone()),
        failures: failures.clone(),
    };
    let h = Harness::start_tls(fast_config(), tls).await;
    let ca = std::fs::read(&pki.ca).unwrap();

    let mut c = tls_client(&h, &ca).await.expect("TLS handshake");
    let versions = c.call(&ApiVersionsRequest::default(), 0).await;
    assert_eq!(versions.error_code, 0);
    assert!(!versions.api_keys.is_empty());
    let meta = c.call(&MetadataRequest::default(), 1).await;
    assert_eq!(meta.brokers.len(), 1);

    // A plaintext Kafka client on the TLS port: its bytes are no handshake; closed, counted.
    let mut plain = Client::over(TcpStream::connect(h.addr).await.unwrap());
    plain.send(&ApiVersionsRequest::default(), 0).await;
    // (It may first get a TLS alert: read to the end.)
    let mut rest = Vec::new();
    let eof = tokio::time::timeout(
        super::handlers::test_support::PATIENCE,
        tokio::io::AsyncReadExt::read_to_end(&mut plain.stream, &mut rest),
    )
    .await;
    assert!(
        matches!(eof, Ok(Ok(_)) | Ok(Err(_))),
        "a plaintext client is closed"
    );
    assert!(
        rest.len() < 64,
        "it gets no Kafka answer, at most an alert: {rest:?}"
    );
    // A client that does not trust the certificate fails its handshake cleanly.
    assert!(
        tls_client(&h, &std::fs::read(&other.ca).unwrap())
            .await
            .is_err(),
        "a certificate of another CA is refused by the client"
    );
    let deadline = tokio::time::Instant::now() + super::handlers::test_support::PATIENCE;
    while failures.get() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(failures.get(), 2, "both failed handshakes are counted");

    // The listener carries on.
    let mut again = tls_client(&h, &ca).await.expect("TLS handshake");
    assert_eq!(
        again
            .call(&ApiVersionsRequest::default(), 0)
            .await
            .error_code,
        0
    );
}

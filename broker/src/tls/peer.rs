//! Mutual TLS on the raft port (SPEC §10): `--peer-tls-cert`, `--peer-tls-key`, `--peer-tls-ca`.
//!
//! Both ends present the node's peer certificate (it needs the `serverAuth` and `clientAuth`
//! extended key usages, or none) and verify the other's chain against the peer CA; a listener
//! refuses a dialler without such a certificate in the TLS handshake, before any raft byte is read.
//! The dialler checks the listener's certificate against the host of the raft address it dials
//! (the member's advertised `raft_addr`): a DNS name must be among the certificate's DNS names, an
//! IP address among its IP address names (a certificate without IP names cannot serve peers that
//! are dialled by IP). TLS 1.2 and 1.3, no session resumption (every connection is a full
//! handshake, so a rotated or refused certificate counts at once). The certificate and key are
//! re-read when their files change, like the API's, and so is the CA (`ca.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use prometheus::IntCounter;
use rustls::client::Resumption;
use rustls::server::NoServerSessionStorage;
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::{provider, ReloadingCa, ReloadingCert};
use crate::metrics::Metrics;
use crate::{Error, Result};

/// The files of `--peer-tls-cert`, `--peer-tls-key` and `--peer-tls-ca`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerTlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Peers must present a certificate this CA signed, and so must the nodes this one dials.
    pub ca: PathBuf,
}

/// Both sides of the raft port's TLS, loaded (and so checked) before the node serves.
pub struct PeerTls {
    pub acceptor: TlsAcceptor,
    pub connector: TlsConnector,
    /// Failed handshakes on the raft port (`jumpnet_tls_handshake_failures_total{listener="peer"}`).
    pub failures: IntCounter,
    cert: Arc<ReloadingCert>,
}

impl PeerTls {
    /// Load the files (errors name the flag and the file) and export the peer TLS metrics.
    pub fn load(files: &PeerTlsFiles, metrics: &Metrics) -> Result<Arc<PeerTls>> {
        let provider = provider();
        let cert = Arc::new(ReloadingCert::load_pair(
            (&files.cert, "--peer-tls-cert"),
            (&files.key, "--peer-tls-key"),
            provider.clone(),
        )?);
        let ca = Arc::new(ReloadingCa::load(
            &files.ca,
            "--peer-tls-ca",
            provider.clone(),
        )?);
        let bad = |e: String| Error::Config(format!("--peer-tls-ca {}: {e}", files.ca.display()));
        let versions = [&rustls::version::TLS13, &rustls::version::TLS12];

        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| bad(e.to_string()))?
            .with_client_cert_verifier(ca.clone())
            .with_cert_resolver(cert.clone());
        // No tickets: nothing arrives unasked on an idle pooled connection (the pool reads any
        // pending byte as "the peer closed it"), and every connection checks certificates anew.
        server.send_tls13_tickets = 0;
        server.session_storage = Arc::new(NoServerSessionStorage {});

        let mut client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| bad(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(ca.clone())
            .with_client_cert_resolver(cert.clone());
        client.resumption = Resumption::disabled();

        metrics.enable_tls("peer");
        cert.watch(metrics.clone(), "peer");
        ca.watch();
        Ok(Arc::new(PeerTls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
            failures: metrics.tls_handshake_failures.with_label_values(&["peer"]),
            cert,
        }))
    }

    /// The certificate this node presents now.
    pub fn info(&self) -> super::CertInfo {
        self.cert.info()
    }
}

/// The name a peer's certificate must carry when dialled at `addr` (`host:port`, `[v6]:port`).
pub fn server_name(addr: &str) -> std::result::Result<ServerName<'static>, String> {
    let host = match addr.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map(|(h, _)| h),
        None => addr.rsplit_once(':').map(|(h, _)| h),
    }
    .ok_or_else(|| format!("{addr}: expected HOST:PORT"))?;
    ServerName::try_from(host.to_string()).map_err(|e| format!("{addr}: {e}"))
}

/// Why a TLS exchange failed, when it was TLS that failed (a certificate refused by either side,
/// a peer that does not speak TLS).
pub fn tls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_checked_against_the_host_they_are_dialled_by() {
        assert_eq!(
            server_name("10.0.0.5:8080").unwrap(),
            ServerName::try_from("10.0.0.5").unwrap()
        );
        assert_eq!(
            server_name("[::1]:8080").unwrap(),
            ServerName::try_from("::1").unwrap()
        );
        assert_eq!(
            server_name("jn-0.jn.default.svc:8080").unwrap(),
            ServerName::try_from("jn-0.jn.default.svc").unwrap()
        );
        assert!(server_name("no-port").is_err());
    }
}

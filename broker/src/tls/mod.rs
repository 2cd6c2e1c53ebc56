//! TLS on the HTTP API (SPEC §10): `--tls-cert`/`--tls-key` (and `--tls-client-ca` to require
//! client certificates). rustls with ring, TLS 1.2 and 1.3, HTTP/1.1.
//!
//! The certificate and key are re-read when their files change (cert-manager rotation): a watcher
//! checks them every second and new handshakes use the new pair; connections already open keep
//! theirs. A new file that does not load (half written, key not matching the certificate) keeps
//! the old pair and logs an error. The client CA (`--tls-client-ca`) is re-read the same way
//! (`ca.rs`).
//!
//! The raft port has its own mutual TLS (`peer.rs`, `--peer-tls-*`), with the same reloading.
//!
//! Clients present a certificate of their own to an API that requires one (`identity.rs`).

mod ca;
mod certs;
mod identity;
mod peer;
mod pki;
mod reload;
mod serve;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;

pub use ca::ReloadingCa;
pub use certs::{read_certs, CertInfo};
pub use identity::{identity_files, identity_pem, presenting, IdentityFiles};
pub use peer::{server_name, tls_error, PeerTls, PeerTlsFiles};
pub use pki::{write_dev_pki, DevPki};
pub use reload::ReloadingCert;
pub use serve::serve;

use crate::{Error, Result};

/// The TLS files of the API listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// With it, clients must present a certificate signed by this CA.
    pub client_ca: Option<PathBuf>,
}

/// The ring provider: the one reqwest already uses here, and it builds for static musl.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The API's TLS setup, loaded (and so checked) before the node starts serving.
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    pub cert: Arc<ReloadingCert>,
}

impl ServerTls {
    /// Load the files; errors name the flag and file (one line at start-up).
    pub fn load(files: &TlsFiles) -> Result<ServerTls> {
        let provider = provider();
        let cert = Arc::new(ReloadingCert::load(files, provider.clone())?);
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| Error::Config(format!("TLS: {e}")))?;
        let builder = match &files.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let ca = Arc::new(ReloadingCa::load(ca, "--tls-client-ca", provider)?);
                ca.watch();
                builder.with_client_cert_verifier(ca)
            }
        };
        let mut config = builder.with_cert_resolver(cert.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls {
            config: Arc::new(config),
            cert,
        })
    }
}

/// A reqwest builder that also trusts the CA certificates of `cacert` (a PEM file), for https
/// calls to nodes whose certificates a private CA signed.
pub fn trusting(
    builder: reqwest::ClientBuilder,
    cacert: Option<&Path>,
) -> std::result::Result<reqwest::ClientBuilder, String> {
    let Some(path) = cacert else {
        return Ok(builder);
    };
    let pem = std::fs::read(path).map_err(|e| format!("--cacert {}: {e}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("--cacert {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "--cacert {}: no certificate in the file",
            path.display()
        ));
    }
    Ok(certs
        .into_iter()
        .fold(builder, |b, c| b.add_root_certificate(c)))
}

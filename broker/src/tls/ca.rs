//! A trusted CA file (`--tls-client-ca`, `--peer-tls-ca`), re-read when it changes, like the
//! certificates: cert-manager renews a CA by rewriting `ca.crt` (often as a bundle of the old and
//! the new CA for a while), and nodes must trust the new one without a restart.
//!
//! [`ReloadingCa`] is both verifiers rustls asks: of client certificates (a listener requiring
//! them) and of server certificates (the raft port's dialler). Each handshake uses the roots
//! loaded last; a changed file that does not load keeps the previous roots and logs an error.
//! It sends no CA names in its certificate request (an empty list: "any certificate you have"),
//! as the roots may change between handshakes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use super::certs::read_certs;
use super::reload::CHECK_EVERY;
use crate::{Error, Result};

/// The verifiers built from one version of the CA file.
struct Verifiers {
    client: Arc<dyn ClientCertVerifier>,
    server: Arc<dyn ServerCertVerifier>,
    /// How many certificates the file held (for the reload log line).
    roots: usize,
}

pub struct ReloadingCa {
    path: PathBuf,
    flag: &'static str,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<Verifiers>>,
    /// The file content last tried (loaded or refused): a bad file is reported once.
    seen: Mutex<Vec<u8>>,
}

impl std::fmt::Debug for ReloadingCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCa")
            .field("flag", &self.flag)
            .field("path", &self.path)
            .finish()
    }
}

impl ReloadingCa {
    /// Load the CA file named by `flag` (errors name both: one line at start-up).
    pub fn load(path: &Path, flag: &'static str, provider: Arc<CryptoProvider>) -> Result<Self> {
        let bad = |e: String| Error::Config(format!("{flag} {}: {e}", path.display()));
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let verifiers = verifiers(&pem, &provider).map_err(bad)?;
        Ok(ReloadingCa {
            path: path.to_path_buf(),
            flag,
            provider,
            current: RwLock::new(Arc::new(verifiers)),
            seen: Mutex::new(pem),
        })
    }

    fn now(&self) -> Arc<Verifiers> {
        self.current.read().expect("ca lock").clone()
    }

    /// Compare the file with what was last tried; load it when it differs. Returns whether new
    /// roots are now trusted.
    pub fn check(&self) -> bool {
        let Ok(pem) = std::fs::read(&self.path) else {
            // Mid-rotation (briefly missing) or gone: keep trusting the old roots.
            return false;
        };
        {
            let mut seen = self.seen.lock().expect("seen lock");
            if *seen == pem {
                return false;
            }
            *seen = pem.clone();
        }
        match verifiers(&pem, &self.provider) {
            Ok(v) => {
                tracing::info!(flag = self.flag, file = %self.path.display(), roots = v.roots,
                    "trusted CA reloaded");
                *self.current.write().expect("ca lock") = Arc::new(v);
                true
            }
            Err(e) => {
                tracing::error!(flag = self.flag, file = %self.path.display(), error = %e,
                    "the changed CA file does not load; still trusting the previous one");
                false
            }
        }
    }

    /// Check the file every [`CHECK_EVERY`] until the last TLS config using it is dropped.
    pub fn watch(self: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECK_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(me) = weak.upgrade() else { return };
                // A small file, read off the async workers.
                let _ = tokio::task::spawn_blocking(move || me.check()).await;
            }
        });
    }
}

/// Handshake signatures depend on the provider's algorithms, not on the roots: both verifiers
/// check them as rustls's WebPKI verifiers do.
impl ReloadingCa {
    fn tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
}

fn verifiers(pem: &[u8], provider: &Arc<CryptoProvider>) -> std::result::Result<Verifiers, String> {
    let certs = read_certs(pem)?;
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots.add(c).map_err(|e| e.to_string())?;
    }
    let count = roots.len();
    let roots = Arc::new(roots);
    let client = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let server = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Verifiers {
        client,
        server,
        roots: count,
    })
}

impl ClientCertVerifier for ReloadingCa {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        self.now()
            .client
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl ServerCertVerifier for ReloadingCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.now().server.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::write_dev_pki;

    fn leaf(path: &Path) -> CertificateDer<'static> {
        read_certs(&std::fs::read(path).unwrap()).unwrap().remove(0)
    }

    #[test]
    fn a_changed_ca_is_trusted_and_a_bad_one_keeps_the_old() {
        let tmp = tempfile::tempdir().unwrap();
        let a = write_dev_pki(&tmp.path().join("a")).unwrap();
        let b = write_dev_pki(&tmp.path().join("b")).unwrap();
        let file = tmp.path().join("ca.crt");
        std::fs::copy(&a.ca, &file).unwrap();
        let ca = ReloadingCa::load(&file, "--peer-tls-ca", crate::tls::provider()).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let client_ok = |ca: &ReloadingCa, cert: &Path| {
            ca.verify_client_cert(&leaf(cert), &[], UnixTime::now())
                .is_ok()
        };
        let server_ok = |ca: &ReloadingCa, cert: &Path| {
            ca.verify_server_cert(&leaf(cert), &[], &name, &[], UnixTime::now())
                .is_ok()
        };
        assert!(client_ok(&ca, &a.cert) && server_ok(&ca, &a.cert));
        assert!(!client_ok(&ca, &b.cert) && !server_ok(&ca, &b.cert));
        assert!(!ca.check(), "an unchanged file is not reloaded");

        // The rotation's overlap: a bundle of the old and the new CA trusts both.
        let bundle = [std::fs::read(&a.ca).unwrap(), std::fs::read(&b.ca).unwrap()].concat();
        std::fs::write(&file, &bundle).unwrap();
        assert!(ca.check());
        assert!(client_ok(&ca, &a.cert) && client_ok(&ca, &b.cert));
        assert!(server_ok(&ca, &b.cert));

        // A broken file keeps the roots; then only the new CA.
        std::fs::write(&file, "not a certificate").unwrap();
        assert!(!ca.check());
        assert!(client_ok(&ca, &a.cert) && client_ok(&ca, &b.cert));
        std::fs::remove_file(&file).unwrap();
        assert!(!ca.check(), "a missing file keeps them too");
        std::fs::copy(&b.ca, &file).unwrap();
        assert!(ca.check());
        assert!(!client_ok(&ca, &a.cert) && client_ok(&ca, &b.cert));
    }

    #[test]
    fn start_up_errors_name_the_flag_and_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("missing.pem");
        let e = ReloadingCa::load(&missing, "--tls-client-ca", crate::tls::provider())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--tls-client-ca") && e.contains("missing.pem"),
            "{e}"
        );
        let junk = tmp.path().join("junk.pem");
        std::fs::write(&junk, "junk").unwrap();
        let e = ReloadingCa::load(&junk, "--peer-tls-ca", crate::tls::provider())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--peer-tls-ca") && e.contains("junk.pem"), "{e}");
    }
}

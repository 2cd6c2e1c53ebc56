//! The serving certificate, re-read when its files change: a `ResolvesServerCert` whose pair a
//! watcher task swaps (at most one check a second; new handshakes see the new pair).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;

use super::certs::{read_certs, read_key, CertInfo};
use super::TlsFiles;
use crate::metrics::Metrics;
use crate::{Error, Result};

/// How often the files are compared with what was loaded.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<(Arc<CertifiedKey>, CertInfo)>,
    /// The file contents last tried (loaded or refused): a bad file is reported once.
    seen: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert", &self.cert_path)
            .field("info", &self.info())
            .finish()
    }
}

impl ReloadingCert {
    pub fn load(files: &TlsFiles, provider: Arc<CryptoProvider>) -> Result<Self> {
        Self::load_pair(
            (&files.cert, "--tls-cert"),
            (&files.key, "--tls-key"),
            provider,
        )
    }

    /// A certificate file and its key file, each with the flag that named it (for errors).
    pub fn load_pair(
        (cert, cert_flag): (&Path, &str),
        (key, key_flag): (&Path, &str),
        provider: Arc<CryptoProvider>,
    ) -> Result<Self> {
        let read = |p: &Path, flag: &str| {
            std::fs::read(p).map_err(|e| Error::Config(format!("{flag} {}: {e}", p.display())))
        };
        let (cert_pem, key_pem) = (read(cert, cert_flag)?, read(key, key_flag)?);
        let pair = certified_key(&cert_pem, &key_pem, &provider).map_err(|e| {
            Error::Config(format!(
                "{cert_flag} {} / {key_flag} {}: {e}",
                cert.display(),
                key.display()
            ))
        })?;
        Ok(ReloadingCert {
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            provider,
            current: RwLock::new(pair),
            seen: Mutex::new((cert_pem, key_pem)),
        })
    }

    /// The certificate being served.
    pub fn info(&self) -> CertInfo {
        self.current.read().expect("cert lock").1.clone()
    }

    /// Compare the files with what was last tried; load them when they differ. Returns whether a
    /// new pair is now served.
    pub fn check(&self) -> bool {
        let (Ok(cert_pem), Ok(key_pem)) = (
            std::fs::read(&self.cert_path),
            std::fs::read(&self.key_path),
        ) else {
            // Mid-rotation (a file briefly missing) or gone: keep serving the old pair.
            return false;
        };
        {
            let mut seen = self.seen.lock().expect("seen lock");
            if seen.0 == cert_pem && seen.1 == key_pem {
                return false;
            }
            *seen = (cert_pem.clone(), key_pem.clone());
        }
        match certified_key(&cert_pem, &key_pem, &self.provider) {
            Ok(pair) => {
                tracing::info!(
                    subject = %pair.1.subject,
                    serial = %pair.1.serial,
                    expires_in_s = pair.1.expires_in(),
                    "TLS certificate reloaded"
                );
                *self.current.write().expect("cert lock") = pair;
                true
            }
            Err(e) => {
                tracing::error!(
                    cert = %self.cert_path.display(),
                    key = %self.key_path.display(),
                    error = %e,
                    "the changed TLS certificate or key does not load; still serving the previous one"
                );
                false
            }
        }
    }

    /// Check the files every [`CHECK_EVERY`] until the server drops its config; keep
    /// `jumpnet_tls_certificate_expiry_seconds{listener}` current.
    pub fn watch(self: &Arc<Self>, metrics: Metrics, listener: &'static str) {
        let expiry = metrics.tls_cert_expiry.with_label_values(&[listener]);
        expiry.set(self.info().expires_in() as f64);
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECK_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(me) = weak.upgrade() else { return };
                // Small files, read off the async workers.
                let me2 = me.clone();
                let _ = tokio::task::spawn_blocking(move || me2.check()).await;
                expiry.set(me.info().expires_in() as f64);
            }
        });
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("cert lock").0.clone())
    }
}

/// The dialling side of the raft port presents the same (reloaded) certificate.
impl ResolvesClientCert for ReloadingCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("cert lock").0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> std::result::Result<(Arc<CertifiedKey>, CertInfo), String> {
    let certs = read_certs(cert_pem)?;
    let info = CertInfo::parse(&certs[0])?;
    let key = read_key(key_pem)?;
    let pair = CertifiedKey::from_der(certs, key, provider)
        .map_err(|e| format!("key and certificate do not load together: {e}"))?;
    Ok((Arc::new(pair), info))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::write_dev_pki;

    #[test]
    fn a_changed_pair_is_served_and_a_bad_one_keeps_the_old() {
        let tmp = tempfile::tempdir().unwrap();
        let a = write_dev_pki(&tmp.path().join("a")).unwrap();
        let b = write_dev_pki(&tmp.path().join("b")).unwrap();
        let files = TlsFiles {
            cert: tmp.path().join("tls.crt"),
            key: tmp.path().join("tls.key"),
            client_ca: None,
        };
        let copy = |from: &PathBuf, to: &PathBuf| std::fs::copy(from, to).map(|_| ()).unwrap();
        copy(&a.cert, &files.cert);
        copy(&a.key, &files.key);
        let cert = ReloadingCert::load(&files, crate::tls::provider()).unwrap();
        let first = cert.info();
        assert!(!cert.check(), "unchanged files are not reloaded");

        // Half-way through a rotation: the new certificate with the old key.
        copy(&b.cert, &files.cert);
        assert!(!cert.check());
        assert_eq!(
            cert.info(),
            first,
            "a key that does not match keeps the old pair"
        );
        copy(&b.key, &files.key);
        assert!(cert.check());
        let second = cert.info();
        assert_ne!(second.serial, first.serial);
        assert!(second.expires_in() > 86_400);

        std::fs::write(&files.cert, "not a certificate").unwrap();
        assert!(!cert.check());
        assert_eq!(cert.info(), second, "a broken file keeps the served pair");
        std::fs::remove_file(&files.key).unwrap();
        assert!(!cert.check(), "a missing file keeps it too");
        assert_eq!(cert.info(), second);
    }

    #[test]
    fn start_up_errors_name_the_flag_and_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: tmp.path().join("missing.crt"),
            key: tmp.path().join("missing.key"),
            client_ca: None,
        };
        let e = ReloadingCert::load(&files, crate::tls::provider())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--tls-cert") && e.contains("missing.crt"), "{e}");
        let a = write_dev_pki(&tmp.path().join("a")).unwrap();
        let b = write_dev_pki(&tmp.path().join("b")).unwrap();
        let mismatched = TlsFiles {
            cert: a.cert,
            key: b.key,
            client_ca: None,
        };
        let e = ReloadingCert::load(&mismatched, crate::tls::provider())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--tls-key") && e.contains("do not load together"),
            "{e}"
        );
    }
}

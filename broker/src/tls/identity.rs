//! Client certificates: what a client (the CLI's `--cert`/`--cert-key`, the Rust client's
//! `ClientBuilder::identity_*`) or a node calling another node's API presents to an API that
//! requires one (`--tls-client-ca`).
//!
//! The certificate and key are checked to belong together when they are loaded: a mismatch is a
//! clear configuration error, not a handshake the server refuses later.

use std::path::Path;

use base64::Engine;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::certs::{read_certs, read_key};

/// A certificate file and its key file (possibly the same file), each with what named it (a flag).
pub type IdentityFiles<'a> = ((&'a Path, &'a str), (&'a Path, &'a str));

/// A client identity from PEM text: `cert_pem` holds the certificate (leaf first, then
/// intermediates), `key_pem` its private key (PKCS#8, PKCS#1 or SEC1); both may be the same text.
pub fn identity_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<reqwest::Identity, String> {
    let certs = read_certs(cert_pem).map_err(|e| format!("client certificate: {e}"))?;
    let key = read_key(key_pem).map_err(|e| format!("client key: {e}"))?;
    identity(certs, key)
}

/// A client identity from files, each given with what named it (a flag, for errors): the
/// certificate file and the key file, which may be the same file (one PEM holding both).
pub fn identity_files(
    (cert, cert_what): (&Path, &str),
    (key, key_what): (&Path, &str),
) -> Result<reqwest::Identity, String> {
    let read =
        |p: &Path, what: &str| std::fs::read(p).map_err(|e| format!("{what} {}: {e}", p.display()));
    let cert_pem = read(cert, cert_what)?;
    let key_pem = if key == cert {
        cert_pem.clone()
    } else {
        read(key, key_what)?
    };
    let certs =
        read_certs(&cert_pem).map_err(|e| format!("{cert_what} {}: {e}", cert.display()))?;
    let key_der = read_key(&key_pem).map_err(|e| format!("{key_what} {}: {e}", key.display()))?;
    identity(certs, key_der).map_err(|e| {
        format!(
            "{cert_what} {} / {key_what} {}: {e}",
            cert.display(),
            key.display()
        )
    })
}

/// A reqwest builder that presents the certificate of `identity` (certificate file, key file) to
/// servers that ask for one; unchanged without it. Errors name the files.
pub fn presenting(
    builder: reqwest::ClientBuilder,
    identity: Option<IdentityFiles<'_>>,
) -> Result<reqwest::ClientBuilder, String> {
    match identity {
        None => Ok(builder),
        Some((cert, key)) => Ok(builder.identity(identity_files(cert, key)?)),
    }
}

fn identity(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<reqwest::Identity, String> {
    CertifiedKey::from_der(certs.clone(), key.clone_key(), &super::provider())
        .map_err(|e| format!("the key and the certificate do not belong together: {e}"))?;
    // reqwest takes one PEM text; written from what was parsed, so other sections of the files
    // (EC parameters, comments) do not trouble it.
    let mut pem = String::new();
    for c in &certs {
        push_pem(&mut pem, "CERTIFICATE", c.as_ref());
    }
    let label = match &key {
        PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
        PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
        _ => "PRIVATE KEY",
    };
    push_pem(&mut pem, label, key.secret_der());
    reqwest::Identity::from_pem(pem.as_bytes()).map_err(|e| format!("client identity: {e}"))
}

fn push_pem(out: &mut String, label: &str, der: &[u8]) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    out.push_str(&format!("-----BEGIN {label}-----\n"));
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::write_dev_pki;

    #[test]
    fn a_pair_loads_from_two_files_or_one_and_a_bad_one_names_its_file() {
        let tmp = tempfile::tempdir().unwrap();
        let a = write_dev_pki(&tmp.path().join("a")).unwrap();
        let b = write_dev_pki(&tmp.path().join("b")).unwrap();
        let (cert, key) = (a.client_cert.as_path(), a.client_key.as_path());
        identity_files((cert, "--cert"), (key, "--cert-key")).unwrap();
        let both = tmp.path().join("both.pem");
        let text = [std::fs::read(cert).unwrap(), std::fs::read(key).unwrap()].concat();
        std::fs::write(&both, &text).unwrap();
        identity_files((both.as_path(), "--cert"), (both.as_path(), "--cert")).unwrap();
        identity_pem(&text, &text).unwrap();

        let e = identity_files((cert, "--cert"), (cert, "--cert")).unwrap_err();
        assert!(
            e.starts_with("--cert ") && e.contains("no private key"),
            "{e}"
        );
        let e =
            identity_files((cert, "--cert"), (b.client_key.as_path(), "--cert-key")).unwrap_err();
        assert!(e.contains("do not belong together"), "{e}");
        let missing = tmp.path().join("missing.pem");
        let e = identity_files((missing.as_path(), "--cert"), (key, "--cert-key")).unwrap_err();
        assert!(e.starts_with("--cert ") && e.contains("missing.pem"), "{e}");
        let e = identity_files((key, "--cert"), (key, "--cert-key")).unwrap_err();
        assert!(e.contains("no certificate"), "{e}");
        let e = identity_pem(b"not pem", b"not pem").unwrap_err();
        assert!(e.contains("client certificate"), "{e}");
    }
}

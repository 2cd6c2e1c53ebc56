//! Throwaway certificates for `jumpnet dev --tls` (and tests): a CA and one certificate for
//! localhost (the API's and, as the raft port's peer certificate, every node's), and a client
//! certificate (for APIs that require one, `jumpnet dev --mtls`), written as PEM files.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Where `write_dev_pki` put the files.
#[derive(Debug, Clone)]
pub struct DevPki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A client certificate (`clientAuth` only) and its key, for `--cert`/`--cert-key`.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// How long the dev certificates are valid.
const DEV_VALIDITY: Duration = Duration::from_secs(30 * 86_400);

/// A new CA (`ca.pem`), a server certificate (`server.pem`, `server-key.pem`) for `localhost`,
/// `127.0.0.1` and `::1`, and a client certificate (`client.pem`, `client-key.pem`), in `dir`.
pub fn write_dev_pki(dir: &Path) -> Result<DevPki, String> {
    let err = |e: rcgen::Error| e.to_string();
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let not_before = epoch + now.saturating_sub(Duration::from_secs(3600));
    let not_after = epoch + now + DEV_VALIDITY;

    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Jumpnet dev CA (throwaway)");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    (ca.not_before, ca.not_after) = (not_before, not_after);
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca, ca_key);

    let mut server = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(err)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "jumpnet dev node");
    // Client too: `jumpnet dev --tls` nodes present it to each other on the raft port.
    server.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    (server.not_before, server.not_after) = (not_before, not_after);
    let key = KeyPair::generate().map_err(err)?;
    let cert = server.signed_by(&key, &issuer).map_err(err)?;

    let mut client = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    client
        .distinguished_name
        .push(DnType::CommonName, "jumpnet dev client");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    (client.not_before, client.not_after) = (not_before, not_after);
    let client_key = KeyPair::generate().map_err(err)?;
    let client_cert = client.signed_by(&client_key, &issuer).map_err(err)?;

    let pki = DevPki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client-key.pem"),
    };
    for (path, pem) in [
        (&pki.ca, ca_cert.pem()),
        (&pki.cert, cert.pem()),
        (&pki.key, key.serialize_pem()),
        (&pki.client_cert, client_cert.pem()),
        (&pki.client_key, client_key.serialize_pem()),
    ] {
        std::fs::write(path, pem).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(pki)
}

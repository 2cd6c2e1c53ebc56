//! The client's errors: what a caller of the API can meet (the node's own error type is
//! [`crate::Error`]).

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client was built without what it needs.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The API answered with an error.
    #[error("{status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// No server could be reached or the answer was unusable.
    #[error("{0}")]
    Http(String),
    /// The server's certificate was refused (unknown CA, wrong name, expired) or the TLS
    /// handshake failed: final, not retried on other nodes.
    #[error("TLS: {0}")]
    Tls(String),
    /// The outcome of a write is unknown: the connection broke after it was sent.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// A reqwest error with its causes (reqwest's own text omits them: "error sending request").
pub(super) fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// The TLS failure behind a request error, if that is what it is: the certificate check or the
/// handshake, which another try would meet again. The server's verdict on our client certificate
/// (a missing or refused one) comes as an alert: in TLS 1.3 with the first read, after the request
/// went out, but nothing was processed.
pub(super) fn tls_failure(e: &reqwest::Error) -> Option<String> {
    let r = std::error::Error::source(e).and_then(find_rustls)?;
    Some(match r {
        rustls::Error::InvalidCertificate(_) => format!(
            "the server's certificate is not trusted ({r}); pass the CA that signed it \
             (--cacert FILE or JUMPNET_CACERT)"
        ),
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired) => format!(
            "the server requires a client certificate ({r}); pass one signed by a CA it trusts \
             (--cert FILE --cert-key FILE, or JUMPNET_CERT and JUMPNET_CERT_KEY)"
        ),
        rustls::Error::AlertReceived(
            a @ (rustls::AlertDescription::BadCertificate
            | rustls::AlertDescription::UnsupportedCertificate
            | rustls::AlertDescription::CertificateRevoked
            | rustls::AlertDescription::CertificateExpired
            | rustls::AlertDescription::CertificateUnknown
            | rustls::AlertDescription::UnknownCA
            | rustls::AlertDescription::AccessDenied
            | rustls::AlertDescription::DecryptError),
        ) => format!(
            "the server refused our client certificate (received fatal alert: {a:?}); pass one \
             signed by a CA it trusts (--cert FILE --cert-key FILE)"
        ),
        other => other.to_string(),
    })
}

/// rustls' error anywhere in a chain; io errors nest it (`Other` around `InvalidData` around it)
/// and their `source()` skips it, so they are opened with `get_ref`.
fn find_rustls<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(r) = e.downcast_ref::<rustls::Error>() {
        return Some(r);
    }
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        let inner: &(dyn std::error::Error + 'static) = inner;
        if let Some(r) = find_rustls(inner) {
            return Some(r);
        }
    }
    e.source().and_then(find_rustls)
}

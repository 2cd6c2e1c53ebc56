//! SaslHandshake and SaslAuthenticate: SASL/PLAIN with the Jumpnet token as the password
//! (SPEC §5/§8). The username is informational; the token decides the principal and its roles.
//! A failed authentication is answered, then the connection is closed (as Kafka does).
//!
//! SaslHandshake v0 (Kafka before 1.0; librdkafka before 2.10 requires the broker to list it) is
//! followed by the raw SASL token in a bare frame instead of a SaslAuthenticate request: the
//! connection loop hands that frame to [`authenticate_raw`] and answers an empty frame, or closes
//! the connection on failure, as Kafka does.

use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::kafka::backend::{KafkaBackend, Principal};
use crate::kafka::session::Session;

const PLAIN: &str = "PLAIN";

pub fn handshake(
    session: &mut Session,
    req: SaslHandshakeRequest,
    version: i16,
) -> SaslHandshakeResponse {
    let ok = req.mechanism.as_str() == PLAIN;
    session.sasl_mechanism_ok = ok;
    session.raw_sasl_next = ok && version == 0;
    SaslHandshakeResponse::default()
        .with_error_code(if ok {
            0
        } else {
            ResponseError::UnsupportedSaslMechanism.code()
        })
        .with_mechanisms(vec![str_bytes(PLAIN)])
}

/// Splits a PLAIN message `authzid NUL authcid NUL password` (RFC 4616).
fn plain_password(bytes: &[u8]) -> Option<&str> {
    let mut parts = bytes.splitn(3, |b| *b == 0);
    let _authzid = parts.next()?;
    let authcid = parts.next()?;
    let password = parts.next()?;
    if authcid.is_empty() || password.is_empty() {
        return None;
    }
    std::str::from_utf8(password).ok()
}

/// Checks a PLAIN message and, when it holds a known token, authenticates the session.
fn verify<B: KafkaBackend>(
    backend: &B,
    session: &mut Session,
    auth_bytes: &[u8],
) -> Result<(), (ResponseError, &'static str)> {
    if !session.sasl_mechanism_ok {
        return Err((
            ResponseError::IllegalSaslState,
            "SaslHandshake with mechanism PLAIN must come first",
        ));
    }
    let Some(token) = plain_password(auth_bytes) else {
        return Err((
            ResponseError::SaslAuthenticationFailed,
            "malformed SASL/PLAIN message",
        ));
    };
    let principal = if backend.auth_required() {
        backend.authenticate(token)
    } else {
        Some(Principal::anonymous())
    };
    match principal {
        Some(p) => {
            session.principal = Some(p);
            session.sasl_mechanism_ok = false;
            Ok(())
        }
        None => Err((
            ResponseError::SaslAuthenticationFailed,
            "Authentication failed: invalid token",
        )),
    }
}

/// Returns the response and whether authentication succeeded.
pub fn authenticate<B: KafkaBackend>(
    backend: &B,
    session: &mut Session,
    req: SaslAuthenticateRequest,
) -> (SaslAuthenticateResponse, bool) {
    match verify(backend, session, &req.auth_bytes) {
        Ok(()) => (SaslAuthenticateResponse::default(), true),
        Err((code, msg)) => (
            SaslAuthenticateResponse::default()
                .with_error_code(code.code())
                .with_error_message(Some(str_bytes(msg))),
            false,
        ),
    }
}

/// The raw token after a v0 handshake: whether it authenticated the session (the caller answers
/// an empty frame, or closes the connection).
pub fn authenticate_raw<B: KafkaBackend>(backend: &B, session: &mut Session, token: &[u8]) -> bool {
    session.raw_sasl_next = false;
    match verify(backend, session, token) {
        Ok(()) => true,
        Err((_, msg)) => {
            tracing::info!(client = %session.client_host, reason = msg, "kafka: SASL (v0) authentication failed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::plain_password;

    #[test]
    fn plain_messages_split_into_the_password() {
        assert_eq!(plain_password(b"\0alice\0s3cret"), Some("s3cret"));
        assert_eq!(
            plain_password(b"admin\0alice\0s3cret\0x"),
            Some("s3cret\0x")
        );
        assert_eq!(plain_password(b"\0alice\0"), None);
        assert_eq!(plain_password(b"alice"), None);
    }
}

//! SaslHandshake and SaslAuthenticate: SASL/PLAIN with the Jumpnet token as the password
//! (SPEC §5/§8). The username is informational; the token decides the principal and its roles.
//! A failed authentication is answered, then the connection is closed (as Kafka does).

use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::kafka::backend::{KafkaBackend, Principal};
use crate::kafka::session::Session;

const PLAIN: &str = "PLAIN";

pub fn handshake(session: &mut Session, req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    let ok = req.mechanism.as_str() == PLAIN;
    session.sasl_mechanism_ok = ok;
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

/// Returns the response and whether authentication succeeded.
pub fn authenticate<B: KafkaBackend>(
    backend: &B,
    session: &mut Session,
    req: SaslAuthenticateRequest,
) -> (SaslAuthenticateResponse, bool) {
    let fail = |code: ResponseError, msg: &str| {
        (
            SaslAuthenticateResponse::default()
                .with_error_code(code.code())
                .with_error_message(Some(str_bytes(msg))),
            false,
        )
    };
    if !session.sasl_mechanism_ok {
        return fail(
            ResponseError::IllegalSaslState,
            "SaslHandshake with mechanism PLAIN must come first",
        );
    }
    let Some(token) = plain_password(&req.auth_bytes) else {
        return fail(
            ResponseError::SaslAuthenticationFailed,
            "malformed SASL/PLAIN message",
        );
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
            (SaslAuthenticateResponse::default(), true)
        }
        None => fail(
            ResponseError::SaslAuthenticationFailed,
            "Authentication failed: invalid token",
        ),
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

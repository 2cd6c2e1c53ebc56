//! What the listener knows about one client connection between its requests: who authenticated,
//! which SASL step it is at, and whether to close after answering. Handlers read and update it; the
//! connection loop (`conn`) owns it.

use std::net::SocketAddr;

use super::backend::Principal;

/// Per-connection state.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who is on the other end; `None` until SASL succeeds when auth is on.
    pub principal: Option<Principal>,
    /// SaslHandshake chose a mechanism we serve (PLAIN); SaslAuthenticate may follow.
    pub sasl_mechanism_ok: bool,
    /// SaslHandshake v0 chose PLAIN: the next frame is the raw SASL token (no Kafka header),
    /// answered by an empty frame on success (librdkafka before 2.10 offers v0 alongside v1).
    pub raw_sasl_next: bool,
    /// As DescribeGroups reports members' hosts.
    pub client_host: String,
    /// Answer the current request, then close (failed authentication).
    pub close_after_response: bool,
}

impl Session {
    pub fn new(peer: SocketAddr, auth_required: bool) -> Session {
        Session {
            principal: (!auth_required).then(Principal::anonymous),
            sasl_mechanism_ok: false,
            raw_sasl_next: false,
            client_host: format!("/{}", peer.ip()),
            close_after_response: false,
        }
    }
}

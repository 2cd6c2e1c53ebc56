//! The raft port's transport: length-prefixed bincode frames over persistent, authenticated TCP
//! connections. It knows nothing of what it carries: the node's messages are in
//! `cluster/rpc.rs`, openraft's network on top of it in `cluster/raft_network.rs`.
//!
//! ```text
//!  connect ─▶ "JNRAFT1\n" ─▶ ◀─ "JNRAFT1\n" + nonce_s ─▶ HMAC(secret, nonce_s) ─▶ ◀─ ok | refused
//!          ─▶ nonce_c + cluster id ─▶ ◀─ HMAC(secret, nonce_c, nonce_s, its cluster id) + ok | other cluster + cluster id
//!  then, one request at a time per connection:  u32 len | bincode(request)  ◀─▶  u32 len | bincode(response)
//! ```
//!
//! Both ends prove the secret over the other's fresh nonce (a listener at a peer's address that
//! cannot is refused, so an impostor never collects entries nor acknowledges them), and each names
//! its cluster (none yet: empty), so nodes of two clusters never talk. Until the handshake is done
//! a connection reads at most a few hundred bytes; after it, frame bodies are read as they arrive
//! (a length prefix alone allocates nothing). Frames carry no MAC: the secret authenticates the
//! connection, not each frame (an attacker on the path could still inject into one).
//!
//! With `--peer-tls-*` every connection is mutual TLS first (`tls/peer.rs`): a dialler without a
//! certificate from the peer CA is refused in the TLS handshake, and the exchange above runs
//! inside TLS (the cluster secret, when there is one, is still proven there).
//!
//! [`PeerPool`] dials (a pool of idle connections per address; peers are dialled by name on every
//! new connection, so a pod that came back with a new IP is found again; the last good answer per
//! name stands in when the resolver fails, `resolve.rs`); [`serve`] answers with a [`Handler`].

pub mod codec;
mod pool;
mod resolve;
mod server;
mod stream;

pub use pool::PeerPool;
pub use server::{serve, Handler};

/// What the pool sends.
pub trait Request: serde::Serialize + Sync {
    /// Whether sending it twice does no harm: only such requests are sent again on a fresh
    /// connection when a pooled one turns out to be dead.
    fn is_idempotent(&self) -> bool;
}

/// Why an RPC failed. `Unreachable` means nothing was sent, so retrying elsewhere is safe; after
/// `Failed` and `Timeout` the peer may or may not have acted on the request.
#[derive(Debug, thiserror::Error)]
pub enum RpcFailure {
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("{0} is an HTTP API address, not a raft address")]
    IsHttp(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("failed after sending: {0}")]
    Failed(String),
    #[error("timed out after sending")]
    Timeout,
    /// The peer answered with a message of the wrong kind (a bug, or a peer of another version).
    #[error("unexpected answer to {0}")]
    Unexpected(&'static str),
}

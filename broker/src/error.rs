//! The crate's error type. HTTP handlers map it (and their own cases) to SPEC §3 answers in
//! `api/error.rs`; the binary turns start-up errors into one line on stderr.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("storage: {source}")]
    Storage {
        #[from]
        source: sled::Error,
    },
    #[error("undecodable {what}: {source}")]
    Decode {
        what: &'static str,
        #[source]
        source: bincode::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("state dir {path}: {reason}")]
    StateDir { path: PathBuf, reason: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("raft: {0}")]
    Raft(String),
    #[error("peer {addr}: {reason}")]
    Peer { addr: String, reason: String },
    /// The API answered with an error (client side).
    #[error("{status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// No server could be reached or the answer was unusable (client side).
    #[error("{0}")]
    Http(String),
    /// The outcome of a write is unknown: the connection broke after it was sent (client side).
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn decode(what: &'static str, source: bincode::Error) -> Error {
        Error::Decode { what, source }
    }
}

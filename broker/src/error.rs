//! The node's error type: storage, configuration and start-up failures. Failures of the write path
//! are [`crate::write::WriteError`]; the client has its own [`crate::client::Error`]. HTTP
//! handlers map both node types to SPEC §3 answers in `api/error.rs` (a storage error becomes a 500
//! whose details stay in the node's log); the binary turns start-up errors into one line on stderr.

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
    /// A task on the blocking pool panicked or was cancelled.
    #[error("background task: {0}")]
    Task(#[from] tokio::task::JoinError),
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

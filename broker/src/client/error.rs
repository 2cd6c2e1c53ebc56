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
    /// The outcome of a write is unknown: the connection broke after it was sent.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

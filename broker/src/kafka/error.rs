//! Why a Kafka connection is closed. Every variant ends exactly one connection, never the node:
//! Kafka's own reaction to a frame it cannot trust is to drop that connection, and clients
//! reconnect. Errors a client can act on travel inside responses as Kafka error codes instead.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge { size: i64, max: usize },
    #[error("frame of {size} bytes is too short for a request header")]
    FrameTooShort { size: i64 },
    #[error("unknown API key {api_key}")]
    UnknownApiKey { api_key: i16 },
    #[error("{api} v{version} is not supported (supported: v{min}..=v{max})")]
    UnsupportedVersion {
        api: &'static str,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("request {api} before SASL authentication")]
    Unauthenticated { api: &'static str },
    #[error("SASL authentication failed")]
    AuthenticationFailed,
    #[error("could not encode the {api} response: {reason}")]
    Encode { api: &'static str, reason: String },
    /// acks=0 produce failed: Kafka's only way to tell such a producer is to close the connection.
    #[error("fire-and-forget produce failed: {0}")]
    AcksZeroFailed(String),
}

impl ConnError {
    /// A bounded label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnError::Io(_) => "io",
            ConnError::FrameTooLarge { .. } => "frame_too_large",
            ConnError::FrameTooShort { .. } => "frame_too_short",
            ConnError::UnknownApiKey { .. } => "unknown_api_key",
            ConnError::UnsupportedVersion { .. } => "unsupported_version",
            ConnError::Malformed { .. } => "malformed",
            ConnError::Unauthenticated { .. } => "unauthenticated",
            ConnError::AuthenticationFailed => "authentication_failed",
            ConnError::Encode { .. } => "encode",
            ConnError::AcksZeroFailed(_) => "acks0_failed",
        }
    }
}

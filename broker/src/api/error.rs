//! SPEC §3 errors: every failure is `{"error": {"code": "<snake_case>", "message": "<sentence>"}}`
//! with a fitting status (and `Retry-After` on 503).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::cluster::ClusterError;
use crate::raft::command::OpError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Extra fields for the error object (e.g. the valid offset range of a 416).
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
    pub retry_after: Option<u64>,
    pub www_authenticate: bool,
}

/// The error body, as documented in the OpenAPI document.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorObject {
    /// Stable, snake_case.
    pub code: String,
    /// For humans.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            details: None,
            retry_after: None,
            www_authenticate: false,
        }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn too_large(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, code, message)
    }

    pub fn unavailable(code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError {
            www_authenticate: true,
            ..ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
        }
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn topic_not_found(topic: &str) -> ApiError {
        ApiError::not_found("topic_not_found", format!("topic {topic:?} does not exist"))
    }

    pub fn offset_out_of_range(offset: u64, start: u64, hw: u64) -> ApiError {
        let mut d = serde_json::Map::new();
        d.insert("log_start_offset".into(), start.into());
        d.insert("high_watermark".into(), hw.into());
        ApiError {
            details: Some(d),
            ..ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "offset_out_of_range",
                format!("offset {offset} is outside the log: valid offsets are {start} to {hw}"),
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut obj = serde_json::Map::new();
        obj.insert("code".into(), self.code.into());
        obj.insert("message".into(), self.message.into());
        if let Some(d) = self.details {
            obj.extend(d);
        }
        let body = serde_json::json!({ "error": obj });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.www_authenticate {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"jumpnet\""),
            );
        }
        resp
    }
}

impl From<ClusterError> for ApiError {
    fn from(e: ClusterError) -> ApiError {
        match e {
            ClusterError::NoLeader => ApiError::unavailable("no_leader", e.to_string()),
            ClusterError::NoQuorum => ApiError::unavailable("no_quorum", e.to_string()),
            ClusterError::NotLeader { .. } => {
                ApiError::unavailable("no_leader", "leadership is changing; retry")
            }
            ClusterError::Unavailable(m) => ApiError::unavailable("unavailable", m),
            ClusterError::Timeout(m) => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "commit_timeout", m)
            }
            ClusterError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, &code, message)
            }
            ClusterError::NotFound { code, message } => ApiError::not_found(&code, message),
            ClusterError::Invalid { code, message } => ApiError::bad_request(&code, message),
            ClusterError::Internal(m) => ApiError::internal(m),
        }
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> ApiError {
        match e {
            OpError::TopicNotFound { topic } => ApiError::topic_not_found(&topic),
            OpError::TopicExists { .. } => {
                ApiError::new(StatusCode::CONFLICT, "topic_exists", e.to_string())
            }
            OpError::OffsetOutOfRange {
                offset,
                log_start_offset,
                high_watermark,
            } => ApiError::offset_out_of_range(offset, log_start_offset, high_watermark),
            OpError::SequenceTooOld { .. } => {
                ApiError::new(StatusCode::CONFLICT, "sequence_too_old", e.to_string())
            }
        }
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> ApiError {
        tracing::error!(error = %e, "request failed on a storage error");
        ApiError::internal(format!("storage error: {e}"))
    }
}

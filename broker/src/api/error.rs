//! SPEC §3 errors: every failure is `{"error": {"code": "<snake_case>", "message": "<sentence>"}}`
//! with a fitting status (and `Retry-After` on 503). [`ApiError`] is built by the handlers and
//! converted from the node's two error types: a [`WriteError`] is mapped here, once, and a
//! storage [`crate::Error`] becomes a 500 that tells the client nothing internal.
//!
//! Conversions have no side effects: the response carries a [`Failure`] extension that the
//! request middleware logs (axum's `error-handling` example).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::code::Code;
use crate::command::OpError;
use crate::write::{MembershipError, WriteError};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Code,
    /// For the client.
    pub message: String,
    /// Extra fields for the error object (e.g. the valid offset range of a 416).
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
    pub retry_after: Option<u64>,
    pub www_authenticate: bool,
    /// For the node's log only (a 500's real cause).
    pub cause: Option<String>,
}

/// What the middleware logs about a failed request.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: Code,
    pub message: String,
    pub cause: Option<String>,
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
    pub fn new(status: StatusCode, code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
            www_authenticate: false,
            cause: None,
        }
    }

    pub fn bad_request(code: Code, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: Code, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: Code, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    pub fn too_large(code: Code, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, code, message)
    }

    /// 503 with `Retry-After`: nothing was done; retry.
    pub fn unavailable(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }

    /// 500: the client learns nothing internal; `cause` goes to the node's log.
    pub fn internal(cause: impl Into<String>) -> ApiError {
        ApiError {
            cause: Some(cause.into()),
            ..ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::Internal,
                "internal error; the node's log has the details",
            )
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError {
            www_authenticate: true,
            ..ApiError::new(StatusCode::UNAUTHORIZED, Code::Unauthorized, message)
        }
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, Code::Forbidden, message)
    }

    pub fn topic_not_found(topic: &str) -> ApiError {
        ApiError::not_found(
            Code::TopicNotFound,
            format!("topic {topic:?} does not exist"),
        )
    }

    pub fn offset_out_of_range(offset: u64, start: u64, hw: u64) -> ApiError {
        let mut d = serde_json::Map::new();
        d.insert("log_start_offset".into(), start.into());
        d.insert("high_watermark".into(), hw.into());
        ApiError {
            details: Some(d),
            ..ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                Code::OffsetOutOfRange,
                format!("offset {offset} is outside the log: valid offsets are {start} to {hw}"),
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut obj = serde_json::Map::new();
        obj.insert("code".into(), self.code.as_str().into());
        obj.insert("message".into(), self.message.clone().into());
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
        resp.extensions_mut().insert(Failure {
            code: self.code,
            message: self.message,
            cause: self.cause,
        });
        resp
    }
}

/// The one mapping of the write path's failures to HTTP.
impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> ApiError {
        let message = e.to_string();
        match e {
            WriteError::NoLeader => ApiError::unavailable(Code::NoLeader, message),
            WriteError::NoQuorum => ApiError::unavailable(Code::NoQuorum, message),
            WriteError::NotLeader { .. } => {
                ApiError::unavailable(Code::NoLeader, "leadership is changing; retry")
            }
            WriteError::Unavailable(_) => ApiError::unavailable(Code::Unavailable, message),
            WriteError::Timeout(_) => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, Code::CommitTimeout, message)
            }
            WriteError::Op(e) => e.into(),
            WriteError::Membership(e) => e.into(),
            WriteError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> ApiError {
        let message = e.to_string();
        match e {
            OpError::TopicNotFound { topic } => ApiError::topic_not_found(&topic),
            OpError::TopicExists { .. } => ApiError::conflict(Code::TopicExists, message),
            OpError::OffsetOutOfRange {
                offset,
                log_start_offset,
                high_watermark,
            } => ApiError::offset_out_of_range(offset, log_start_offset, high_watermark),
            OpError::SequenceTooOld { .. } => ApiError::conflict(Code::SequenceTooOld, message),
            OpError::ProducerFenced { .. } => ApiError::conflict(Code::ProducerFenced, message),
            // Only publishes from the Kafka listener follow Kafka's sequence rules; the HTTP API
            // never sends one, so this is here for completeness.
            OpError::OutOfOrderSequence { .. } => ApiError::conflict(Code::SequenceTooOld, message),
            // The claim was refused, nothing stored: another call of the same consumer won.
            OpError::ConsumerMoved { .. } => ApiError::unavailable(Code::Unavailable, message),
            OpError::GroupNotFound { .. } => ApiError::not_found(Code::GroupNotFound, message),
            OpError::NotDelivered { .. } => ApiError::bad_request(Code::NotDelivered, message),
            OpError::PartitionNotFound { .. } => {
                ApiError::bad_request(Code::InvalidPartition, message)
            }
            OpError::InvalidPartitions { .. } => {
                ApiError::bad_request(Code::InvalidPartitions, message)
            }
        }
    }
}

impl From<MembershipError> for ApiError {
    fn from(e: MembershipError) -> ApiError {
        let message = e.to_string();
        let conflict = |code| ApiError::conflict(code, message.clone());
        match e {
            MembershipError::MemberExists { .. } => conflict(Code::MemberExists),
            MembershipError::AddressInUse { .. } => conflict(Code::AddressInUse),
            MembershipError::LearnerLagging { .. } => conflict(Code::LearnerLagging),
            MembershipError::LastVoter { .. } => conflict(Code::LastVoter),
            MembershipError::AlreadyInitialized { .. } => conflict(Code::AlreadyInitialized),
            MembershipError::IncarnationMismatch { .. } => conflict(Code::IncarnationMismatch),
            MembershipError::Refused(_) => conflict(Code::MembershipChange),
            MembershipError::NotAMember { .. } => conflict(Code::NotAMember),
            MembershipError::HasQuorum { .. } => conflict(Code::HasQuorum),
            MembershipError::UnknownMember { .. } => {
                ApiError::not_found(Code::UnknownMember, message)
            }
            MembershipError::NotAVoter { .. } => ApiError::bad_request(Code::NotAVoter, message),
        }
    }
}

impl From<crate::cluster::restart::RestoreError> for ApiError {
    fn from(e: crate::cluster::restart::RestoreError) -> ApiError {
        use crate::cluster::restart::RestoreError;
        let message = e.to_string();
        match e {
            RestoreError::Invalid(_) => ApiError::bad_request(Code::InvalidSnapshot, message),
            RestoreError::Fetch(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, Code::RestoreFetchFailed, message)
            }
            RestoreError::Write(e) => e.into(),
        }
    }
}

/// A storage failure: 500, details only in the log.
impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> ApiError {
        ApiError::internal(format!("storage error: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(e: impl Into<ApiError>) -> (u16, &'static str, bool) {
        let e = e.into();
        (e.status.as_u16(), e.code.as_str(), e.retry_after.is_some())
    }

    #[test]
    fn write_errors_map_to_spec_statuses_and_codes() {
        use MembershipError as M;
        let table: Vec<(WriteError, (u16, &str, bool))> = vec![
            (WriteError::NoLeader, (503, "no_leader", true)),
            (WriteError::NoQuorum, (503, "no_quorum", true)),
            (
                WriteError::NotLeader { leader: Some(2) },
                (503, "no_leader", true),
            ),
            (
                WriteError::Unavailable("x".into()),
                (503, "unavailable", true),
            ),
            (
                WriteError::Timeout("x".into()),
                (504, "commit_timeout", false),
            ),
            (WriteError::Internal("x".into()), (500, "internal", false)),
            (
                OpError::TopicNotFound { topic: "t".into() }.into(),
                (404, "topic_not_found", false),
            ),
            (
                OpError::TopicExists { topic: "t".into() }.into(),
                (409, "topic_exists", false),
            ),
            (
                OpError::OffsetOutOfRange {
                    offset: 9,
                    log_start_offset: 1,
                    high_watermark: 3,
                }
                .into(),
                (416, "offset_out_of_range", false),
            ),
            (
                OpError::SequenceTooOld {
                    producer_id: "p".into(),
                    sequence: 1,
                    last: 2,
                }
                .into(),
                (409, "sequence_too_old", false),
            ),
            (
                OpError::ProducerFenced {
                    producer_id: "p".into(),
                    epoch: 1,
                    current: 2,
                }
                .into(),
                (409, "producer_fenced", false),
            ),
            (
                M::MemberExists {
                    id: 1,
                    existing: "a".into(),
                }
                .into(),
                (409, "member_exists", false),
            ),
            (
                M::AddressInUse {
                    other: 1,
                    raft_addr: "a".into(),
                }
                .into(),
                (409, "address_in_use", false),
            ),
            (
                M::UnknownMember { id: 1 }.into(),
                (404, "unknown_member", false),
            ),
            (
                M::LearnerLagging {
                    id: 1,
                    behind: None,
                }
                .into(),
                (409, "learner_lagging", false),
            ),
            (M::LastVoter { id: 1 }.into(), (409, "last_voter", false)),
            (M::NotAVoter { id: 1 }.into(), (400, "not_a_voter", false)),
            (
                M::AlreadyInitialized { cluster_id: None }.into(),
                (409, "already_initialized", false),
            ),
            (
                M::Refused("x".into()).into(),
                (409, "membership_change", false),
            ),
            (
                M::IncarnationMismatch {
                    id: 1,
                    recorded: "a".into(),
                    given: "b".into(),
                }
                .into(),
                (409, "incarnation_mismatch", false),
            ),
        ];
        for (e, expected) in table {
            assert_eq!(mapped(e.clone()), expected, "{e:?}");
        }
    }

    #[test]
    fn internal_failures_tell_the_client_nothing_and_the_log_everything() {
        let e: ApiError = crate::Error::Config("secret path /x/y".into()).into();
        assert!(!e.message.contains("/x/y"));
        let resp = e.into_response();
        assert_eq!(resp.status(), 500);
        let f = resp
            .extensions()
            .get::<Failure>()
            .expect("failure extension");
        assert!(f.cause.as_deref().unwrap().contains("/x/y"));

        let e: ApiError = WriteError::Internal("apply disagreed".into()).into();
        assert!(!e.message.contains("apply"));
    }

    #[test]
    fn a_416_names_the_valid_range() {
        let e = ApiError::offset_out_of_range(9, 1, 3);
        let d = e.details.unwrap();
        assert_eq!(
            (d["log_start_offset"].as_u64(), d["high_watermark"].as_u64()),
            (Some(1), Some(3))
        );
    }
}

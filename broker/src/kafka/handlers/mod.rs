//! Request dispatch: decode the body with the crate's generated codec at the request's version,
//! run the API's handler, encode the response at the same version. Handlers never fail the
//! connection for a client-level problem: they answer Kafka error codes.

pub mod admin;
pub mod api_versions;
pub mod fetch;
pub mod groups;
pub mod list_offsets;
pub mod metadata;
pub mod offsets;
pub mod produce;
pub mod producer_id;
pub mod sasl;

use bytes::Bytes;
use futures::future::BoxFuture;
use kafka_protocol::messages::{ApiKey, BrokerId, GroupId, RequestHeader, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::backend::{BackendError, KafkaBackend, Principal};
use super::error::ConnError;
use super::frame::{self, RawRequest};
use super::session::Session;
use super::{versions, KafkaServer};

/// What a handler sees of its request's surroundings.
pub struct Ctx<'a, B> {
    pub server: &'a KafkaServer<B>,
    pub session: &'a Session,
    pub header: &'a RequestHeader,
    pub api: ApiKey,
    pub version: i16,
}

impl<B: KafkaBackend> Ctx<'_, B> {
    pub fn backend(&self) -> &B {
        &self.server.backend
    }

    pub fn principal(&self) -> &Principal {
        // dispatch lets no request but the SASL ones through without a principal
        static NOBODY: std::sync::OnceLock<Principal> = std::sync::OnceLock::new();
        self.session.principal.as_ref().unwrap_or_else(|| {
            NOBODY.get_or_init(|| Principal {
                name: String::new(),
                publish: false,
                consume: false,
                admin: false,
            })
        })
    }

    pub fn client_id(&self) -> String {
        self.header
            .client_id
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default()
    }

    /// The wire code of an outcome, counted in `jumpnet_kafka_request_errors_total`.
    pub fn code(&self, error: Option<ResponseError>) -> i16 {
        count_error(self.server, self.api, error)
    }
}

/// The wire code of an outcome of an `api` request, counted in `jumpnet_kafka_request_errors_total`.
pub fn count_error<B>(server: &KafkaServer<B>, api: ApiKey, error: Option<ResponseError>) -> i16 {
    match error {
        None => 0,
        Some(e) => {
            server
                .metrics
                .errors
                .with_label_values(&[versions::name(api), error_label(e)])
                .inc();
            e.code()
        }
    }
}

/// A request's answer: its response now (`None`: no response), or later — a Produce whose
/// batches are queued, answered once they are committed (`conn` keeps several in flight).
pub enum Reply<'s> {
    Now(Option<Bytes>),
    Later(BoxFuture<'s, Result<Option<Bytes>, ConnError>>),
}

impl std::fmt::Debug for Reply<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Now(b) => f.debug_tuple("Now").field(b).finish(),
            Reply::Later(_) => f.write_str("Later(..)"),
        }
    }
}

impl Reply<'_> {
    /// The response, awaiting a queued Produce's commits.
    pub async fn bytes(self) -> Result<Option<Bytes>, ConnError> {
        match self {
            Reply::Now(b) => Ok(b),
            Reply::Later(f) => f.await,
        }
    }
}

/// A bounded label for an error code (the codes Jumpnet answers; anything else is "other").
fn error_label(e: ResponseError) -> &'static str {
    use ResponseError as E;
    match e {
        E::UnknownTopicOrPartition => "unknown_topic_or_partition",
        E::NotLeaderOrFollower => "not_leader_or_follower",
        E::LeaderNotAvailable => "leader_not_available",
        E::NotCoordinator => "not_coordinator",
        E::CoordinatorNotAvailable => "coordinator_not_available",
        E::RequestTimedOut => "request_timed_out",
        E::OffsetOutOfRange => "offset_out_of_range",
        E::CorruptMessage => "corrupt_message",
        E::InvalidRecord => "invalid_record",
        E::MessageTooLarge => "message_too_large",
        E::OutOfOrderSequenceNumber => "out_of_order_sequence_number",
        E::InvalidProducerEpoch => "invalid_producer_epoch",
        E::UnknownProducerId => "unknown_producer_id",
        E::TransactionalIdAuthorizationFailed => "transactional_id_authorization_failed",
        E::TopicAuthorizationFailed => "topic_authorization_failed",
        E::GroupAuthorizationFailed => "group_authorization_failed",
        E::ClusterAuthorizationFailed => "cluster_authorization_failed",
        E::SaslAuthenticationFailed => "sasl_authentication_failed",
        E::UnknownMemberId => "unknown_member_id",
        E::IllegalGeneration => "illegal_generation",
        E::RebalanceInProgress => "rebalance_in_progress",
        E::MemberIdRequired => "member_id_required",
        E::TopicAlreadyExists => "topic_already_exists",
        E::InvalidPartitions => "invalid_partitions",
        E::InvalidConfig => "invalid_config",
        _ => "other",
    }
}

/// The Kafka error for a backend error on a partition-level request (produce, fetch, admin).
pub fn partition_error(e: &BackendError) -> ResponseError {
    use BackendError as B;
    use ResponseError as E;
    match e {
        B::UnknownTopicOrPartition => E::UnknownTopicOrPartition,
        B::TopicAlreadyExists => E::TopicAlreadyExists,
        B::InvalidTopic(_) => E::InvalidTopicException,
        B::InvalidPartitions(_) => E::InvalidPartitions,
        B::InvalidConfig(_) => E::InvalidConfig,
        B::NotLeader { .. } | B::NoLeader => E::NotLeaderOrFollower,
        B::Timeout => E::RequestTimedOut,
        B::OffsetOutOfRange { .. } => E::OffsetOutOfRange,
        B::OutOfOrderSequence => E::OutOfOrderSequenceNumber,
        B::InvalidProducerEpoch => E::InvalidProducerEpoch,
        B::UnknownProducerId => E::UnknownProducerId,
        B::RecordTooLarge(_) => E::MessageTooLarge,
        B::BatchTooLarge(_) => E::RecordListTooLarge,
        B::InvalidRecord(_) => E::InvalidRecord,
        B::Storage(_) => E::KafkaStorageError,
        B::Internal(_) => E::UnknownServerError,
    }
}

/// The Kafka error for a backend error on a group-level request (offsets, producer ids).
pub fn coordinator_error(e: &BackendError) -> ResponseError {
    match e {
        BackendError::NotLeader { .. } => ResponseError::NotCoordinator,
        BackendError::NoLeader => ResponseError::CoordinatorNotAvailable,
        other => partition_error(other),
    }
}

pub fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

pub fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

pub fn group_id(s: &str) -> GroupId {
    GroupId(str_bytes(s))
}

pub fn broker(id: i32) -> BrokerId {
    BrokerId(id)
}

/// Routes one request to its handler. A Produce returns once its batches are queued, with its
/// response to await ([`Reply::Later`]); every other request is answered before it returns.
pub async fn dispatch<'s, B: KafkaBackend>(
    server: &'s KafkaServer<B>,
    session: &mut Session,
    raw: RawRequest,
) -> Result<Reply<'s>, ConnError> {
    let RawRequest {
        api,
        header,
        body,
        version_unsupported,
    } = raw;
    let version = header.request_api_version;
    let correlation = header.correlation_id;
    if session.principal.is_none()
        && !matches!(
            api,
            ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
        )
    {
        return Err(ConnError::Unauthenticated {
            api: versions::name(api),
        });
    }
    if version_unsupported {
        let resp = api_versions::unsupported_version();
        return frame::encode_response(api, 0, correlation, &resp, 0).map(|b| Reply::Now(Some(b)));
    }
    let header_version = api.response_header_version(version);
    macro_rules! body {
        () => {
            frame::decode_body(api, body, version)?
        };
    }
    macro_rules! answer {
        ($resp:expr) => {
            frame::encode_response(api, header_version, correlation, &$resp, version)
                .map(|b| Reply::Now(Some(b)))
        };
    }
    match api {
        ApiKey::SaslHandshake => answer!(sasl::handshake(session, body!(), version)),
        ApiKey::SaslAuthenticate => {
            let (resp, ok) = sasl::authenticate(server.backend.as_ref(), session, body!());
            // Kafka sends the failure, then closes the connection.
            session.close_after_response = !ok;
            answer!(resp)
        }
        _ => {
            let ctx = Ctx {
                server,
                session,
                header: &header,
                api,
                version,
            };
            match api {
                ApiKey::ApiVersions => answer!(api_versions::handle(&ctx)),
                ApiKey::Metadata => answer!(metadata::handle(&ctx, body!()).await),
                ApiKey::Produce => {
                    let response = produce::queue(server, &ctx, body!()).await;
                    Ok(Reply::Later(Box::pin(async move {
                        match response.await? {
                            Some(r) => frame::encode_response(
                                api,
                                header_version,
                                correlation,
                                &r,
                                version,
                            )
                            .map(Some),
                            None => Ok(None),
                        }
                    })))
                }
                ApiKey::Fetch => answer!(fetch::handle(&ctx, body!()).await),
                ApiKey::ListOffsets => answer!(list_offsets::handle(&ctx, body!()).await),
                ApiKey::FindCoordinator => answer!(groups::find_coordinator(&ctx, body!())),
                ApiKey::JoinGroup => answer!(groups::join(&ctx, body!()).await),
                ApiKey::SyncGroup => answer!(groups::sync(&ctx, body!()).await),
                ApiKey::Heartbeat => answer!(groups::heartbeat(&ctx, body!())),
                ApiKey::LeaveGroup => answer!(groups::leave(&ctx, body!())),
                ApiKey::ListGroups => answer!(groups::list(&ctx, body!()).await),
                ApiKey::DescribeGroups => answer!(groups::describe(&ctx, body!()).await),
                ApiKey::OffsetCommit => answer!(offsets::commit(&ctx, body!()).await),
                ApiKey::OffsetFetch => answer!(offsets::fetch(&ctx, body!()).await),
                ApiKey::InitProducerId => answer!(producer_id::handle(&ctx, body!()).await),
                ApiKey::CreateTopics => answer!(admin::create_topics(&ctx, body!()).await),
                ApiKey::DeleteTopics => answer!(admin::delete_topics(&ctx, body!()).await),
                ApiKey::CreatePartitions => answer!(admin::create_partitions(&ctx, body!()).await),
                ApiKey::DescribeConfigs => answer!(admin::describe_configs(&ctx, body!())),
                // parse_request admits only the APIs of versions::SUPPORTED, all routed above.
                other => Err(ConnError::UnknownApiKey {
                    api_key: other as i16,
                }),
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

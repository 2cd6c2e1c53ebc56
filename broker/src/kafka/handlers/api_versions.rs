//! ApiVersions: the table of [`crate::kafka::versions`].

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::ResponseError;

use super::Ctx;
use crate::kafka::backend::KafkaBackend;
use crate::kafka::versions::SUPPORTED;

fn table() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .map(|&(api, min, max)| {
            ApiVersion::default()
                .with_api_key(api as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}

pub fn handle<B: KafkaBackend>(_ctx: &Ctx<'_, B>) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(table())
}

/// KIP-511: the answer (encoded as v0) to an ApiVersions newer than ours, so the client retries
/// with a version from the table.
pub fn unsupported_version() -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(table())
}

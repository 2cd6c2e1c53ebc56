//! The APIs and version ranges this listener advertises (ApiVersions) and accepts.
//!
//! Each range is the crate's generated range cut to what the handlers implement. The columns on
//! the right are the versions each client actually used against this table (observed by
//! tests/kafka, see target/kafka-negotiated-versions.txt; a client takes the highest version both
//! sides know, so "= ours" means the client would go higher and our cap decides). `—` = not
//! exercised by that client's tests.
//!
//! | API | ours | librdkafka 2.0/2.16 | kafka-python 3.0 | KafkaJS 2.2 | why we stop there |
//! |---|---|---|---|---|---|
//! | Produce | 3–9 | 9 | 9 | 7 | v10+ adds KIP-951 leader hints, v13 topic ids |
//! | Fetch | 4–12 | 12 | 12 | 11 | v13+ addresses topics by id only |
//! | ListOffsets | 1–6 | 6 | 6 | 3 | v7+ needs max-timestamp lookups |
//! | Metadata | 0–12 | 12 | 12 | 6 | v13 only adds a top-level error |
//! | OffsetCommit | 2–8 | 8 | 8 | 5 | v9+ is KIP-848's member epoch |
//! | OffsetFetch | 1–8 | 8 | 8 | 4 | v9+ is KIP-848's member epoch |
//! | FindCoordinator | 0–4 | 2 | 4 | 2 | all |
//! | JoinGroup | 0–9 | 5 | 7 | 5 | all |
//! | Heartbeat | 0–4 | 3 | — | 3 | all |
//! | LeaveGroup | 0–5 | 1 | 5 | 3 | all |
//! | SyncGroup | 0–5 | 3 | 5 | 3 | all |
//! | DescribeGroups | 0–5 | 5 | — | — | v6 adds KIP-1043 errors |
//! | ListGroups | 0–4 | 4 | 4 | 2 | v5 adds group types (KIP-848) |
//! | SaslHandshake | 0–1 | 1 | 1 | 1 | v0 (then the raw token in a bare frame) too: librdkafka before 2.10 (Debian's kcat: 2.0) requires the broker to list v0 before it does any SASL |
//! | ApiVersions | 0–3 | 3 | 3 (tries 4: KIP-511) | 2 | newer versions get our table with UNSUPPORTED_VERSION |
//! | CreateTopics | 2–7 | 4 | 7 | 3 | all (v0–1 removed in Kafka 4) |
//! | DeleteTopics | 1–6 | 4 | 6 | 1 | all |
//! | InitProducerId | 0–4 | 4 | 4 | 1 | v5+ is KIP-890 (transactions) |
//! | DescribeConfigs | 1–4 | 1 | 4 | 2 | all |
//! | SaslAuthenticate | 0–2 | 1 | 2 | 1 | all |
//! | CreatePartitions | 0–3 | 2 | 3 | 1 | all |
//!
//! The Java client 3.x knows every version up to its Kafka release and negotiates the same way;
//! it is not runnable here (no Maven registry), so its compatibility rests on these ranges (all
//! inside Kafka 3.x's own) and on the three clients above. Transactions (AddPartitionsToTxn,
//! EndTxn, ...), KIP-848 consumer groups and OffsetForLeaderEpoch are not advertised: clients see
//! them as unsupported instead of hanging on them (the Java consumer and librdkafka skip
//! leader-epoch validation when OffsetForLeaderEpoch is absent).

use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::VersionRange;

/// Every served API with its range.
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 6),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 8),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
];

/// The range served for a raw API key, or `None` when the key is not served.
pub fn supported(api_key: i16) -> Option<VersionRange> {
    SUPPORTED
        .iter()
        .find(|(k, _, _)| *k as i16 == api_key)
        .map(|&(_, min, max)| VersionRange { min, max })
}

/// The API's name as Kafka spells it: a bounded metric label.
pub fn name(api: ApiKey) -> &'static str {
    match api {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::OffsetCommit => "OffsetCommit",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::JoinGroup => "JoinGroup",
        ApiKey::Heartbeat => "Heartbeat",
        ApiKey::LeaveGroup => "LeaveGroup",
        ApiKey::SyncGroup => "SyncGroup",
        ApiKey::DescribeGroups => "DescribeGroups",
        ApiKey::ListGroups => "ListGroups",
        ApiKey::SaslHandshake => "SaslHandshake",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::SaslAuthenticate => "SaslAuthenticate",
        ApiKey::CreatePartitions => "CreatePartitions",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::Message;

    /// Every advertised range lies inside what the generated codecs implement, for request and
    /// response alike (so no advertised version can fail to decode or encode).
    #[test]
    fn advertised_ranges_are_inside_the_codecs() {
        fn check<Req: Message, Resp: Message>(api: ApiKey) {
            let r = supported(api as i16).unwrap();
            for v in [Req::VERSIONS, Resp::VERSIONS] {
                assert!(v.min <= r.min && r.max <= v.max, "{api:?} {r} outside {v}");
            }
            assert_ne!(name(api), "other");
        }
        check::<ProduceRequest, ProduceResponse>(ApiKey::Produce);
        check::<FetchRequest, FetchResponse>(ApiKey::Fetch);
        check::<ListOffsetsRequest, ListOffsetsResponse>(ApiKey::ListOffsets);
        check::<MetadataRequest, MetadataResponse>(ApiKey::Metadata);
        check::<OffsetCommitRequest, OffsetCommitResponse>(ApiKey::OffsetCommit);
        check::<OffsetFetchRequest, OffsetFetchResponse>(ApiKey::OffsetFetch);
        check::<FindCoordinatorRequest, FindCoordinatorResponse>(ApiKey::FindCoordinator);
        check::<JoinGroupRequest, JoinGroupResponse>(ApiKey::JoinGroup);
        check::<HeartbeatRequest, HeartbeatResponse>(ApiKey::Heartbeat);
        check::<LeaveGroupRequest, LeaveGroupResponse>(ApiKey::LeaveGroup);
        check::<SyncGroupRequest, SyncGroupResponse>(ApiKey::SyncGroup);
        check::<DescribeGroupsRequest, DescribeGroupsResponse>(ApiKey::DescribeGroups);
        check::<ListGroupsRequest, ListGroupsResponse>(ApiKey::ListGroups);
        check::<SaslHandshakeRequest, SaslHandshakeResponse>(ApiKey::SaslHandshake);
        check::<ApiVersionsRequest, ApiVersionsResponse>(ApiKey::ApiVersions);
        check::<CreateTopicsRequest, CreateTopicsResponse>(ApiKey::CreateTopics);
        check::<DeleteTopicsRequest, DeleteTopicsResponse>(ApiKey::DeleteTopics);
        check::<InitProducerIdRequest, InitProducerIdResponse>(ApiKey::InitProducerId);
        check::<DescribeConfigsRequest, DescribeConfigsResponse>(ApiKey::DescribeConfigs);
        check::<SaslAuthenticateRequest, SaslAuthenticateResponse>(ApiKey::SaslAuthenticate);
        check::<CreatePartitionsRequest, CreatePartitionsResponse>(ApiKey::CreatePartitions);
        assert_eq!(SUPPORTED.len(), 21);
    }
}

//! The stable error codes of the HTTP API (`{"error": {"code": ...}}`, SPEC §3). Clients and the
//! operator match them, so a code never changes meaning; `docs/broker-contract.md` lists them all
//! (a test keeps the list complete).

use serde::Serialize;

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident = $s:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $s,)*
                }
            }
        }
    };
}

codes! {
    // 400: the request is malformed; nothing was done.
    /// The body is not JSON, or not one JSON value.
    MalformedJson = "malformed_json",
    /// A field of the body has the wrong type or value.
    InvalidField = "invalid_field",
    /// A query parameter is malformed.
    InvalidQuery = "invalid_query",
    /// A path parameter is malformed (e.g. a member id that is not a number).
    InvalidPath = "invalid_path",
    InvalidHeader = "invalid_header",
    /// The body could not be read.
    BadBody = "bad_body",
    InvalidTopic = "invalid_topic",
    InvalidConsumer = "invalid_consumer",
    /// A consumer group name that is empty, too long or has control characters.
    InvalidGroup = "invalid_group",
    /// A partition count below the topic's (counts are raise-only), or 0.
    InvalidPartitions = "invalid_partitions",
    /// A partition the topic does not have.
    InvalidPartition = "invalid_partition",
    /// A publish without messages.
    EmptyBatch = "empty_batch",
    /// A backup to restore from that is unreadable, damaged or of an unknown format.
    InvalidSnapshot = "invalid_snapshot",
    /// A transfer to a member that is not a voter.
    NotAVoter = "not_a_voter",
    // 401, 403
    Unauthorized = "unauthorized",
    Forbidden = "forbidden",
    // 404
    /// No such route.
    NotFound = "not_found",
    TopicNotFound = "topic_not_found",
    UnknownMember = "unknown_member",
    /// A named consumer without a position on that topic.
    ConsumerNotFound = "consumer_not_found",
    /// A consumer group that does not exist (`GET`, ack, nack).
    GroupNotFound = "group_not_found",
    /// An ack or nack of a message the group never delivered (400).
    NotDelivered = "not_delivered",
    // 405
    MethodNotAllowed = "method_not_allowed",
    // 409: refused; nothing changed.
    TopicExists = "topic_exists",
    /// A new named consumer position on a topic that holds `--max-consumers-per-topic` already.
    TooManyConsumers = "too_many_consumers",
    /// A producer's sequence older than the ones the broker remembers.
    SequenceTooOld = "sequence_too_old",
    /// A producer epoch older than the newest the broker stored for that producer id.
    ProducerFenced = "producer_fenced",
    AlreadyInitialized = "already_initialized",
    MemberExists = "member_exists",
    AddressInUse = "address_in_use",
    /// The member with that id has another incarnation (its state dir was replaced).
    IncarnationMismatch = "incarnation_mismatch",
    /// A promotion of a learner that is not caught up yet; retry.
    LearnerLagging = "learner_lagging",
    LastVoter = "last_voter",
    /// A forced recovery on a node that still has a leader backed by a live quorum.
    HasQuorum = "has_quorum",
    /// A forced recovery on a node that belongs to no cluster.
    NotAMember = "not_a_member",
    /// Raft refused a membership change (another one in progress).
    MembershipChange = "membership_change",
    // 413
    MessageTooLarge = "message_too_large",
    RequestTooLarge = "request_too_large",
    // 416
    OffsetOutOfRange = "offset_out_of_range",
    // 500: a bug or a storage failure; the details are in the node's log.
    Internal = "internal",
    // 502
    /// The backup to restore from could not be downloaded; nothing changed, retry.
    RestoreFetchFailed = "restore_fetch_failed",
    // 503: nothing was stored; retry (anywhere).
    NoLeader = "no_leader",
    /// A leader cut off from the majority.
    NoQuorum = "no_quorum",
    Unavailable = "unavailable",
    /// The node is stopping.
    ShuttingDown = "shutting_down",
    /// `/readyz`.
    NotReady = "not_ready",
    // 504: the outcome is unknown.
    CommitTimeout = "commit_timeout",
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn codes_are_distinct_snake_case_and_listed_in_the_broker_contract() {
        let doc = include_str!("../../../docs/broker-contract.md");
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
            assert!(
                doc.contains(&format!("`{s}`")),
                "docs/broker-contract.md does not list `{s}`"
            );
        }
    }
}

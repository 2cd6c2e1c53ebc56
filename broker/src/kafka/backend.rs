//! The one seam between the Kafka listener and the rest of the broker.
//!
//! The listener speaks Kafka; everything it needs from Jumpnet goes through [`KafkaBackend`]. The
//! trait states what Jumpnet provides once partitions exist: **one Raft group orders everything**,
//! a partition is a data-model concept (topic + index, offsets counted per partition), the node
//! that can commit is the leader of every partition and the group coordinator, and any node
//! accepts a write and forwards it to that leader. So:
//!
//! - writes ([`KafkaBackend::produce`], topic admin, offset commits, producer ids) are answered
//!   only after a quorum committed them, from whichever node the client reached;
//! - reads ([`KafkaBackend::fetch`], [`KafkaBackend::list_offset`], committed offsets) come from
//!   the node's own applied state and never show uncommitted data;
//! - [`KafkaBackend::subscribe`] is the long-poll wake-up: subscribe *before* reading, then await
//!   a change, so nothing appended between the read and the wait is missed.
//!
//! Values are bytes (Kafka's records are binary); headers keep their order and may repeat.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

/// A Kafka broker id: the Raft node id (it must fit an `i32`).
pub type BrokerId = i32;

/// One member as Kafka clients must reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: BrokerId,
    /// The advertised Kafka host (`--advertise-kafka`), never a wildcard address.
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

/// The cluster as this node sees it right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    pub cluster_id: String,
    /// This node's id.
    pub this_node: BrokerId,
    /// Every member that serves Kafka (voters and learners).
    pub brokers: Vec<BrokerInfo>,
    /// The node that can commit: leader of every partition and the group coordinator.
    pub leader: Option<BrokerId>,
    /// Raft term of that leadership; Kafka's leader epoch (it only grows).
    pub leader_epoch: i32,
    /// Nodes holding every committed entry (Kafka's replicas).
    pub replicas: Vec<BrokerId>,
    /// Replicas caught up with the leader (Kafka's ISR).
    pub in_sync: Vec<BrokerId>,
}

impl ClusterView {
    pub fn is_leader(&self) -> bool {
        self.leader == Some(self.this_node)
    }

    pub fn broker(&self, id: BrokerId) -> Option<&BrokerInfo> {
        self.brokers.iter().find(|b| b.id == id)
    }
}

/// Retention of a topic; `None` means the node-wide default applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub max_messages: Option<u64>,
    pub max_bytes: Option<u64>,
    pub max_age_ms: Option<u64>,
}

/// A topic's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    /// Kafka topic id: stable for the topic's life, different for a recreated topic of the same name.
    pub id: uuid::Uuid,
    /// At least 1; only ever raised.
    pub partitions: u32,
    pub retention: Retention,
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    pub partitions: u32,
    pub retention: Retention,
}

/// One record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// In order; names may repeat.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The producer's create time (ms since the epoch).
    pub timestamp_ms: i64,
}

/// An idempotent producer's identity on one batch (KIP-98). Sequences count records per
/// (producer, topic, partition) from 0; `base_sequence` is the batch's first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

/// A batch to append atomically to one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceBatch {
    pub topic: String,
    pub partition: i32,
    /// Never empty.
    pub records: Vec<NewRecord>,
    /// Present for idempotent producers: the batch is stored once however often it is retried.
    pub producer: Option<ProducerBatch>,
    /// The authenticated principal, stored as the messages' publisher.
    pub publisher: Option<String>,
    /// How long the client waits for the commit (the request's `timeout_ms`).
    pub timeout: Duration,
}

/// A committed append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the batch's first record. For a retried batch already stored: the offset it got
    /// the first time (nothing is stored twice).
    pub base_offset: i64,
    pub log_start_offset: i64,
}

/// A queued batch's commit: its [`Appended`] once a quorum stored it.
pub type PendingAppend = futures::future::BoxFuture<'static, Result<Appended, BackendError>>;

/// A stored record as readers get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Records read from one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchedRecords {
    /// Consecutive offsets from the requested one. At least one record whenever one exists at
    /// that offset, even if it alone exceeds `max_bytes` (so a consumer can never be stuck).
    pub records: Vec<StoredRecord>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

/// Which offset ListOffsets asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The high watermark (next offset to be written).
    Latest,
    /// The first offset whose timestamp is at or after this time (ms).
    Timestamp(i64),
}

/// The answer to a ListOffsets lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// -1 when no record is at or after a requested timestamp.
    pub offset: i64,
    /// The found record's timestamp for [`OffsetSpec::Timestamp`], else -1.
    pub timestamp_ms: i64,
}

/// A consumer group's committed position in one partition (replicated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub metadata: Option<String>,
}

/// What an authenticated principal may do (SPEC §5 roles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Recorded as the publisher of what it produces.
    pub name: String,
    pub publish: bool,
    pub consume: bool,
    pub admin: bool,
}

impl Principal {
    /// The principal of every connection while auth is off.
    pub fn anonymous() -> Principal {
        Principal {
            name: "anonymous".into(),
            publish: true,
            consume: true,
            admin: true,
        }
    }
}

/// Why the backend refused or could not do something. Each maps to one Kafka error code per API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    #[error("topic already exists")]
    TopicAlreadyExists,
    #[error("invalid topic: {0}")]
    InvalidTopic(String),
    #[error("invalid partitions: {0}")]
    InvalidPartitions(String),
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// This node cannot commit and could not forward; `leader` is who can, when known.
    #[error("not the leader")]
    NotLeader { leader: Option<BrokerId> },
    /// No leader right now (election, lost quorum): retry later.
    #[error("no leader")]
    NoLeader,
    #[error("the commit was not reached in time")]
    Timeout,
    #[error("offset out of range (log start {log_start_offset}, high watermark {high_watermark})")]
    OffsetOutOfRange {
        log_start_offset: i64,
        high_watermark: i64,
    },
    /// A producer's batch is not the next in its sequence (and not a retry of a recent one).
    #[error("out of order sequence number")]
    OutOfOrderSequence,
    /// The producer's epoch is older than the newest seen for its id (a zombie).
    #[error("invalid producer epoch")]
    InvalidProducerEpoch,
    #[error("unknown producer id")]
    UnknownProducerId,
    #[error("record too large: {0}")]
    RecordTooLarge(String),
    #[error("batch too large: {0}")]
    BatchTooLarge(String),
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    #[error("storage error: {0}")]
    Storage(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Everything the Kafka listener needs from the broker.
///
/// Async methods return `Send` futures so handlers run on any runtime thread; implementations
/// must not block the runtime (storage reads go through `spawn_blocking` or are in memory).
pub trait KafkaBackend: Send + Sync + 'static {
    /// Members, the leader and this node's id.
    fn cluster(&self) -> ClusterView;

    /// Every topic (Metadata with no topic list, ListOffsets, describe).
    fn topics(&self) -> Vec<TopicInfo>;

    /// One topic, if it exists.
    fn topic(&self, name: &str) -> Option<TopicInfo>;

    /// Whether connections must authenticate (SASL/PLAIN) before any other request.
    fn auth_required(&self) -> bool;

    /// The principal of a token (SASL/PLAIN's password), or `None` when the token is unknown.
    fn authenticate(&self, token: &str) -> Option<Principal>;

    /// Appends a batch atomically, answered after a quorum committed it (any node: forwarded to
    /// the leader): [`KafkaBackend::queue_produce`], then its commit.
    fn produce(
        &self,
        batch: ProduceBatch,
    ) -> impl Future<Output = Result<Appended, BackendError>> + Send {
        async move { self.queue_produce(batch).await?.await }
    }

    /// Queues a batch to append atomically and returns once it is queued, with the future of its
    /// commit (answered after a quorum committed it; any node: forwarded to the leader). A refusal
    /// known before queueing (unknown partition, record too large) is the `Err`. Batches one
    /// caller queues one after another, their commits awaited later, are appended in queue order
    /// where [`KafkaBackend::produce_keeps_queue_order`] says so. Idempotent batches follow
    /// Kafka's rules: a retry of one of the producer's recent batches returns the first answer; a
    /// gap or reorder is [`BackendError::OutOfOrderSequence`]; an epoch older than the newest is
    /// [`BackendError::InvalidProducerEpoch`]; a newer epoch must start at sequence 0.
    fn queue_produce(
        &self,
        batch: ProduceBatch,
    ) -> impl Future<Output = Result<PendingAppend, BackendError>> + Send;

    /// Whether batches queued now by [`KafkaBackend::queue_produce`] one after another are
    /// appended in queue order without awaiting each commit first. A Kafka connection keeps
    /// several Produce requests in flight only while this holds; otherwise it awaits each one's
    /// commit before queueing the next.
    fn produce_keeps_queue_order(&self) -> bool;

    /// Committed records of a partition from `offset`, about `max_bytes` of them (see
    /// [`FetchedRecords::records`]). `offset == high_watermark` is an empty read, not an error.
    fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> impl Future<Output = Result<FetchedRecords, BackendError>> + Send;

    /// A wake-up for the partition: its value changes after anything is appended to, trimmed
    /// from or deleted with it (spurious wake-ups are fine). Subscribe before reading.
    fn subscribe(&self, topic: &str, partition: i32) -> watch::Receiver<u64>;

    /// ListOffsets: earliest, latest or by time.
    fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> impl Future<Output = Result<ListedOffset, BackendError>> + Send;

    /// Creates a topic with `partitions` partitions (replicated).
    fn create_topic(
        &self,
        topic: NewTopic,
    ) -> impl Future<Output = Result<TopicInfo, BackendError>> + Send;

    /// Deletes a topic, its messages and its committed offsets (replicated).
    fn delete_topic(&self, name: &str) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Raises a topic's partition count to `total` (never lowers it).
    fn create_partitions(
        &self,
        name: &str,
        total: u32,
    ) -> impl Future<Output = Result<TopicInfo, BackendError>> + Send;

    /// Stores a group's committed offsets atomically (replicated, answered after the commit).
    fn commit_offsets(
        &self,
        group: &str,
        offsets: Vec<CommittedOffset>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// A group's committed offsets (every partition it committed).
    fn committed_offsets(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Vec<CommittedOffset>, BackendError>> + Send;

    /// Groups that have committed offsets (ListGroups shows them even without members).
    fn offset_groups(&self) -> impl Future<Output = Result<Vec<String>, BackendError>> + Send;

    /// A new producer id, never handed out before in this cluster (replicated counter).
    fn allocate_producer_id(&self) -> impl Future<Output = Result<i64, BackendError>> + Send;
}

//! Refusals the state machine decides, the same on every replica.

use serde::{Deserialize, Serialize};

/// Why one op of a batch failed; the others in the entry are unaffected. Append variants only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum OpError {
    #[error("topic {topic:?} does not exist")]
    TopicNotFound { topic: String },
    #[error("topic {topic:?} already exists")]
    TopicExists { topic: String },
    #[error("offset {offset} is outside [{log_start_offset}, {high_watermark}]")]
    OffsetOutOfRange {
        offset: u64,
        log_start_offset: u64,
        high_watermark: u64,
    },
    #[error(
        "sequence {sequence} of producer {:?} is older than the ones remembered (last {last})",
        super::ProducerSeq::caller_id(producer_id)
    )]
    SequenceTooOld {
        producer_id: String,
        sequence: u64,
        last: u64,
    },
    #[error("consumer {consumer:?} of topic {topic:?} moved to offset {offset} meanwhile")]
    ConsumerMoved {
        consumer: String,
        topic: String,
        offset: u64,
    },
    #[error(
        "producer {:?} is fenced: epoch {epoch} is older than its epoch {current}",
        super::ProducerSeq::caller_id(producer_id)
    )]
    ProducerFenced {
        producer_id: String,
        epoch: u64,
        current: u64,
    },
    #[error("group {group:?} of topic {topic:?} does not exist")]
    GroupNotFound { topic: String, group: String },
    /// An ack or nack named a message the group never delivered (nothing was changed).
    #[error("offset {offset} of partition {partition} of topic {topic:?} was never delivered to group {group:?}")]
    NotDelivered {
        topic: String,
        group: String,
        partition: u32,
        offset: u64,
    },
    #[error("topic {topic:?} has {partitions} partitions: there is no partition {partition}")]
    PartitionNotFound {
        topic: String,
        partition: u32,
        partitions: u32,
    },
    #[error("topic {topic:?} has {partitions} partitions; the count can only be raised (asked for {requested})")]
    InvalidPartitions {
        topic: String,
        partitions: u32,
        requested: u32,
    },
    /// A Kafka producer's batch is not the next of its sequence (nor a retry of a recent one).
    #[error(
        "sequence {sequence} of producer {:?} is out of order (expected {expected})",
        super::ProducerSeq::caller_id(producer_id)
    )]
    OutOfOrderSequence {
        producer_id: String,
        sequence: u64,
        expected: u64,
    },
}

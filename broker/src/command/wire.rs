//! The bincode layout of [`Op`]: the Raft log on disk and the peers' wire protocol. bincode has
//! no field names or lengths, so a field cannot be appended to a struct the log already holds.
//! [`Publish`] grew a producer epoch (M8): a publish at epoch 0 (every publish before epochs
//! existed, and every one that does not use them) keeps the old layout of variant 0; one with an
//! epoch is the variant appended at the end, `PublishWithEpoch`. Old entries decode unchanged and
//! a node that predates epochs still reads every entry that does not use them.
//!
//! Partitions the same way: [`Publish::partition`], [`CommitOffset::partition`],
//! [`AdvanceConsumer::partition`] and [`PutTopic::partitions`] are skipped by the structs' own
//! encoding; partition 0 (and no partition count) keeps the old variants, anything else is one of
//! the variants appended at the end, carrying the partition before the struct.
//!
//! A publish from the Kafka listener ([`Publish::kafka`]: record timestamps, Kafka's sequence
//! rules) is `PublishFromKafka`, whatever its partition or epoch.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    AckMessages, AdvanceConsumer, AllocateProducerId, AssignNodeId, CommitOffset, ConfigureGroup,
    ConsumeNext, DeleteConsumer, DeleteGroup, DeleteTopic, KafkaPublish, LeaseMessages,
    NackMessages, NewMessage, Op, ProducerSeq, Publish, PutTopic, SetClusterId, Trim,
};

/// [`Op`] as encoded, borrowed. Variant order is the encoding: append, never reorder.
#[derive(Serialize)]
#[serde(rename = "Op")]
enum OpRef<'a> {
    Publish(PublishV0Ref<'a>),
    CommitOffset(&'a CommitOffset),
    ConsumeNext(&'a ConsumeNext),
    PutTopic(&'a PutTopic),
    DeleteTopic(&'a DeleteTopic),
    Trim(&'a Trim),
    SetClusterId(&'a SetClusterId),
    AssignNodeId(&'a AssignNodeId),
    AdvanceConsumer(&'a AdvanceConsumer),
    PublishWithEpoch(&'a Publish),
    DeleteConsumer(&'a DeleteConsumer),
    ConfigureGroup(&'a ConfigureGroup),
    LeaseMessages(&'a LeaseMessages),
    AckMessages(&'a AckMessages),
    NackMessages(&'a NackMessages),
    DeleteGroup(&'a DeleteGroup),
    PublishToPartition(u32, &'a Publish),
    PutTopicWithPartitions(u32, &'a PutTopic),
    CommitOffsetToPartition(u32, &'a CommitOffset),
    AdvanceConsumerOnPartition(u32, &'a AdvanceConsumer),
    PublishFromKafka(u32, &'a Publish, &'a KafkaPublish),
    AllocateProducerId(&'a AllocateProducerId),
}

/// [`Op`] as decoded; the same variants as [`OpRef`].
#[derive(Deserialize)]
#[serde(rename = "Op")]
enum OpOwned {
    Publish(PublishV0),
    CommitOffset(CommitOffset),
    ConsumeNext(ConsumeNext),
    PutTopic(PutTopic),
    DeleteTopic(DeleteTopic),
    Trim(Trim),
    SetClusterId(SetClusterId),
    AssignNodeId(AssignNodeId),
    AdvanceConsumer(AdvanceConsumer),
    PublishWithEpoch(Publish),
    DeleteConsumer(DeleteConsumer),
    ConfigureGroup(ConfigureGroup),
    LeaseMessages(LeaseMessages),
    AckMessages(AckMessages),
    NackMessages(NackMessages),
    DeleteGroup(DeleteGroup),
    PublishToPartition(u32, Publish),
    PutTopicWithPartitions(u32, PutTopic),
    CommitOffsetToPartition(u32, CommitOffset),
    AdvanceConsumerOnPartition(u32, AdvanceConsumer),
    PublishFromKafka(u32, Publish, KafkaPublish),
    AllocateProducerId(AllocateProducerId),
}

/// The layout of [`Publish`] before producer epochs.
#[derive(Serialize)]
#[serde(rename = "Publish")]
struct PublishV0Ref<'a> {
    topic: &'a str,
    messages: &'a [NewMessage],
    producer: Option<ProducerSeqV0Ref<'a>>,
    publisher: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename = "ProducerSeq")]
struct ProducerSeqV0Ref<'a> {
    producer_id: &'a str,
    sequence: u64,
}

#[derive(Deserialize)]
#[serde(rename = "Publish")]
struct PublishV0 {
    topic: String,
    messages: Vec<NewMessage>,
    producer: Option<ProducerSeqV0>,
    publisher: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename = "ProducerSeq")]
struct ProducerSeqV0 {
    producer_id: String,
    sequence: u64,
}

impl Serialize for Op {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let wire = match self {
            Op::Publish(p @ Publish { kafka: Some(k), .. }) => {
                OpRef::PublishFromKafka(p.partition, p, k)
            }
            Op::Publish(p) if p.partition != 0 => OpRef::PublishToPartition(p.partition, p),
            Op::Publish(p) if p.producer.as_ref().is_some_and(|ps| ps.epoch != 0) => {
                OpRef::PublishWithEpoch(p)
            }
            Op::Publish(p) => OpRef::Publish(PublishV0Ref {
                topic: &p.topic,
                messages: &p.messages,
                producer: p.producer.as_ref().map(|ps| ProducerSeqV0Ref {
                    producer_id: &ps.producer_id,
                    sequence: ps.sequence,
                }),
                publisher: p.publisher.as_deref(),
            }),
            Op::CommitOffset(c) if c.partition != 0 => {
                OpRef::CommitOffsetToPartition(c.partition, c)
            }
            Op::CommitOffset(c) => OpRef::CommitOffset(c),
            Op::ConsumeNext(c) => OpRef::ConsumeNext(c),
            Op::PutTopic(c) => match c.partitions {
                Some(n) => OpRef::PutTopicWithPartitions(n, c),
                None => OpRef::PutTopic(c),
            },
            Op::DeleteTopic(c) => OpRef::DeleteTopic(c),
            Op::Trim(c) => OpRef::Trim(c),
            Op::SetClusterId(c) => OpRef::SetClusterId(c),
            Op::AssignNodeId(c) => OpRef::AssignNodeId(c),
            Op::AdvanceConsumer(c) if c.partition != 0 => {
                OpRef::AdvanceConsumerOnPartition(c.partition, c)
            }
            Op::AdvanceConsumer(c) => OpRef::AdvanceConsumer(c),
            Op::DeleteConsumer(c) => OpRef::DeleteConsumer(c),
            Op::ConfigureGroup(c) => OpRef::ConfigureGroup(c),
            Op::LeaseMessages(c) => OpRef::LeaseMessages(c),
            Op::AckMessages(c) => OpRef::AckMessages(c),
            Op::NackMessages(c) => OpRef::NackMessages(c),
            Op::DeleteGroup(c) => OpRef::DeleteGroup(c),
            Op::AllocateProducerId(c) => OpRef::AllocateProducerId(c),
        };
        wire.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Op, D::Error> {
        Ok(match OpOwned::deserialize(d)? {
            OpOwned::Publish(p) => Op::Publish(Publish {
                topic: p.topic,
                messages: p.messages,
                producer: p.producer.map(|ps| ProducerSeq {
                    producer_id: ps.producer_id,
                    sequence: ps.sequence,
                    epoch: 0,
                }),
                publisher: p.publisher,
                partition: 0,
                kafka: None,
            }),
            OpOwned::PublishWithEpoch(p) => Op::Publish(p),
            OpOwned::PublishToPartition(partition, p) => Op::Publish(Publish { partition, ..p }),
            OpOwned::PublishFromKafka(partition, p, k) => Op::Publish(Publish {
                partition,
                kafka: Some(k),
                ..p
            }),
            OpOwned::AllocateProducerId(c) => Op::AllocateProducerId(c),
            OpOwned::PutTopicWithPartitions(n, c) => Op::PutTopic(PutTopic {
                partitions: Some(n),
                ..c
            }),
            OpOwned::CommitOffsetToPartition(partition, c) => {
                Op::CommitOffset(CommitOffset { partition, ..c })
            }
            OpOwned::AdvanceConsumerOnPartition(partition, c) => {
                Op::AdvanceConsumer(AdvanceConsumer { partition, ..c })
            }
            OpOwned::CommitOffset(c) => Op::CommitOffset(c),
            OpOwned::ConsumeNext(c) => Op::ConsumeNext(c),
            OpOwned::PutTopic(c) => Op::PutTopic(c),
            OpOwned::DeleteTopic(c) => Op::DeleteTopic(c),
            OpOwned::Trim(c) => Op::Trim(c),
            OpOwned::SetClusterId(c) => Op::SetClusterId(c),
            OpOwned::AssignNodeId(c) => Op::AssignNodeId(c),
            OpOwned::AdvanceConsumer(c) => Op::AdvanceConsumer(c),
            OpOwned::DeleteConsumer(c) => Op::DeleteConsumer(c),
            OpOwned::ConfigureGroup(c) => Op::ConfigureGroup(c),
            OpOwned::LeaseMessages(c) => Op::LeaseMessages(c),
            OpOwned::AckMessages(c) => Op::AckMessages(c),
            OpOwned::NackMessages(c) => Op::NackMessages(c),
            OpOwned::DeleteGroup(c) => Op::DeleteGroup(c),
        })
    }
}

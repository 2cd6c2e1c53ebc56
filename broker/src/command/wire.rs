//! The bincode layout of [`Op`]: the Raft log on disk and the peers' wire protocol. bincode has
//! no field names or lengths, so a field cannot be appended to a struct the log already holds.
//! [`Publish`] grew a producer epoch (M8): a publish at epoch 0 (every publish before epochs
//! existed, and every one that does not use them) keeps the old layout of variant 0; one with an
//! epoch is the variant appended at the end, `PublishWithEpoch`. Old entries decode unchanged and
//! a node that predates epochs still reads every entry that does not use them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    AdvanceConsumer, AssignNodeId, CommitOffset, ConsumeNext, DeleteConsumer, DeleteTopic,
    NewMessage, Op, ProducerSeq, Publish, PutTopic, SetClusterId, Trim,
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
            Op::CommitOffset(c) => OpRef::CommitOffset(c),
            Op::ConsumeNext(c) => OpRef::ConsumeNext(c),
            Op::PutTopic(c) => OpRef::PutTopic(c),
            Op::DeleteTopic(c) => OpRef::DeleteTopic(c),
            Op::Trim(c) => OpRef::Trim(c),
            Op::SetClusterId(c) => OpRef::SetClusterId(c),
            Op::AssignNodeId(c) => OpRef::AssignNodeId(c),
            Op::AdvanceConsumer(c) => OpRef::AdvanceConsumer(c),
            Op::DeleteConsumer(c) => OpRef::DeleteConsumer(c),
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
            }),
            OpOwned::PublishWithEpoch(p) => Op::Publish(p),
            OpOwned::CommitOffset(c) => Op::CommitOffset(c),
            OpOwned::ConsumeNext(c) => Op::ConsumeNext(c),
            OpOwned::PutTopic(c) => Op::PutTopic(c),
            OpOwned::DeleteTopic(c) => Op::DeleteTopic(c),
            OpOwned::Trim(c) => Op::Trim(c),
            OpOwned::SetClusterId(c) => Op::SetClusterId(c),
            OpOwned::AssignNodeId(c) => Op::AssignNodeId(c),
            OpOwned::AdvanceConsumer(c) => Op::AdvanceConsumer(c),
            OpOwned::DeleteConsumer(c) => Op::DeleteConsumer(c),
        })
    }
}

//! Topic admin, consumer-group offsets and producer ids: replicated commands through the writer.

use std::collections::BTreeSet;

use super::convert::{storage, write_error};
use super::NodeBackend;
use crate::command::{AllocateProducerId, CommitOffset, DeleteTopic, PutTopic, Retention};
use crate::kafka::backend::{BackendError, CommittedOffset, NewTopic, TopicInfo};
use crate::kafka::KafkaBackend;

pub async fn create_topic(b: &NodeBackend, t: NewTopic) -> Result<TopicInfo, BackendError> {
    crate::topics::validate_topic_name(&t.name).map_err(BackendError::InvalidTopic)?;
    if t.partitions == 0 {
        return Err(BackendError::InvalidPartitions("at least 1".into()));
    }
    let r = t.retention;
    let retention = (r.max_messages.is_some() || r.max_bytes.is_some() || r.max_age_ms.is_some())
        .then_some(Retention {
            max_messages: r.max_messages,
            max_bytes: r.max_bytes,
            max_age_ms: r.max_age_ms,
        });
    b.writer
        .put_topic(PutTopic {
            topic: t.name.clone(),
            retention,
            create_only: true,
            partitions: Some(t.partitions),
        })
        .await
        .map_err(write_error)?;
    b.topic(&t.name)
        .ok_or(BackendError::UnknownTopicOrPartition)
}

pub async fn delete_topic(b: &NodeBackend, name: &str) -> Result<(), BackendError> {
    let deleted = b
        .writer
        .delete_topic(DeleteTopic {
            topic: name.to_string(),
        })
        .await
        .map_err(write_error)?;
    if deleted.existed {
        Ok(())
    } else {
        Err(BackendError::UnknownTopicOrPartition)
    }
}

pub async fn create_partitions(
    b: &NodeBackend,
    name: &str,
    total: u32,
) -> Result<TopicInfo, BackendError> {
    // A PutTopic would create a missing topic: look first.
    let current = b.topic(name).ok_or(BackendError::UnknownTopicOrPartition)?;
    if total <= current.partitions {
        return Err(BackendError::InvalidPartitions(format!(
            "{} partitions exist; the count only grows",
            current.partitions
        )));
    }
    b.writer
        .put_topic(PutTopic {
            topic: name.to_string(),
            retention: None,
            create_only: false,
            partitions: Some(total),
        })
        .await
        .map_err(write_error)?;
    b.topic(name).ok_or(BackendError::UnknownTopicOrPartition)
}

/// A group's offsets are the named consumer positions of the same name: one entry for all of
/// them (atomic).
pub async fn commit_offsets(
    b: &NodeBackend,
    group: &str,
    offsets: Vec<CommittedOffset>,
) -> Result<(), BackendError> {
    let mut commits = Vec::with_capacity(offsets.len());
    for o in offsets {
        let (Ok(partition), Ok(offset)) = (u32::try_from(o.partition), u64::try_from(o.offset))
        else {
            return Err(BackendError::UnknownTopicOrPartition);
        };
        commits.push(CommitOffset {
            consumer: group.to_string(),
            topic: o.topic,
            offset,
            partition,
        });
    }
    crate::write::propose_all(b.node.as_ref(), commits)
        .await
        .map_err(write_error)?;
    Ok(())
}

pub async fn committed_offsets(
    b: &NodeBackend,
    group: &str,
) -> Result<Vec<CommittedOffset>, BackendError> {
    let group = group.to_string();
    b.store
        .blocking(move |st| {
            Ok(st
                .partition_positions(None)?
                .into_iter()
                .filter(|(_, _, c, _)| *c == group)
                .map(|(topic, partition, _, offset)| CommittedOffset {
                    topic,
                    partition: partition as i32,
                    offset: offset as i64,
                    metadata: None,
                })
                .collect())
        })
        .await
        .map_err(storage)
}

pub async fn offset_groups(b: &NodeBackend) -> Result<Vec<String>, BackendError> {
    b.store
        .blocking(|st| {
            let names: BTreeSet<String> = st
                .partition_positions(None)?
                .into_iter()
                .map(|(_, _, c, _)| c)
                .collect();
            Ok(names.into_iter().collect())
        })
        .await
        .map_err(storage)
}

pub async fn allocate_producer_id(b: &NodeBackend) -> Result<i64, BackendError> {
    let id = b
        .writer
        .submit(AllocateProducerId)
        .await
        .map_err(write_error)?
        .producer_id;
    i64::try_from(id).map_err(|_| BackendError::Internal("producer ids ran out".into()))
}

//! OffsetCommit and OffsetFetch: committed offsets are replicated through the backend; the
//! coordinator only checks the committer's membership and generation first.

use std::collections::HashMap;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError;

use super::{coordinator_error, str_bytes, topic_name, Ctx};
use crate::kafka::backend::{CommittedOffset, KafkaBackend};

/// Kafka's offset.metadata.max.bytes.
const MAX_METADATA: usize = 4096;

fn group_gate<B: KafkaBackend>(ctx: &Ctx<'_, B>, group: &str) -> Option<ResponseError> {
    if !ctx.principal().consume {
        return Some(ResponseError::GroupAuthorizationFailed);
    }
    if group.is_empty() {
        return Some(ResponseError::InvalidGroupId);
    }
    if !ctx.server.sync_leadership().is_leader() {
        return Some(ResponseError::NotCoordinator);
    }
    None
}

pub async fn commit<B: KafkaBackend>(
    ctx: &Ctx<'_, B>,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group = req.group_id.as_str();
    let shared = group_gate(ctx, group).or_else(|| {
        ctx.server.coordinator.validate_commit(
            group,
            req.member_id.as_str(),
            req.generation_id_or_member_epoch,
        )
    });
    // Per partition: Some(error) decided now, None = to be committed.
    let mut decided: Vec<(String, i32, Option<Option<ResponseError>>)> = Vec::new();
    let mut offsets = Vec::new();
    for t in &req.topics {
        let info = ctx.backend().topic(t.name.as_str());
        for p in &t.partitions {
            let early = if shared.is_some() {
                Some(shared)
            } else if !info.as_ref().is_some_and(|i| {
                p.partition_index >= 0 && (p.partition_index as u32) < i.partitions
            }) {
                Some(Some(ResponseError::UnknownTopicOrPartition))
            } else if p
                .committed_metadata
                .as_ref()
                .is_some_and(|m| m.len() > MAX_METADATA)
            {
                Some(Some(ResponseError::OffsetMetadataTooLarge))
            } else {
                offsets.push(CommittedOffset {
                    topic: t.name.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                });
                None
            };
            decided.push((t.name.to_string(), p.partition_index, early));
        }
    }
    let stored = if offsets.is_empty() {
        None
    } else {
        ctx.backend()
            .commit_offsets(group, offsets)
            .await
            .err()
            .map(|e| coordinator_error(&e))
    };
    let mut topics: Vec<OffsetCommitResponseTopic> = Vec::new();
    for (topic, partition, early) in decided {
        let error = early.unwrap_or(stored);
        let part = OffsetCommitResponsePartition::default()
            .with_partition_index(partition)
            .with_error_code(ctx.code(error));
        match topics.iter_mut().find(|t| t.name.as_str() == topic) {
            Some(t) => t.partitions.push(part),
            None => topics.push(
                OffsetCommitResponseTopic::default()
                    .with_name(topic_name(&topic))
                    .with_partitions(vec![part]),
            ),
        }
    }
    OffsetCommitResponse::default().with_topics(topics)
}

/// (topic, [partition]) pairs asked for; `None` = every committed partition.
type Asked = Option<Vec<(String, Vec<i32>)>>;

/// One group's committed offsets as (topic, partition, offset, metadata), or its error.
async fn lookup<B: KafkaBackend>(
    ctx: &Ctx<'_, B>,
    group: &str,
    asked: Asked,
) -> Result<Vec<(String, i32, i64, String)>, ResponseError> {
    if let Some(e) = group_gate(ctx, group) {
        return Err(e);
    }
    let committed = ctx
        .backend()
        .committed_offsets(group)
        .await
        .map_err(|e| coordinator_error(&e))?;
    let mut by_key: HashMap<(String, i32), (i64, String)> = committed
        .into_iter()
        .map(|c| {
            (
                (c.topic, c.partition),
                (c.offset, c.metadata.unwrap_or_default()),
            )
        })
        .collect();
    let rows = match asked {
        None => {
            let mut all: Vec<_> = by_key
                .into_iter()
                .map(|((t, p), (o, m))| (t, p, o, m))
                .collect();
            all.sort();
            all
        }
        Some(list) => list
            .into_iter()
            .flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p)))
            .map(|(t, p)| {
                let (o, m) = by_key
                    .remove(&(t.clone(), p))
                    .unwrap_or((-1, String::new()));
                (t, p, o, m)
            })
            .collect(),
    };
    Ok(rows)
}

pub async fn fetch<B: KafkaBackend>(
    ctx: &Ctx<'_, B>,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    if ctx.version >= 8 {
        let mut groups = Vec::with_capacity(req.groups.len());
        for g in &req.groups {
            let asked = g.topics.as_ref().map(|ts| {
                ts.iter()
                    .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                    .collect()
            });
            let resp = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
            groups.push(match lookup(ctx, g.group_id.as_str(), asked).await {
                Err(e) => resp.with_error_code(ctx.code(Some(e))),
                Ok(rows) => {
                    let mut topics: Vec<OffsetFetchResponseTopics> = Vec::new();
                    for (t, p, o, m) in rows {
                        let part = OffsetFetchResponsePartitions::default()
                            .with_partition_index(p)
                            .with_committed_offset(o)
                            .with_metadata(Some(str_bytes(m)));
                        match topics.iter_mut().find(|x| x.name.as_str() == t) {
                            Some(x) => x.partitions.push(part),
                            None => topics.push(
                                OffsetFetchResponseTopics::default()
                                    .with_name(topic_name(&t))
                                    .with_partitions(vec![part]),
                            ),
                        }
                    }
                    resp.with_topics(topics)
                }
            });
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let asked = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    match lookup(ctx, req.group_id.as_str(), asked).await {
        Err(e) => {
            let code = ctx.code(Some(e));
            // v0–1 have no top-level error: every asked partition carries it.
            let topics = req
                .topics
                .unwrap_or_default()
                .iter()
                .map(|t| {
                    OffsetFetchResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partition_indexes
                                .iter()
                                .map(|p| {
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(*p)
                                        .with_committed_offset(-1)
                                        .with_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect();
            OffsetFetchResponse::default()
                .with_error_code(code)
                .with_topics(topics)
        }
        Ok(rows) => {
            let mut topics: Vec<OffsetFetchResponseTopic> = Vec::new();
            for (t, p, o, m) in rows {
                let part = OffsetFetchResponsePartition::default()
                    .with_partition_index(p)
                    .with_committed_offset(o)
                    .with_metadata(Some(str_bytes(m)));
                match topics.iter_mut().find(|x| x.name.as_str() == t) {
                    Some(x) => x.partitions.push(part),
                    None => topics.push(
                        OffsetFetchResponseTopic::default()
                            .with_name(topic_name(&t))
                            .with_partitions(vec![part]),
                    ),
                }
            }
            OffsetFetchResponse::default().with_topics(topics)
        }
    }
}

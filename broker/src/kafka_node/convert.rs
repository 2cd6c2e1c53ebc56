//! Translations between the node's types and the Kafka listener's: the cluster view, topic ids,
//! stored messages and errors.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::cluster::Node;
use crate::command::OpError;
use crate::kafka::backend::{BackendError, BrokerId, BrokerInfo, ClusterView, StoredRecord};
use crate::topics::Message;
use crate::write::WriteError;

/// The cluster as Kafka clients see it: every member with its Kafka address, the leader (of every
/// partition, and the group coordinator) and its term as the leader epoch.
pub fn cluster_view(node: &Node) -> ClusterView {
    let m = node.metrics_now();
    let membership = m.membership_config.membership();
    // A member added without a Kafka address (by the operator, or before it had one) is reached
    // at its API host with this node's Kafka port: nodes of a cluster share their flags.
    let own_port = node
        .config
        .kafka
        .as_ref()
        .and_then(|k| split(&k.advertise).map(|(_, p)| p))
        .unwrap_or(9092);
    let mut brokers: Vec<BrokerInfo> = membership
        .nodes()
        .filter_map(|(id, addr)| {
            let id = BrokerId::try_from(*id).ok()?;
            let (host, port) = match addr.kafka_addr.as_deref().and_then(split) {
                Some(hp) => hp,
                None => (split(&addr.api_addr)?.0, own_port),
            };
            Some(BrokerInfo {
                id,
                host,
                port,
                rack: None,
            })
        })
        .collect();
    brokers.sort_by_key(|b| b.id);
    let voters: Vec<BrokerId> = membership
        .voter_ids()
        .filter_map(|v| BrokerId::try_from(v).ok())
        .collect();
    ClusterView {
        cluster_id: node.cluster_id().unwrap_or_else(|| "jumpnet".into()),
        this_node: BrokerId::try_from(node.id).unwrap_or(-1),
        brokers,
        leader: node
            .known_leader(&m)
            .and_then(|l| BrokerId::try_from(l).ok()),
        leader_epoch: i32::try_from(m.current_term).unwrap_or(i32::MAX),
        replicas: voters.clone(),
        in_sync: voters,
    }
}

/// `host:port` (a bracketed IPv6 host loses its brackets).
fn split(addr: &str) -> Option<(String, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

/// A stable Kafka topic id from the topic's log id (never reused, so a recreated topic gets
/// another).
pub fn topic_uuid(log_id: u64) -> uuid::Uuid {
    uuid::Uuid::from_u64_pair(0x6a75_6d70_6e65_7400, log_id)
}

/// A stored message as a Kafka record.
pub fn stored_record(m: Message) -> StoredRecord {
    let r = m.record;
    StoredRecord {
        offset: m.offset as i64,
        timestamp_ms: i64::try_from(r.ts_ms).unwrap_or(i64::MAX),
        key: r.key.map(Bytes::from),
        value: Some(Bytes::from(r.value)),
        headers: r
            .headers
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, Some(Bytes::from(v))))
            .collect(),
    }
}

/// A record's key as the message's (text).
pub fn key_text(key: Option<Bytes>) -> Result<Option<String>, BackendError> {
    key.map(|k| {
        String::from_utf8(k.to_vec())
            .map_err(|_| BackendError::InvalidRecord("keys must be UTF-8 text".into()))
    })
    .transpose()
}

/// A record's headers as the message's: by name (the last value of a repeated name), values as
/// text (a null value as empty).
pub fn headers_map(
    headers: Vec<(String, Option<Bytes>)>,
) -> Result<Option<BTreeMap<String, String>>, BackendError> {
    if headers.is_empty() {
        return Ok(None);
    }
    let mut out = BTreeMap::new();
    for (name, value) in headers {
        let value = match value {
            None => String::new(),
            Some(v) => String::from_utf8(v.to_vec()).map_err(|_| {
                BackendError::InvalidRecord(format!("header {name:?}: values must be UTF-8 text"))
            })?,
        };
        out.insert(name, value);
    }
    Ok(Some(out))
}

/// A failed write as the listener's error.
pub fn write_error(e: WriteError) -> BackendError {
    match e {
        WriteError::NoLeader | WriteError::NoQuorum | WriteError::Unavailable(_) => {
            BackendError::NoLeader
        }
        WriteError::NotLeader { leader } => BackendError::NotLeader {
            leader: leader.and_then(|l| BrokerId::try_from(l).ok()),
        },
        WriteError::Timeout(_) => BackendError::Timeout,
        WriteError::Op(op) => op_error(op),
        WriteError::Membership(m) => BackendError::Internal(m.to_string()),
        WriteError::Internal(m) => BackendError::Internal(m),
    }
}

fn op_error(e: OpError) -> BackendError {
    match e {
        OpError::TopicNotFound { .. } | OpError::PartitionNotFound { .. } => {
            BackendError::UnknownTopicOrPartition
        }
        OpError::TopicExists { .. } => BackendError::TopicAlreadyExists,
        OpError::OffsetOutOfRange {
            log_start_offset,
            high_watermark,
            ..
        } => BackendError::OffsetOutOfRange {
            log_start_offset: log_start_offset as i64,
            high_watermark: high_watermark as i64,
        },
        OpError::SequenceTooOld { .. } | OpError::OutOfOrderSequence { .. } => {
            BackendError::OutOfOrderSequence
        }
        OpError::ProducerFenced { .. } => BackendError::InvalidProducerEpoch,
        OpError::InvalidPartitions { .. } => BackendError::InvalidPartitions(e.to_string()),
        other => BackendError::Internal(other.to_string()),
    }
}

/// A storage read that failed.
pub fn storage(e: crate::Error) -> BackendError {
    BackendError::Storage(e.to_string())
}

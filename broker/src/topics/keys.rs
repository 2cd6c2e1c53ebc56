//! Key layout of the state-machine tree `sm` (metadata only; messages live in segment files).
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `m/` | `m/applied`, `m/membership`, `m/cluster_id`, `m/next_topic_id`, `m/producers`, `m/data_dir` | bincode |
//! | `t/` | `t/<topic>` | [`TopicMeta`](super::model::TopicMeta) |
//! | `c/` | `c/<u16 len><topic><consumer>` | next offset (u64) |
//! | `p/` | `p/<topic id><producer id>` | [`ProducerState`](super::model::ProducerState) |
//! | `q/` | `q/<last index u64 BE><topic id><producer id>` | — eviction order of producers |
//! | `n/` | `n/<raft addr>` | node id (u64) |
//! | `g/` | `g/<u16 len><topic><group>` | [`GroupState`](super::group::GroupState) |
//! | `k/` | `k/<topic>` | partition count (u32); absent: 1 |
//! | `r/` | `r/<u16 len><topic><u32 partition>` | [`TopicMeta`](super::model::TopicMeta) of partition ≥ 1 |
//! | `d/` | `d/<u16 len><topic><u32 partition><consumer>` | next offset (u64) on partition ≥ 1 |
//!
//! Partition 0 of a topic is `t/<topic>` (and its consumers `c/`), as before partitions existed:
//! state written then reads as one partition. Every partition has a log id of its own (`TopicMeta::id`).
//!
//! Big-endian numbers keep sled's byte order equal to numeric order; topic ids are never reused,
//! so a deleted topic's files are simply unreachable until they are removed.

pub const APPLIED: &[u8] = b"m/applied";
pub const MEMBERSHIP: &[u8] = b"m/membership";
pub const CLUSTER_ID: &[u8] = b"m/cluster_id";
pub const NEXT_TOPIC_ID: &[u8] = b"m/next_topic_id";
pub const PRODUCER_COUNT: &[u8] = b"m/producers";
/// The next Kafka producer id to hand out.
pub const NEXT_KAFKA_PRODUCER_ID: &[u8] = b"m/next_kafka_producer_id";
/// Name of the directory under the state dir that holds the segment files of this state.
pub const DATA_DIR: &[u8] = b"m/data_dir";

pub const TOPIC_PREFIX: &[u8] = b"t/";
pub const CONSUMER_PREFIX: &[u8] = b"c/";
pub const PRODUCER_PREFIX: &[u8] = b"p/";
pub const PRODUCER_ORDER_PREFIX: &[u8] = b"q/";
pub const NODE_PREFIX: &[u8] = b"n/";
pub const GROUP_PREFIX: &[u8] = b"g/";
pub const PARTITION_COUNT_PREFIX: &[u8] = b"k/";
pub const PARTITION_PREFIX: &[u8] = b"r/";
pub const PARTITION_CONSUMER_PREFIX: &[u8] = b"d/";

fn with_topic(prefix: &[u8], topic: &str) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    k.extend_from_slice(topic.as_bytes());
    k
}

/// The partition count of a topic.
pub fn partition_count(name: &str) -> Vec<u8> {
    [PARTITION_COUNT_PREFIX, name.as_bytes()].concat()
}

/// The meta of one partition of a topic (`t/<topic>` for partition 0).
pub fn partition(name: &str, partition: u32) -> Vec<u8> {
    if partition == 0 {
        return topic(name);
    }
    let mut k = with_topic(PARTITION_PREFIX, name);
    k.extend_from_slice(&partition.to_be_bytes());
    k
}

/// Prefix of the partition-≥1 consumer keys of a topic.
pub fn partition_consumer_topic_prefix(topic: &str) -> Vec<u8> {
    with_topic(PARTITION_CONSUMER_PREFIX, topic)
}

/// A named consumer's position on one partition (`c/` for partition 0).
pub fn consumer_at(topic: &str, partition: u32, name: &str) -> Vec<u8> {
    if partition == 0 {
        return consumer(topic, name);
    }
    let mut k = partition_consumer_topic_prefix(topic);
    k.extend_from_slice(&partition.to_be_bytes());
    k.extend_from_slice(name.as_bytes());
    k
}

/// (topic, partition, consumer) of a `c/` or `d/` key.
pub fn parse_consumer_at(key: &[u8]) -> Option<(&str, u32, &str)> {
    if let Some((t, c)) = parse_consumer(key) {
        return Some((t, 0, c));
    }
    let rest = key.strip_prefix(PARTITION_CONSUMER_PREFIX)?;
    let len = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
    let topic = rest.get(2..2 + len)?;
    let p = u32::from_be_bytes(rest.get(2 + len..6 + len)?.try_into().ok()?);
    let consumer = rest.get(6 + len..)?;
    Some((
        std::str::from_utf8(topic).ok()?,
        p,
        std::str::from_utf8(consumer).ok()?,
    ))
}

pub fn topic(name: &str) -> Vec<u8> {
    [TOPIC_PREFIX, name.as_bytes()].concat()
}

pub fn topic_name(key: &[u8]) -> Option<&str> {
    key.strip_prefix(TOPIC_PREFIX)
        .and_then(|k| std::str::from_utf8(k).ok())
}

pub fn consumer_topic_prefix(topic: &str) -> Vec<u8> {
    let mut k = CONSUMER_PREFIX.to_vec();
    k.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    k.extend_from_slice(topic.as_bytes());
    k
}

pub fn consumer(topic: &str, consumer: &str) -> Vec<u8> {
    let mut k = consumer_topic_prefix(topic);
    k.extend_from_slice(consumer.as_bytes());
    k
}

/// (topic, consumer) of a `c/` key.
pub fn parse_consumer(key: &[u8]) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(CONSUMER_PREFIX)?;
    let len = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
    let topic = rest.get(2..2 + len)?;
    let consumer = &rest[2 + len..];
    Some((
        std::str::from_utf8(topic).ok()?,
        std::str::from_utf8(consumer).ok()?,
    ))
}

pub fn group_topic_prefix(topic: &str) -> Vec<u8> {
    let mut k = GROUP_PREFIX.to_vec();
    k.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    k.extend_from_slice(topic.as_bytes());
    k
}

pub fn group(topic: &str, group: &str) -> Vec<u8> {
    let mut k = group_topic_prefix(topic);
    k.extend_from_slice(group.as_bytes());
    k
}

/// The group name of a `g/` key under `prefix` ([`group_topic_prefix`]).
pub fn group_name<'a>(prefix: &[u8], key: &'a [u8]) -> Option<&'a str> {
    key.strip_prefix(prefix)
        .and_then(|k| std::str::from_utf8(k).ok())
}

pub fn producer(topic_id: u64, producer_id: &str) -> Vec<u8> {
    [
        PRODUCER_PREFIX,
        &topic_id.to_be_bytes(),
        producer_id.as_bytes(),
    ]
    .concat()
}

pub fn producer_order(last_index: u64, topic_id: u64, producer_id: &str) -> Vec<u8> {
    [
        PRODUCER_ORDER_PREFIX,
        &last_index.to_be_bytes(),
        &topic_id.to_be_bytes(),
        producer_id.as_bytes(),
    ]
    .concat()
}

/// (topic id, producer id) of a `q/` key.
pub fn parse_producer_order(key: &[u8]) -> Option<(u64, String)> {
    let rest = key.strip_prefix(PRODUCER_ORDER_PREFIX)?;
    if rest.len() < 16 {
        return None;
    }
    let id = u64::from_be_bytes(rest[8..16].try_into().ok()?);
    Some((id, String::from_utf8(rest[16..].to_vec()).ok()?))
}

pub fn node(raft_addr: &str) -> Vec<u8> {
    [NODE_PREFIX, raft_addr.as_bytes()].concat()
}

/// The first key after every key starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_keys_of_one_topic_share_a_prefix_not_shared_by_longer_topic_names() {
        let p = consumer_topic_prefix("ab");
        assert!(consumer("ab", "x").starts_with(&p));
        assert!(!consumer("abc", "x").starts_with(&p));
        assert_eq!(parse_consumer(&consumer("ab", "x/y")), Some(("ab", "x/y")));
        assert_eq!(parse_consumer(b"c/\x00\x09ab"), None);
    }

    #[test]
    fn partition_keys_keep_partition_zero_where_it_was() {
        assert_eq!(partition("ab", 0), topic("ab"));
        assert_eq!(consumer_at("ab", 0, "x"), consumer("ab", "x"));
        assert_eq!(
            parse_consumer_at(&consumer_at("ab", 3, "x/y")),
            Some(("ab", 3, "x/y"))
        );
        assert_eq!(
            parse_consumer_at(&consumer("ab", "x")),
            Some(("ab", 0, "x"))
        );
        assert!(partition("ab", 1).starts_with(PARTITION_PREFIX));
        assert!(topic_name(&partition("ab", 1)).is_none());
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(b"t/"), b"t0".to_vec());
        assert!(
            producer_order(u64::MAX, u64::MAX, "zz").as_slice()
                < prefix_end(PRODUCER_ORDER_PREFIX).as_slice()
        );
        assert_eq!(
            parse_producer_order(&producer_order(9, 3, "p-1")),
            Some((3, "p-1".to_string()))
        );
    }
}

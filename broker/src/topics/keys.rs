//! Key layout of the state-machine tree `sm`. One tree, prefixed keys, so that one `apply` is one
//! atomic sled batch.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `m/` | `m/applied`, `m/membership`, `m/cluster_id`, `m/next_topic_id`, `m/producers` | bincode |
//! | `t/` | `t/<topic>` | [`TopicMeta`](super::model::TopicMeta) |
//! | `d/` | `d/<topic id u64 BE><offset u64 BE>` | [`MessageRecord`](super::model::MessageRecord) |
//! | `c/` | `c/<u16 len><topic><consumer>` | next offset (u64) |
//! | `p/` | `p/<topic id><producer id>` | [`ProducerState`](super::model::ProducerState) |
//! | `q/` | `q/<last index u64 BE><topic id><producer id>` | — eviction order of producers |
//! | `n/` | `n/<raft addr>` | node id (u64) |
//!
//! Big-endian numbers keep sled's byte order equal to numeric order, so a topic's messages are one
//! contiguous range, and topic ids are never reused, so a deleted topic's data is simply unreachable.

pub const APPLIED: &[u8] = b"m/applied";
pub const MEMBERSHIP: &[u8] = b"m/membership";
pub const CLUSTER_ID: &[u8] = b"m/cluster_id";
pub const NEXT_TOPIC_ID: &[u8] = b"m/next_topic_id";
pub const PRODUCER_COUNT: &[u8] = b"m/producers";

pub const TOPIC_PREFIX: &[u8] = b"t/";
pub const DATA_PREFIX: &[u8] = b"d/";
pub const CONSUMER_PREFIX: &[u8] = b"c/";
pub const PRODUCER_PREFIX: &[u8] = b"p/";
pub const PRODUCER_ORDER_PREFIX: &[u8] = b"q/";
pub const NODE_PREFIX: &[u8] = b"n/";

pub fn topic(name: &str) -> Vec<u8> {
    [TOPIC_PREFIX, name.as_bytes()].concat()
}

pub fn topic_name(key: &[u8]) -> Option<&str> {
    key.strip_prefix(TOPIC_PREFIX)
        .and_then(|k| std::str::from_utf8(k).ok())
}

pub fn message(topic_id: u64, offset: u64) -> [u8; 18] {
    let mut k = [0u8; 18];
    k[..2].copy_from_slice(DATA_PREFIX);
    k[2..10].copy_from_slice(&topic_id.to_be_bytes());
    k[10..].copy_from_slice(&offset.to_be_bytes());
    k
}

/// (topic id, offset) of a `d/` key.
pub fn parse_message(key: &[u8]) -> Option<(u64, u64)> {
    let rest = key.strip_prefix(DATA_PREFIX)?;
    if rest.len() != 16 {
        return None;
    }
    Some((
        u64::from_be_bytes(rest[..8].try_into().ok()?),
        u64::from_be_bytes(rest[8..].try_into().ok()?),
    ))
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
    fn message_keys_sort_by_topic_then_offset() {
        assert!(message(1, 255) < message(1, 256));
        assert!(message(1, u64::MAX) < message(2, 0));
        assert_eq!(parse_message(&message(7, 42)), Some((7, 42)));
    }

    #[test]
    fn consumer_keys_of_one_topic_share_a_prefix_not_shared_by_longer_topic_names() {
        let p = consumer_topic_prefix("ab");
        assert!(consumer("ab", "x").starts_with(&p));
        assert!(!consumer("abc", "x").starts_with(&p));
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(b"d/"), b"d0".to_vec());
        assert!(message(u64::MAX, u64::MAX).as_slice() < prefix_end(DATA_PREFIX).as_slice());
    }
}

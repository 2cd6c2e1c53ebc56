//! The topic log: metadata (topics, consumer positions, consumer groups, producers) in the state-machine tree,
//! messages in per-topic segment files; how committed ops change them (`apply`), how readers see
//! them (`store`), retention arithmetic, and checkpoints that make applied state durable.
//!
//! ```text
//!  write: state_machine ─▶ apply::Applier (one method per command) ─▶ segment files (log.rs, segment.rs)
//!                       ─▶ TopicStore::publish ─▶ metadata overlay ─▶ wake waiters
//!  checkpoint (snapshot policy): TopicStore::checkpoint: fsync segments ─▶ sled batch ─▶ delete trimmed segments
//!  read:  api ─▶ TopicStore::{topic, read} ─▶ segment scan from the sparse index (blocking pool)
//! ```

pub mod apply;
mod codec;
pub mod group;
pub mod keys;
pub mod log;
pub mod model;
pub mod notify;
pub mod partitioner;
pub mod retention;
pub mod segment;
pub mod store;

pub use model::{Message, MessageRecord, PositionLag, TopicMeta};
pub use store::TopicStore;

/// Topic names: Kafka's rule (letters, digits, `.`, `_`, `-`; 1–249 chars), minus names the seed's
/// routes use at the top level.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    const RESERVED: &[&str] = &[
        "v1",
        "history",
        "livez",
        "readyz",
        "metrics",
        "openapi.json",
        "publish",
    ];
    if name.is_empty() || name.len() > 249 {
        return Err(format!(
            "topic name must be 1 to 249 characters, got {}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err("topic name cannot be \".\" or \"..\"".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name {name:?} has the character {c:?}; use letters, digits, '.', '_' or '-'"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!("topic name {name:?} is reserved"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_topic_name;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v2_eu-1").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("a/b").is_err());
        assert!(validate_topic_name("héllo").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
        assert!(validate_topic_name("history").is_err());
    }
}

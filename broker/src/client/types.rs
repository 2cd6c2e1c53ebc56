//! What the client sends and gets back (the v1 API's JSON).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A message to publish.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutMessage {
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
}

impl From<&str> for OutMessage {
    fn from(v: &str) -> Self {
        OutMessage {
            value: v.to_string(),
            ..Default::default()
        }
    }
}

impl From<String> for OutMessage {
    fn from(value: String) -> Self {
        OutMessage {
            value,
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub topic: String,
    pub base_offset: u64,
    pub offsets: Vec<u64>,
    #[serde(default)]
    pub duplicate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub offset: u64,
    pub value: String,
    pub key: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub timestamp_ms: u64,
    pub publisher: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadPage {
    pub messages: Vec<Message>,
    pub next_offset: u64,
    pub high_watermark: u64,
    pub log_start_offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub consumer: String,
    pub topic: String,
    pub offset: u64,
    pub committed: bool,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    pub lag: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub max_messages: Option<u64>,
    pub max_bytes: Option<u64>,
    pub max_age_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicInfo {
    pub name: String,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    pub messages: u64,
    pub bytes: u64,
    pub retention: Retention,
    pub created_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TopicList {
    pub topics: Vec<TopicInfo>,
}

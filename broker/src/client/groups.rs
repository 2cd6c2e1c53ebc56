//! Consumer groups (SPEC §9): fetch leased messages, acknowledge or hand them back, configure,
//! inspect and delete a group. Every call is safe to retry: a fetch retried after a lost answer
//! leaves its first messages to come back after `ack_wait_ms`; acks and nacks are idempotent.

use std::time::Duration;

use serde_json::json;

use super::{enc, Client, Result, Retry};
use crate::api::groups::{AckResponse, FetchResponse, GroupDeletedOut, GroupList};
pub use crate::api::groups::{GroupInfo, GroupMessage};
pub use crate::command::MessageRef;

/// A group's configuration for [`Client::configure_group`]; `None` fields take the defaults.
#[derive(Debug, Clone, Default)]
pub struct GroupSettings {
    pub ack_wait_ms: Option<u64>,
    pub max_deliveries: Option<u32>,
    pub dead_letter_topic: Option<String>,
    /// `"earliest"`, `"latest"` or an offset (as JSON); where a new group starts.
    pub start: Option<serde_json::Value>,
}

fn group_path(topic: &str, group: &str) -> String {
    format!("/v1/topics/{}/groups/{}", enc(topic), enc(group))
}

impl Client {
    /// Lease up to `max` messages of `group` (created with the defaults on first use); with
    /// `wait`, long-poll until something is deliverable.
    pub async fn group_fetch(
        &self,
        topic: &str,
        group: &str,
        max: u32,
        wait: Option<Duration>,
    ) -> Result<Vec<GroupMessage>> {
        let wait = wait.unwrap_or_default();
        let r: FetchResponse = self
            .call_with(
                reqwest::Method::POST,
                &format!("{}/fetch", group_path(topic, group)),
                Some(json!({"max_messages": max, "wait_ms": wait.as_millis() as u64})),
                Retry::Always,
                wait,
            )
            .await?;
        Ok(r.messages)
    }

    /// Acknowledge messages (one replicated op); returns how many were outstanding.
    pub async fn group_ack(
        &self,
        topic: &str,
        group: &str,
        messages: &[MessageRef],
    ) -> Result<u64> {
        let r: AckResponse = self
            .call(
                reqwest::Method::POST,
                &format!("{}/ack", group_path(topic, group)),
                Some(json!({ "messages": messages })),
                Retry::Always,
            )
            .await?;
        Ok(r.count)
    }

    /// Hand messages back, deliverable again after `delay` (default: at once).
    pub async fn group_nack(
        &self,
        topic: &str,
        group: &str,
        messages: &[MessageRef],
        delay: Option<Duration>,
    ) -> Result<u64> {
        let delay_ms = delay.unwrap_or_default().as_millis() as u64;
        let r: AckResponse = self
            .call(
                reqwest::Method::POST,
                &format!("{}/nack", group_path(topic, group)),
                Some(json!({ "messages": messages, "delay_ms": delay_ms })),
                Retry::Always,
            )
            .await?;
        Ok(r.count)
    }

    /// Create `group` or replace its configuration.
    pub async fn configure_group(
        &self,
        topic: &str,
        group: &str,
        s: &GroupSettings,
    ) -> Result<GroupInfo> {
        let mut body = serde_json::Map::new();
        if let Some(v) = s.ack_wait_ms {
            body.insert("ack_wait_ms".into(), v.into());
        }
        if let Some(v) = s.max_deliveries {
            body.insert("max_deliveries".into(), v.into());
        }
        if let Some(v) = &s.dead_letter_topic {
            body.insert("dead_letter_topic".into(), v.clone().into());
        }
        if let Some(v) = &s.start {
            body.insert("start".into(), v.clone());
        }
        self.call(
            reqwest::Method::PUT,
            &group_path(topic, group),
            Some(body.into()),
            Retry::Always,
        )
        .await
    }

    pub async fn group_info(&self, topic: &str, group: &str) -> Result<GroupInfo> {
        self.call(
            reqwest::Method::GET,
            &group_path(topic, group),
            None,
            Retry::Always,
        )
        .await
    }

    pub async fn list_groups(&self, topic: &str) -> Result<Vec<GroupInfo>> {
        let l: GroupList = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/topics/{}/groups", enc(topic)),
                None,
                Retry::Always,
            )
            .await?;
        Ok(l.groups)
    }

    /// Remove `group`; `false` when it did not exist.
    pub async fn delete_group(&self, topic: &str, group: &str) -> Result<bool> {
        let r: Result<GroupDeletedOut> = self
            .call(
                reqwest::Method::DELETE,
                &group_path(topic, group),
                None,
                Retry::Always,
            )
            .await;
        match r {
            Ok(d) => Ok(d.deleted),
            Err(super::Error::Api { code, .. }) if code == "group_not_found" => Ok(false),
            Err(e) => Err(e),
        }
    }
}

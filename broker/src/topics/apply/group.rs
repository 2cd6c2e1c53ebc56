//! [`ConfigureGroup`], [`LeaseMessages`], [`AckMessages`], [`NackMessages`], [`DeleteGroup`]:
//! consumer groups (the arithmetic is `topics::group`; here: storage, and the dead-letter
//! publish). "Now" is the entry's `ts_ms`, so every replica leases and expires the same.

use std::collections::BTreeMap;

use super::{Applier, At, Res};
use crate::command::{
    AckMessages, Acked, ConfigureGroup, DeleteGroup, GroupConfigured, GroupDeleted, GroupStart,
    LeaseMessages, Leased, MessageRef, NackMessages, Nacked, NewMessage, OpError, Publish,
};
use crate::topics::group::{GroupState, PartLog, MAX_OUTSTANDING};
use crate::topics::keys;

/// Headers a dead-lettered message carries (beside its own), naming where it came from.
pub const ORIGIN_TOPIC: &str = "jumpnet-origin-topic";
pub const ORIGIN_PARTITION: &str = "jumpnet-origin-partition";
pub const ORIGIN_OFFSET: &str = "jumpnet-origin-offset";
pub const ORIGIN_GROUP: &str = "jumpnet-origin-group";
pub const DELIVERIES: &str = "jumpnet-deliveries";

impl Applier<'_> {
    fn group(&mut self, topic: &str, group: &str) -> Res<Option<GroupState>> {
        let key = keys::group(topic, group);
        if let Some(g) = self.groups.get(&key) {
            return Ok(g.clone());
        }
        self.get(&key)
    }

    fn set_group(&mut self, topic: &str, group: &str, g: Option<GroupState>) {
        self.groups.insert(keys::group(topic, group), g);
    }

    /// Every group of `topic` goes (the topic is deleted).
    pub(super) fn delete_groups_of(&mut self, topic: &str) -> Res<()> {
        let prefix = keys::group_topic_prefix(topic);
        let mut gone = self.keys_with_prefix(&prefix)?;
        gone.extend(
            self.groups
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .cloned(),
        );
        for k in gone {
            self.groups.insert(k, None);
        }
        Ok(())
    }

    pub(super) fn configure_group(
        &mut self,
        c: ConfigureGroup,
        at: At,
    ) -> Res<Result<GroupConfigured, OpError>> {
        let Some(meta) = self.topic(&c.topic)? else {
            return Ok(Err(OpError::TopicNotFound { topic: c.topic }));
        };
        if let Some(mut g) = self.group(&c.topic, &c.group)? {
            g.config = c.config;
            self.set_group(&c.topic, &c.group, Some(g));
            return Ok(Ok(GroupConfigured { created: false }));
        }
        // Earliest and latest are each partition's own; an offset is partition 0's (checked
        // against it) and every other partition's as far as it has one.
        let start_at = |m: &PartLog| match c.start {
            GroupStart::Earliest => m.start,
            GroupStart::Latest => m.next,
            GroupStart::Offset(o) => o.clamp(m.start, m.next),
        };
        if let GroupStart::Offset(o) = c.start {
            if o > meta.next {
                return Ok(Err(OpError::OffsetOutOfRange {
                    offset: o,
                    log_start_offset: meta.start,
                    high_watermark: meta.next,
                }));
            }
        }
        let starts: Vec<(u32, u64)> = self
            .part_logs(&c.topic)?
            .iter()
            .map(|p| (p.partition, start_at(p)))
            .collect();
        let g = GroupState::new(c.config, at.ts_ms, starts);
        self.set_group(&c.topic, &c.group, Some(g));
        Ok(Ok(GroupConfigured { created: true }))
    }

    pub(super) fn lease_messages(
        &mut self,
        c: LeaseMessages,
        at: At,
    ) -> Res<Result<Leased, OpError>> {
        if self.topic(&c.topic)?.is_none() {
            return Ok(Err(OpError::TopicNotFound { topic: c.topic }));
        }
        let parts = self.part_logs(&c.topic)?;
        let mut g = match self.group(&c.topic, &c.group)? {
            Some(g) => g,
            None => GroupState::new(
                Default::default(),
                at.ts_ms,
                parts.iter().map(|p| (p.partition, p.start)),
            ),
        };
        // The entry's index picks the partition leases start at: successive fetches start at
        // successive partitions, the same on every replica.
        let out = g.lease(&parts, c.max, at.ts_ms, at.index);
        let deadline_ms = at.ts_ms + g.config.ack_wait_ms;
        if !out.exhausted.is_empty() {
            match g.config.dead_letter_topic.clone() {
                Some(dlq) => {
                    let n = self.dead_letter(&c.topic, &c.group, &dlq, &out.exhausted, at)?;
                    g.dead_lettered += n;
                    g.dropped += out.exhausted.len() as u64 - n;
                }
                None => g.dropped += out.exhausted.len() as u64,
            }
        }
        self.set_group(&c.topic, &c.group, Some(g));
        Ok(Ok(Leased {
            leases: out.leases,
            deadline_ms,
        }))
    }

    /// Publish the messages out of deliveries to `dlq` (created if missing), with headers naming
    /// their origin; returns how many were still in the topic to publish.
    fn dead_letter(
        &mut self,
        topic: &str,
        group: &str,
        dlq: &str,
        exhausted: &[(MessageRef, u32)],
        at: At,
    ) -> Res<u64> {
        let mut by_publisher: Vec<(Option<String>, NewMessage)> = Vec::new();
        for (m, deliveries) in exhausted {
            self.flush_part(topic, m.partition)?;
            let Some(meta) = self.part(topic, m.partition)? else {
                continue;
            };
            let Some(record) = self.store.record(&meta, m.offset)? else {
                continue;
            };
            let mut headers = record.headers.unwrap_or_default();
            let origin: BTreeMap<String, String> = [
                (ORIGIN_TOPIC, topic.to_string()),
                (ORIGIN_PARTITION, m.partition.to_string()),
                (ORIGIN_OFFSET, m.offset.to_string()),
                (ORIGIN_GROUP, group.to_string()),
                (DELIVERIES, deliveries.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            headers.extend(origin);
            by_publisher.push((
                record.publisher,
                NewMessage {
                    value: record.value.into(),
                    key: record.key,
                    headers: Some(headers),
                },
            ));
        }
        let n = by_publisher.len() as u64;
        for (publisher, m) in by_publisher {
            // One publish per message keeps each one's publisher; a fresh topic cannot refuse it.
            let _ = self.publish(
                Publish {
                    topic: dlq.to_string(),
                    messages: vec![m],
                    producer: None,
                    publisher,
                    partition: 0,
                    kafka: None,
                },
                at,
            )?;
        }
        Ok(n)
    }

    pub(super) fn ack_messages(&mut self, c: AckMessages) -> Res<Result<Acked, OpError>> {
        let mut g = match self.known_group(&c.topic, &c.group)? {
            Ok(g) => g,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = delivered(&g, &c.topic, &c.group, &c.messages) {
            return Ok(Err(e));
        }
        let mut count = 0;
        // A partition at its outstanding cap leases nothing new: long-polls of the group wait for
        // room, so an ack that makes some wakes them (other acks wake nobody: no herd per ack).
        let full = g.outstanding() >= MAX_OUTSTANDING;
        for m in &c.messages {
            if let Some(cur) = g.partitions.get_mut(&m.partition) {
                count += u64::from(cur.ack(m.offset));
            }
        }
        let room_made = full && count > 0;
        if count > 0 {
            self.set_group(&c.topic, &c.group, Some(g));
        }
        if room_made {
            self.touched.insert(c.topic);
        }
        Ok(Ok(Acked { count }))
    }

    pub(super) fn nack_messages(
        &mut self,
        c: NackMessages,
        at: At,
    ) -> Res<Result<Nacked, OpError>> {
        let mut g = match self.known_group(&c.topic, &c.group)? {
            Ok(g) => g,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = delivered(&g, &c.topic, &c.group, &c.messages) {
            return Ok(Err(e));
        }
        let until = at.ts_ms.saturating_add(c.delay_ms);
        let mut count = 0;
        for m in &c.messages {
            if let Some(cur) = g.partitions.get_mut(&m.partition) {
                count += u64::from(cur.nack(m.offset, until));
            }
        }
        if count > 0 {
            self.set_group(&c.topic, &c.group, Some(g));
            // Long-polls of the group look again.
            self.touched.insert(c.topic);
        }
        Ok(Ok(Nacked { count }))
    }

    pub(super) fn delete_group(&mut self, c: DeleteGroup) -> Res<Result<GroupDeleted, OpError>> {
        let existed = self.group(&c.topic, &c.group)?.is_some();
        if existed {
            self.set_group(&c.topic, &c.group, None);
        }
        Ok(Ok(GroupDeleted { existed }))
    }

    /// Every partition's log of `topic`, in partition order (as this call sees them).
    fn part_logs(&mut self, topic: &str) -> Res<Vec<PartLog>> {
        let mut out = Vec::new();
        for partition in 0..self.partitions(topic)? {
            if let Some(m) = self.part(topic, partition)? {
                out.push(PartLog {
                    partition,
                    start: m.start,
                    next: m.next,
                });
            }
        }
        Ok(out)
    }

    /// The group, or why an ack/nack cannot reach it.
    fn known_group(&mut self, topic: &str, group: &str) -> Res<Result<GroupState, OpError>> {
        if self.topic(topic)?.is_none() {
            return Ok(Err(OpError::TopicNotFound {
                topic: topic.to_string(),
            }));
        }
        Ok(self
            .group(topic, group)?
            .ok_or_else(|| OpError::GroupNotFound {
                topic: topic.to_string(),
                group: group.to_string(),
            }))
    }
}

/// Every message an ack or nack names was delivered to the group at some point (acks of messages
/// already done stay harmless: a retried ack succeeds); else the whole op is refused.
fn delivered(
    g: &GroupState,
    topic: &str,
    group: &str,
    messages: &[MessageRef],
) -> Result<(), OpError> {
    for m in messages {
        let ok = g
            .partitions
            .get(&m.partition)
            .is_some_and(|c| m.offset < c.next);
        if !ok {
            return Err(OpError::NotDelivered {
                topic: topic.to_string(),
                group: group.to_string(),
                partition: m.partition,
                offset: m.offset,
            });
        }
    }
    Ok(())
}

//! A consumer group's replicated state (SPEC §9), per partition: everything below `floor` is
//! done (acknowledged, dead-lettered, dropped or trimmed away); from `next` on nothing was ever
//! delivered; in between, each offset is either done (in `done`, kept as ranges) or outstanding (in
//! `slots`: leased, or waiting to be delivered again). The floor moves up as acknowledgements fill
//! the gaps, so the state grows with the messages in flight, never with the topic.
//!
//! Pure arithmetic on the entry's clock (`now` = `Command::ts_ms`): every replica computes the same.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{GroupConfig, Lease, MessageRef};
use crate::topics::model::TopicMeta;

/// Most outstanding (leased or waiting) messages per group, over all its partitions: a fetch
/// gets fewer while this many wait for their acknowledgement (JetStream's max ack pending).
pub const MAX_OUTSTANDING: usize = 10_000;

/// Most messages one fetch leases.
pub const MAX_LEASE: u32 = 1_000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    pub config: GroupConfig,
    pub created_ms: u64,
    pub partitions: BTreeMap<u32, Cursor>,
    /// Deliveries after the first, ever.
    pub redelivered: u64,
    pub dead_lettered: u64,
    /// Messages out of deliveries with no dead-letter topic.
    pub dropped: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Every offset below is done (`acked_floor`).
    pub floor: u64,
    /// The first offset never delivered.
    pub next: u64,
    /// Done offsets in `floor..next`, as ranges `start -> end` (exclusive), never adjacent.
    pub done: BTreeMap<u64, u64>,
    /// Outstanding offsets in `floor..next`.
    pub slots: BTreeMap<u64, Slot>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Deliveries so far.
    pub deliveries: u32,
    /// Leased: the lease's deadline; handed back: deliverable from then on.
    pub until_ms: u64,
    pub leased: bool,
}

impl Slot {
    pub fn in_flight(&self, now: u64) -> bool {
        self.leased && self.until_ms > now
    }
}

/// What a lease did besides leasing: messages out of deliveries, for the dead-letter topic (or
/// dropped), and how many deliveries they had.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LeaseOutcome {
    pub leases: Vec<Lease>,
    pub exhausted: Vec<(MessageRef, u32)>,
}

/// The numbers `GET .../groups/{group}` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupStats {
    pub pending: u64,
    pub in_flight: u64,
    pub acked_floor: u64,
    pub lag: u64,
}

impl Cursor {
    pub fn at(offset: u64) -> Cursor {
        Cursor {
            floor: offset,
            next: offset,
            ..Default::default()
        }
    }

    /// Mark `offset` (in `floor..next`) done and move the floor up over done offsets.
    fn mark_done(&mut self, offset: u64) {
        self.slots.remove(&offset);
        let (mut start, mut end) = (offset, offset + 1);
        if let Some((&s, &e)) = self.done.range(..=offset).next_back() {
            if e >= offset {
                start = s;
                end = end.max(e);
                self.done.remove(&s);
            }
        }
        if let Some(e) = self.done.remove(&end) {
            end = e;
        }
        self.done.insert(start, end);
        self.advance_floor();
    }

    fn advance_floor(&mut self) {
        while let Some(e) = self.done.remove(&self.floor) {
            self.floor = e;
        }
    }

    /// Messages before `start` are gone from the topic (retention): done without delivery.
    pub fn skip_below(&mut self, start: u64) {
        if self.floor >= start {
            return;
        }
        self.slots = self.slots.split_off(&start);
        let kept = self.done.split_off(&start);
        let straddling = self.done.values().copied().max().filter(|&e| e > start);
        self.done = kept;
        if let Some(e) = straddling {
            self.done.insert(start, e);
        }
        self.floor = start;
        self.next = self.next.max(start);
        self.advance_floor();
    }

    /// Whether `offset` was delivered and is neither acknowledged nor given up.
    pub fn outstanding(&self, offset: u64) -> bool {
        self.slots.contains_key(&offset)
    }

    /// Acknowledge: done for good. False when it was not outstanding (ignored).
    pub fn ack(&mut self, offset: u64) -> bool {
        if !self.outstanding(offset) {
            return false;
        }
        self.mark_done(offset);
        true
    }

    /// Hand back: deliverable again from `until_ms`. False when it was not outstanding.
    pub fn nack(&mut self, offset: u64, until_ms: u64) -> bool {
        match self.slots.get_mut(&offset) {
            Some(s) => {
                s.leased = false;
                s.until_ms = until_ms;
                true
            }
            None => false,
        }
    }

    /// Give up on `offset` (out of deliveries, or its message is gone).
    pub fn give_up(&mut self, offset: u64) {
        if self.outstanding(offset) {
            self.mark_done(offset);
        }
    }

    pub fn stats(&self, now: u64, high_watermark: u64) -> GroupStats {
        let in_flight = self.slots.values().filter(|s| s.in_flight(now)).count() as u64;
        let waiting = self.slots.len() as u64 - in_flight;
        let fresh = high_watermark.saturating_sub(self.next);
        GroupStats {
            pending: fresh + waiting,
            in_flight,
            acked_floor: self.floor,
            lag: fresh + waiting + in_flight,
        }
    }
}

/// One partition of the topic as a group sees it: its log holds `start..next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartLog {
    pub partition: u32,
    pub start: u64,
    pub next: u64,
}

impl PartLog {
    /// The partitions of a topic from its partition metas (in partition order, as
    /// `TopicStore::partition_metas` returns them).
    pub fn of(metas: &[TopicMeta]) -> Vec<PartLog> {
        metas
            .iter()
            .enumerate()
            .map(|(p, m)| PartLog {
                partition: p as u32,
                start: m.start,
                next: m.next,
            })
            .collect()
    }
}

impl GroupState {
    /// A new group whose cursor on each partition starts at the offset given for it (partitions
    /// not given start at their log start when first leased).
    pub fn new(
        config: GroupConfig,
        created_ms: u64,
        starts: impl IntoIterator<Item = (u32, u64)>,
    ) -> GroupState {
        GroupState {
            config,
            created_ms,
            partitions: starts
                .into_iter()
                .map(|(p, o)| (p, Cursor::at(o)))
                .collect(),
            ..Default::default()
        }
    }

    /// Outstanding (leased or waiting) messages over all partitions.
    pub fn outstanding(&self) -> usize {
        self.partitions.values().map(|c| c.slots.len()).sum()
    }

    /// Lease up to `max` messages of the topic whose partitions are `parts` at `now`: first the
    /// ones whose lease ran out or that were handed back, then new ones, each kind taken one per
    /// partition in turn (lowest offsets first within a partition), starting at partition
    /// `turn % parts.len()`: no partition waits while another has a backlog. Those out of
    /// deliveries are given up and returned in `exhausted`. At most [`MAX_OUTSTANDING`] messages
    /// of the group are outstanding at once.
    pub fn lease(&mut self, parts: &[PartLog], max: u32, now: u64, turn: u64) -> LeaseOutcome {
        let ack_wait = self.config.ack_wait_ms;
        let max_deliveries = self.config.max_deliveries.max(1);
        let max = max.min(MAX_LEASE) as usize;
        let mut out = LeaseOutcome::default();
        if parts.is_empty() {
            return out;
        }
        let first = (turn % parts.len() as u64) as usize;
        let order: Vec<PartLog> = parts[first..]
            .iter()
            .chain(&parts[..first])
            .copied()
            .collect();
        // Each partition's due offsets, lowest first (popped from the back).
        let mut due: Vec<Vec<u64>> = order
            .iter()
            .map(|part| {
                let c = self.partitions.entry(part.partition).or_default();
                c.skip_below(part.start);
                let mut d: Vec<u64> = c
                    .slots
                    .iter()
                    .filter(|(_, s)| s.until_ms <= now)
                    .map(|(o, _)| *o)
                    .collect();
                d.reverse();
                d
            })
            .collect();
        let mut progressed = true;
        while progressed && out.leases.len() < max {
            progressed = false;
            for (part, d) in order.iter().zip(due.iter_mut()) {
                if out.leases.len() >= max {
                    break;
                }
                let c = self
                    .partitions
                    .get_mut(&part.partition)
                    .expect("cursor made above");
                // This partition's next deliverable one (giving up those out of deliveries).
                while let Some(offset) = d.pop() {
                    let slot = c.slots[&offset];
                    if slot.deliveries >= max_deliveries {
                        c.give_up(offset);
                        out.exhausted.push((
                            MessageRef {
                                partition: part.partition,
                                offset,
                            },
                            slot.deliveries,
                        ));
                        continue;
                    }
                    let delivery = slot.deliveries + 1;
                    c.slots.insert(
                        offset,
                        Slot {
                            deliveries: delivery,
                            until_ms: now + ack_wait,
                            leased: true,
                        },
                    );
                    self.redelivered += 1;
                    out.leases.push(Lease {
                        partition: part.partition,
                        offset,
                        delivery,
                    });
                    progressed = true;
                    break;
                }
            }
        }
        let mut outstanding = self.outstanding();
        progressed = true;
        while progressed && out.leases.len() < max && outstanding < MAX_OUTSTANDING {
            progressed = false;
            for part in &order {
                if out.leases.len() >= max || outstanding >= MAX_OUTSTANDING {
                    break;
                }
                let c = self
                    .partitions
                    .get_mut(&part.partition)
                    .expect("cursor made above");
                if c.next >= part.next {
                    continue;
                }
                c.slots.insert(
                    c.next,
                    Slot {
                        deliveries: 1,
                        until_ms: now + ack_wait,
                        leased: true,
                    },
                );
                out.leases.push(Lease {
                    partition: part.partition,
                    offset: c.next,
                    delivery: 1,
                });
                c.next += 1;
                outstanding += 1;
                progressed = true;
            }
        }
        out
    }

    /// The cursor of partition `part` as a lease would see it (a partition the group never
    /// leased from starts at its log start).
    fn cursor(&self, part: &PartLog) -> Cursor {
        let mut c = self
            .partitions
            .get(&part.partition)
            .cloned()
            .unwrap_or_default();
        c.skip_below(part.start);
        c
    }

    /// Whether a lease at `now` would find something (so a long-poll need not propose one).
    pub fn has_deliverable(&self, now: u64, parts: &[PartLog]) -> bool {
        let room = self.outstanding() < MAX_OUTSTANDING;
        parts.iter().any(|part| {
            let c = self.partitions.get(&part.partition);
            let next = c.map_or(0, |c| c.next).max(part.start);
            (room && next < part.next)
                || c.is_some_and(|c| c.slots.values().any(|s| s.until_ms <= now))
        })
    }

    /// The earliest time after `now` something becomes deliverable again (a lease running out,
    /// a delayed hand-back): when a long-poll should look again.
    pub fn next_due(&self, now: u64) -> Option<u64> {
        self.partitions
            .values()
            .flat_map(|c| c.slots.values())
            .map(|s| s.until_ms)
            .filter(|&t| t > now)
            .min()
    }

    /// Stats of each partition of `parts`.
    pub fn partition_stats(&self, now: u64, parts: &[PartLog]) -> Vec<(u32, GroupStats)> {
        parts
            .iter()
            .map(|part| (part.partition, self.cursor(part).stats(now, part.next)))
            .collect()
    }

    /// Stats summed over all partitions (`acked_floor` is partition 0's: floors are per
    /// partition, [`Self::partition_stats`]).
    pub fn stats(&self, now: u64, parts: &[PartLog]) -> GroupStats {
        let mut total = GroupStats::default();
        for (p, s) in self.partition_stats(now, parts) {
            total.pending += s.pending;
            total.in_flight += s.in_flight;
            total.lag += s.lag;
            if p == 0 {
                total.acked_floor = s.acked_floor;
            }
        }
        total
    }
}

#[cfg(test)]
mod tests;

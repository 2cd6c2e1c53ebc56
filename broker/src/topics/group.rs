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

/// Most outstanding (leased or waiting) messages per group and partition: a fetch gets fewer
/// while this many wait for their acknowledgement (JetStream's max ack pending).
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

impl GroupState {
    pub fn new(config: GroupConfig, created_ms: u64, start: u64) -> GroupState {
        GroupState {
            config,
            created_ms,
            partitions: BTreeMap::from([(0, Cursor::at(start))]),
            ..Default::default()
        }
    }

    /// Lease up to `max` messages of partition `p` at `now`, whose log holds `log_start..high_watermark`:
    /// first the ones whose lease ran out or that were handed back (lowest offsets first), then
    /// new ones. Those out of deliveries are given up and returned in `exhausted`.
    pub fn lease(
        &mut self,
        p: u32,
        max: u32,
        now: u64,
        log_start: u64,
        high_watermark: u64,
    ) -> LeaseOutcome {
        let ack_wait = self.config.ack_wait_ms;
        let max_deliveries = self.config.max_deliveries.max(1);
        let max = max.min(MAX_LEASE) as usize;
        let c = self.partitions.entry(p).or_default();
        c.skip_below(log_start);
        let mut out = LeaseOutcome::default();
        let due: Vec<u64> = c
            .slots
            .iter()
            .filter(|(_, s)| s.until_ms <= now)
            .map(|(o, _)| *o)
            .collect();
        for offset in due {
            if out.leases.len() >= max {
                break;
            }
            let slot = c.slots[&offset];
            if slot.deliveries >= max_deliveries {
                c.give_up(offset);
                out.exhausted.push((
                    MessageRef {
                        partition: p,
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
                partition: p,
                offset,
                delivery,
            });
        }
        while out.leases.len() < max && c.next < high_watermark && c.slots.len() < MAX_OUTSTANDING {
            c.slots.insert(
                c.next,
                Slot {
                    deliveries: 1,
                    until_ms: now + ack_wait,
                    leased: true,
                },
            );
            out.leases.push(Lease {
                partition: p,
                offset: c.next,
                delivery: 1,
            });
            c.next += 1;
        }
        out
    }

    /// Whether a lease at `now` would find something (so a long-poll need not propose one).
    pub fn has_deliverable(&self, now: u64, log_start: u64, high_watermark: u64) -> bool {
        self.partitions.values().any(|c| {
            (c.next.max(log_start) < high_watermark && c.slots.len() < MAX_OUTSTANDING)
                || c.slots.values().any(|s| s.until_ms <= now)
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

    /// Stats over all partitions (the floor is partition 0's until partitions exist).
    pub fn stats(&self, now: u64, log_start: u64, high_watermark: u64) -> GroupStats {
        let mut total = GroupStats::default();
        for (p, c) in &self.partitions {
            let mut c = c.clone();
            c.skip_below(log_start);
            let s = c.stats(now, high_watermark);
            total.pending += s.pending;
            total.in_flight += s.in_flight;
            total.lag += s.lag;
            if *p == 0 {
                total.acked_floor = s.acked_floor;
            }
        }
        total
    }
}

#[cfg(test)]
mod tests;

//! Retention arithmetic: where a topic's log should start under its limits. The leader computes it
//! ([`due_trims`]) and proposes the [`Trim`]s through the log, so every replica cuts at the same
//! offset.

use super::{TopicMeta, TopicStore};
use crate::command::{Retention, Trim};

/// A topic seen through the store, for the retention arithmetic.
struct StoredTopic<'a> {
    store: &'a TopicStore,
    meta: &'a TopicMeta,
}

impl TopicView for StoredTopic<'_> {
    fn start(&self) -> u64 {
        self.meta.start
    }
    fn next(&self) -> u64 {
        self.meta.next
    }
    fn cum_bytes(&self, offset: u64) -> u64 {
        if offset >= self.meta.next {
            return self.meta.appended_bytes;
        }
        self.store
            .record(self.meta, offset)
            .ok()
            .flatten()
            .map_or(self.meta.appended_bytes, |r| r.cum_bytes)
    }
    fn ts_ms(&self, offset: u64) -> u64 {
        self.store
            .record(self.meta, offset)
            .ok()
            .flatten()
            .map_or(u64::MAX, |r| r.ts_ms)
    }
}

/// Trims due at `now` under each topic's retention (falling back to `default`), applied to every
/// partition on its own (a partition's id names it in the [`Trim`]).
pub fn due_trims(store: &TopicStore, default: Retention, now: u64) -> crate::Result<Vec<Trim>> {
    let mut trims = Vec::new();
    for (name, topic) in store.topics()? {
        let retention = topic.retention.or(default);
        if retention == Retention::default() {
            continue;
        }
        let mut parts = vec![topic];
        for p in 1..store.partitions(&name)? {
            parts.extend(store.partition(&name, p)?);
        }
        for meta in parts {
            let cut = trim_point(&StoredTopic { store, meta: &meta }, retention, now);
            if cut > meta.start {
                trims.push(Trim {
                    topic: name.clone(),
                    topic_id: meta.id,
                    new_start: cut,
                });
            }
        }
    }
    Ok(trims)
}

/// What the trim decision needs to know about a topic; lookups are by offset in `[start, next)`.
pub trait TopicView {
    fn start(&self) -> u64;
    fn next(&self) -> u64;
    /// Bytes of all messages before `offset` (for `offset == next`: all bytes ever appended).
    fn cum_bytes(&self, offset: u64) -> u64;
    /// Timestamp of the message at `offset` (non-decreasing in the offset).
    fn ts_ms(&self, offset: u64) -> u64;
}

/// The smallest log start that satisfies every limit of `retention` at time `now_ms`; never
/// before the current start and never past `next`.
pub fn trim_point(view: &impl TopicView, retention: Retention, now_ms: u64) -> u64 {
    let (start, next) = (view.start(), view.next());
    let mut cut = start;
    if let Some(max) = retention.max_messages {
        cut = cut.max(next.saturating_sub(max));
    }
    if let Some(max) = retention.max_bytes {
        // First offset o whose suffix [o, next) fits: cum(next) - cum(o) <= max.
        let total = view.cum_bytes(next);
        let need = total.saturating_sub(max);
        cut = cut.max(first_at_least(start, next, |o| view.cum_bytes(o) >= need));
    }
    if let Some(max_age) = retention.max_age_ms {
        let oldest_kept = now_ms.saturating_sub(max_age);
        cut = cut.max(first_at_least(start, next, |o| {
            view.ts_ms(o) >= oldest_kept
        }));
    }
    cut.min(next)
}

/// The first offset in `[lo, hi)` where the monotone predicate holds, or `hi`.
fn first_at_least(mut lo: u64, mut hi: u64, pred: impl Fn(u64) -> bool) -> u64 {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A topic as plain vectors: sizes and timestamps of messages `start..next`.
    #[derive(Debug)]
    struct Vecs {
        start: u64,
        sizes: Vec<u64>,
        ts: Vec<u64>,
        before: u64,
    }

    impl TopicView for Vecs {
        fn start(&self) -> u64 {
            self.start
        }
        fn next(&self) -> u64 {
            self.start + self.sizes.len() as u64
        }
        fn cum_bytes(&self, o: u64) -> u64 {
            self.before + self.sizes[..(o - self.start) as usize].iter().sum::<u64>()
        }
        fn ts_ms(&self, o: u64) -> u64 {
            self.ts[(o - self.start) as usize]
        }
    }

    fn topic() -> impl Strategy<Value = Vecs> {
        (
            0u64..1000,
            0u64..10_000,
            prop::collection::vec((0u64..500, 0u64..50), 0..60),
        )
            .prop_map(|(start, before, v)| {
                let mut t = 0;
                let (sizes, ts) = v
                    .into_iter()
                    .map(|(s, dt)| {
                        t += dt;
                        (s, t)
                    })
                    .unzip();
                Vecs {
                    start,
                    sizes,
                    ts,
                    before,
                }
            })
    }

    proptest! {
        #[test]
        fn trim_point_keeps_exactly_what_the_limits_allow(
            t in topic(),
            max_messages in prop::option::of(0u64..80),
            max_bytes in prop::option::of(0u64..20_000),
            max_age in prop::option::of(0u64..3_000),
            now in 0u64..3_000,
        ) {
            let r = Retention { max_messages, max_bytes, max_age_ms: max_age };
            let cut = trim_point(&t, r, now);
            prop_assert!(cut >= t.start() && cut <= t.next());
            // Every limit holds for what is kept...
            let kept = |from: u64| -> bool {
                max_messages.is_none_or(|m| t.next() - from <= m)
                    && max_bytes.is_none_or(|m| t.cum_bytes(t.next()) - t.cum_bytes(from) <= m)
                    && max_age.is_none_or(|a| (from..t.next()).all(|o| t.ts_ms(o) >= now.saturating_sub(a)))
            };
            prop_assert!(kept(cut));
            // ...and the cut is minimal: keeping one more message would break a limit.
            if cut > t.start() {
                prop_assert!(!kept(cut - 1));
            }
        }
    }

    #[test]
    fn no_limits_keep_everything() {
        let t = Vecs {
            start: 5,
            sizes: vec![1, 2, 3],
            ts: vec![1, 2, 3],
            before: 0,
        };
        assert_eq!(trim_point(&t, Retention::default(), 1_000_000), 5);
    }
}

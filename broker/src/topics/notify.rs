//! Wake-ups for readers waiting on a topic (long-poll, SSE): apply bumps a per-topic counter, a
//! waiter subscribes before it looks at the log, so no publish slips between look and wait.
//!
//! A topic's entry lives while someone waits on it: entries nobody holds a receiver of are dropped
//! on the next wake-up of that topic, and, so names never waited on again cannot pile up, by a
//! sweep whenever the map doubled since the last one (amortised O(1) per subscribe).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

#[derive(Default)]
pub struct Notifier {
    topics: Mutex<Topics>,
}

#[derive(Default)]
struct Topics {
    senders: HashMap<String, watch::Sender<u64>>,
    /// Entries left after the last sweep; the next one runs at twice as many (at least 64).
    swept_at: usize,
}

impl Topics {
    fn sweep(&mut self) {
        self.senders.retain(|_, tx| tx.receiver_count() > 0);
        self.swept_at = self.senders.len();
    }
}

impl Notifier {
    pub fn subscribe(&self, topic: &str) -> watch::Receiver<u64> {
        let mut topics = self.topics.lock().expect("notifier lock");
        if topics.senders.len() >= (topics.swept_at * 2).max(64) {
            topics.sweep();
        }
        topics
            .senders
            .entry(topic.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Topics with an entry (waited on, or not yet swept).
    pub fn entries(&self) -> usize {
        self.topics.lock().expect("notifier lock").senders.len()
    }

    pub fn notify<'a>(&self, touched: impl IntoIterator<Item = &'a String>) {
        let topics = &mut self.topics.lock().expect("notifier lock").senders;
        for t in touched {
            if let Some(tx) = topics.get(t) {
                if tx.receiver_count() == 0 {
                    topics.remove(t);
                } else {
                    tx.send_modify(|n| *n += 1);
                }
            }
        }
    }

    /// Wake every waiter (snapshot installed: anything may have changed).
    pub fn notify_all(&self) {
        let mut topics = self.topics.lock().expect("notifier lock");
        topics.sweep();
        for tx in topics.senders.values() {
            tx.send_modify(|n| *n += 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_nobody_waits_on_are_swept() {
        let n = Notifier::default();
        let kept = n.subscribe("kept");
        for i in 0..10_000 {
            drop(n.subscribe(&format!("gone-{i}")));
        }
        assert!(n.entries() <= 128, "{} entries for 1 waiter", n.entries());
        n.notify_all();
        assert_eq!(n.entries(), 1);
        assert!(kept.has_changed().unwrap());
    }
}

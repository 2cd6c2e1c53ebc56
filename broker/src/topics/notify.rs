//! Wake-ups for readers waiting on a topic (long-poll, SSE): apply bumps a per-topic counter, a
//! waiter subscribes before it looks at the log, so no publish slips between look and wait.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

#[derive(Default)]
pub struct Notifier {
    topics: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Notifier {
    pub fn subscribe(&self, topic: &str) -> watch::Receiver<u64> {
        let mut topics = self.topics.lock().expect("notifier lock");
        topics
            .entry(topic.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    pub fn notify<'a>(&self, touched: impl IntoIterator<Item = &'a String>) {
        let mut topics = self.topics.lock().expect("notifier lock");
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
        topics.retain(|_, tx| tx.receiver_count() > 0);
        for tx in topics.values() {
            tx.send_modify(|n| *n += 1);
        }
    }
}

//! Physical deletion of unreachable message data, off the apply path. A trim or a topic deletion
//! moves the log start (or drops the topic) atomically in apply; the keys themselves are removed
//! here, in chunks. A snapshot being built holds [`Deleter::pause`] so the ranges it streams stay put.

use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;

use super::keys;
use super::model::TopicMeta;

const CHUNK: usize = 1024;

#[derive(Clone)]
pub struct Deleter {
    tx: mpsc::Sender<(Vec<u8>, Vec<u8>)>,
    gate: Arc<Mutex<()>>,
}

impl Deleter {
    pub fn start(tree: sled::Tree) -> Deleter {
        let (tx, rx) = mpsc::channel::<(Vec<u8>, Vec<u8>)>();
        let gate = Arc::new(Mutex::new(()));
        let g = gate.clone();
        thread::Builder::new()
            .name("jumpnet-deleter".into())
            .spawn(move || {
                for (from, to) in rx {
                    if let Err(e) = delete_range(&tree, &g, &from, &to) {
                        tracing::warn!(error = %e, "deleting trimmed data failed; it stays unreachable");
                    }
                }
            })
            .expect("spawn deleter thread");
        Deleter { tx, gate }
    }

    pub fn delete(&self, ranges: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) {
        for r in ranges {
            let _ = self.tx.send(r);
        }
    }

    /// Hold deletion while the guard lives.
    pub fn pause(&self) -> MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// After a restart or a snapshot install, queue whatever is below a log start or belongs to no
    /// live topic (deletions that were queued but not done).
    pub fn queue_leftovers(&self, tree: &sled::Tree) -> crate::Result<()> {
        let mut live = std::collections::HashMap::new();
        for kv in tree.scan_prefix(keys::TOPIC_PREFIX) {
            let (_, v) = kv?;
            let meta: TopicMeta = super::apply::decode(&v)?;
            live.insert(meta.id, meta.start);
        }
        let mut cursor = keys::DATA_PREFIX.to_vec();
        let end = keys::prefix_end(keys::DATA_PREFIX);
        while let Some((k, _)) = tree.range(cursor.clone()..end.clone()).next().transpose()? {
            let Some((id, _)) = keys::parse_message(&k) else {
                break;
            };
            match live.get(&id) {
                Some(&start) => {
                    if tree
                        .range(keys::message(id, 0)..keys::message(id, start))
                        .next()
                        .is_some()
                    {
                        self.delete([(
                            keys::message(id, 0).to_vec(),
                            keys::message(id, start).to_vec(),
                        )]);
                    }
                }
                None => self.delete([(
                    keys::message(id, 0).to_vec(),
                    keys::message(id, u64::MAX).to_vec(),
                )]),
            }
            if id == u64::MAX {
                break;
            }
            cursor = keys::message(id + 1, 0).to_vec();
        }
        Ok(())
    }
}

fn delete_range(tree: &sled::Tree, gate: &Mutex<()>, from: &[u8], to: &[u8]) -> crate::Result<()> {
    loop {
        let _held = gate.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for k in tree.range(from..to).keys().take(CHUNK) {
            batch.remove(k?);
            n += 1;
        }
        tree.apply_batch(batch)?;
        if n < CHUNK {
            return Ok(());
        }
    }
}

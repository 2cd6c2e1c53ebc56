//! Group commit: one thread owns `fsync`. Writers put their bytes into sled (memory) and hand a
//! completion to this thread; it drains every completion queued so far, flushes sled once, and
//! completes them all. Under load, one fsync covers many appends and many publishes.
//!
//! ```text
//!   append(entries) ─▶ sled batch (memory) ─▶ queue ─▶ [flusher] drain all ─▶ db.flush() ─▶ callbacks
//! ```

use std::io;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use openraft::storage::LogFlushed;
use tokio::sync::oneshot;

use super::TypeConfig;
use crate::metrics::Metrics;

enum Job {
    Log(LogFlushed<TypeConfig>),
    Notify(oneshot::Sender<io::Result<()>>),
}

/// Handle to the flusher thread; cloning shares the thread. The thread ends when every handle is gone.
#[derive(Clone)]
pub struct Flusher {
    tx: mpsc::Sender<Job>,
}

impl Flusher {
    pub fn start(db: sled::Db, metrics: Metrics) -> Flusher {
        let (tx, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("jumpnet-fsync".into())
            .spawn(move || run(db, rx, metrics))
            .expect("spawn fsync thread");
        Flusher { tx }
    }

    /// Complete `callback` once everything written to sled so far is on disk.
    pub fn log_flushed(&self, callback: LogFlushed<TypeConfig>) {
        if let Err(mpsc::SendError(Job::Log(cb))) = self.tx.send(Job::Log(callback)) {
            cb.log_io_completed(Err(io::Error::other("fsync thread stopped")));
        }
    }

    /// Wait until everything written to sled so far is on disk.
    pub async fn flush(&self) -> io::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Job::Notify(tx))
            .map_err(|_| io::Error::other("fsync thread stopped"))?;
        rx.await
            .map_err(|_| io::Error::other("fsync thread stopped"))?
    }
}

fn run(db: sled::Db, rx: mpsc::Receiver<Job>, metrics: Metrics) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        jobs.extend(rx.try_iter());
        let started = Instant::now();
        let res = db.flush().map(|_| ());
        metrics
            .fsync_duration
            .observe(started.elapsed().as_secs_f64());
        for job in jobs {
            let r = match &res {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::other(e.to_string())),
            };
            match job {
                Job::Log(cb) => cb.log_io_completed(r),
                Job::Notify(tx) => {
                    let _ = tx.send(r);
                }
            }
        }
    }
}

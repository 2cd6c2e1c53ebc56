//! Group commit: one thread owns `fsync`. Appends write their entries to the Raft log file
//! (memory-speed) and hand a completion to this thread; it drains every completion queued so far,
//! syncs the log files once, and completes them all. Under load, one fsync covers many appends
//! and many publishes. Requests to make sled durable (the vote, checkpoints) are served the same
//! way with one `sled::Db::flush`.
//!
//! ```text
//!   append(entries) ─▶ write(wal) ─▶ queue ─▶ [fsync thread] drain all ─▶ fdatasync(wal) ─▶ callbacks
//!   save_vote ─▶ sled insert ─▶ queue ─────────────────────────────────▶ sled flush ─▶ fsync(db/*) ─▶ wake
//! ```
//!
//! sled 0.34 makes its writes "stable" with `sync_file_range`, which writes the pages but neither
//! the file's metadata nor the disk's write cache (its man page: no guarantee after a crash). A
//! power loss then lost a checkpoint the Raft log had already been purged against (the fault
//! campaign's torn WAL-rotation cut: the node could not restart). So after sled's flush, its files
//! are fsynced here as well.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Instant;

use openraft::storage::LogFlushed;
use tokio::sync::oneshot;

use super::wal::Wal;
use super::TypeConfig;
use crate::metrics::Metrics;

enum Job {
    Log(LogFlushed<TypeConfig>),
    Sled(oneshot::Sender<io::Result<()>>),
}

/// Handle to the fsync thread; the thread ends when every handle is gone.
#[derive(Clone)]
pub struct Flusher {
    tx: mpsc::Sender<Job>,
}

impl Flusher {
    /// `db_dir`: sled's directory, whose files are fsynced after each sled flush.
    pub fn start(db: sled::Db, db_dir: PathBuf, wal: Arc<Mutex<Wal>>, metrics: Metrics) -> Flusher {
        let (tx, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("jumpnet-fsync".into())
            .spawn(move || run(db, db_dir, wal, rx, metrics))
            .expect("spawn fsync thread");
        Flusher { tx }
    }

    /// Complete `callback` once every log entry written so far is on disk.
    pub fn log_flushed(&self, callback: LogFlushed<TypeConfig>) {
        if let Err(mpsc::SendError(Job::Log(cb))) = self.tx.send(Job::Log(callback)) {
            cb.log_io_completed(Err(io::Error::other("fsync thread stopped")));
        }
    }

    /// Wait until everything written to sled so far is on disk.
    pub async fn flush(&self) -> io::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Job::Sled(tx))
            .map_err(|_| io::Error::other("fsync thread stopped"))?;
        rx.await
            .map_err(|_| io::Error::other("fsync thread stopped"))?
    }
}

fn sync_wal(wal: &Mutex<Wal>) -> io::Result<()> {
    let (files, dir) = wal.lock().expect("wal lock").take_dirty();
    for f in files {
        f.sync()?;
    }
    if let Some(dir) = dir {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// fsync every file sled keeps in `dir` (and in its `blobs/`), and the directories.
fn sync_sled_files(dir: &Path) -> io::Result<()> {
    for d in [dir.to_path_buf(), dir.join("blobs")] {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            // sled removes its old snapshot files on its own thread: one gone meanwhile is fine.
            match std::fs::File::open(entry.path()) {
                Ok(f) => f.sync_all()?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        std::fs::File::open(&d)?.sync_all()?;
    }
    Ok(())
}

fn run(
    db: sled::Db,
    db_dir: PathBuf,
    wal: Arc<Mutex<Wal>>,
    rx: mpsc::Receiver<Job>,
    metrics: Metrics,
) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        jobs.extend(rx.try_iter());
        let started = Instant::now();
        let wal_res = sync_wal(&wal);
        metrics
            .fsync_duration
            .observe(started.elapsed().as_secs_f64());
        let sled_res = if jobs.iter().any(|j| matches!(j, Job::Sled(_))) {
            db.flush()
                .map(|_| ())
                .map_err(io::Error::other)
                .and_then(|()| sync_sled_files(&db_dir))
        } else {
            Ok(())
        };
        for job in jobs {
            let copy = |r: &io::Result<()>| {
                r.as_ref()
                    .map(|_| ())
                    .map_err(|e| io::Error::new(e.kind(), e.to_string()))
            };
            match job {
                Job::Log(cb) => cb.log_io_completed(copy(&wal_res)),
                Job::Sled(tx) => {
                    let _ = tx.send(copy(&wal_res).and(copy(&sled_res)));
                }
            }
        }
    }
}

//! The state machine's own executor: a dedicated thread driving a small tokio runtime with its own
//! blocking pool. Apply, checkpoints, snapshot installs and the disk reads of outgoing snapshots
//! run here, so however many API readers occupy the node's main blocking pool (slow clients,
//! streams), committed entries are still applied and the node keeps answering publishes.
//!
//! The thread ends (and its runtime with it) when the last handle is dropped.

use std::future::Future;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinError;

/// Handle to the state machine's executor; cheap to clone.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    handle: Handle,
    /// Dropped with the last handle: the thread then stops its runtime.
    _stop: oneshot::Sender<()>,
}

impl Executor {
    /// Start the thread `name` and its runtime.
    pub fn start(name: &str) -> std::io::Result<Executor> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name(format!("{name}-blocking"))
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                // Drives every task spawned on `handle` until the last handle is gone.
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Executor {
            inner: Arc::new(Inner {
                handle,
                _stop: stop,
            }),
        })
    }

    /// The runtime's handle (for `spawn_blocking` from poll functions).
    pub fn handle(&self) -> &Handle {
        &self.inner.handle
    }

    /// Run `f` on the executor and wait for it (from any runtime). Nested `spawn_blocking` and
    /// `tokio::fs` calls inside `f` use the executor's blocking pool.
    pub async fn run<F>(&self, f: F) -> Result<F::Output, JoinError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.handle.spawn(f).await
    }

    /// Run short blocking work on the executor's own thread (nothing else of the executor runs
    /// meanwhile) and wait for it: the thread is dedicated, so it may block briefly, and a hop to
    /// the blocking pool is saved. Long work (a snapshot's disk reads) goes to the blocking pool.
    pub async fn on_thread<T, F>(&self, f: F) -> Result<T, JoinError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.inner.handle.spawn(async move { f() }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The main runtime's blocking pool is full (one thread, held); the executor still runs work.
    #[test]
    fn runs_while_the_main_blocking_pool_is_exhausted() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let exec = Executor::start("test-sm").unwrap();
            let (release, held) = std::sync::mpsc::channel::<()>();
            let (started_tx, started) = oneshot::channel::<()>();
            let parked = tokio::task::spawn_blocking(move || {
                let _ = started_tx.send(());
                let _ = held.recv();
            });
            started.await.unwrap();
            // A second main-pool task would queue behind the parked one.
            let queued = tokio::task::spawn_blocking(|| 1);
            let v = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                exec.run(async {
                    let a = tokio::task::spawn_blocking(|| 40).await.unwrap();
                    let b = tokio::fs::metadata("/").await.is_ok() as i32;
                    a + b + 1
                }),
            )
            .await
            .expect("the executor is not starved by the main blocking pool")
            .unwrap();
            assert_eq!(v, 42);
            let here = exec
                .on_thread(|| std::thread::current().name().map(String::from))
                .await
                .unwrap();
            assert_eq!(here.as_deref(), Some("test-sm"));
            assert!(!queued.is_finished());
            release.send(()).unwrap();
            parked.await.unwrap();
            assert_eq!(queued.await.unwrap(), 1);
        });
    }
}

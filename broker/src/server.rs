//! Wiring of a whole node: [`spawn`] starts Raft, the raft port and the API and returns a handle
//! (what tests use); [`run`] is the binary's `serve`: spawn, wait for SIGTERM/Ctrl-C, shut down.
//!
//! Graceful shutdown, in order: `/readyz` turns 503 → a leader hands leadership over → requests
//! are still served for a grace period (so load balancers notice) → the API stops accepting and
//! finishes in-flight requests (long-polls and streams end) → a checkpoint → Raft stops → the
//! database is flushed.
//!
//! With `--kafka` the Kafka listener (`kafka_node`) runs beside the API and closes with it (over
//! TLS too when the API is).
//!
//! With `--tls-cert`/`--tls-key` the API is served by [`crate::tls::serve`] (the same router over
//! TLS connections, the same graceful shutdown); the files are loaded before anything starts.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::api::{self, AppState};
use crate::auth::Auth;
use crate::cluster::start::{start, Started};
use crate::cluster::Node;
use crate::tls::ServerTls;
use crate::write::Writer;
use crate::{Config, Error, Result};

/// How long in-flight requests get to finish once shutdown began.
const DRAIN: Duration = Duration::from_secs(10);

/// After Raft stopped on a fatal error: how long the process stays up (with `/livez` failing, so
/// probes and operators see why) before it exits non-zero for its supervisor to restart it.
pub const FATAL_EXIT_GRACE: Duration = Duration::from_secs(5);

pub struct Running {
    pub node: Arc<Node>,
    /// The typed write API of this node (what the HTTP handlers use).
    pub writer: Writer,
    pub api_addr: SocketAddr,
    api: JoinHandle<()>,
    kafka: Option<JoinHandle<()>>,
}

/// Start a node and serve its API in the background.
pub async fn spawn(config: Config) -> Result<Running> {
    let auth = match &config.auth_file {
        Some(p) => Auth::load(p)?,
        None => Auth::open(),
    };
    // Loaded before anything starts: a bad file is a one-line start-up error.
    let tls = config.tls.as_ref().map(ServerTls::load).transpose()?;
    let Started {
        node,
        writer,
        api_listener,
        kafka_listener,
    } = start(config).await?;
    // The Kafka listener shares the API's certificate (reloaded by the API's watch), without the
    // API's ALPN (Kafka clients offer none).
    let kafka_tls = tls.as_ref().map(|t| {
        let mut config = (*t.config).clone();
        config.alpn_protocols.clear();
        Arc::new(config)
    });
    let kafka = kafka_listener.map(|listener| {
        let (node, writer, auth) = (node.clone(), writer.clone(), Arc::new(auth.clone()));
        let scheme = if kafka_tls.is_some() { "TLS" } else { "plaintext" };
        let lifecycle = node.lifecycle().clone();
        let addr = node.config.kafka.as_ref().map(|k| k.advertise.clone());
        tracing::info!(kafka = ?listener.local_addr().ok(), advertised = ?addr, %scheme, "serving Kafka clients");
        tokio::spawn(async move {
            let closed = async move { lifecycle.api_closed().await };
            if let Err(e) =
                crate::kafka_node::serve(node, writer, auth, listener, kafka_tls, closed).await
            {
                tracing::error!(error = %e, "Kafka listener failed");
            }
        })
    });
    let api_addr = api_listener
        .local_addr()
        .map_err(|e| Error::io("api listener", e))?;
    let app = api::router(AppState::new(&node, writer.clone(), auth));
    let lifecycle = node.lifecycle().clone();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let metrics = node.node_metrics().clone();
    let api = tokio::spawn(async move {
        let closed = async move { lifecycle.api_closed().await };
        match tls {
            Some(tls) => crate::tls::serve(api_listener, app, tls, metrics, closed).await,
            None => {
                let serve = axum::serve(api_listener, app).with_graceful_shutdown(closed);
                if let Err(e) = serve.await {
                    tracing::error!(error = %e, "API server failed");
                }
            }
        }
    });
    tracing::info!(api = %api_addr, %scheme, "serving the API");
    Ok(Running {
        node,
        writer,
        api_addr,
        api,
        kafka,
    })
}

impl Running {
    /// Graceful shutdown (see the module docs).
    pub async fn shutdown(self) {
        let node = self.node;
        let lifecycle = node.lifecycle();
        lifecycle.drain();
        let grace = tokio::time::sleep(node.config.shutdown_grace);
        node.step_down_for_shutdown().await;
        grace.await;
        lifecycle.close_api();
        let kafka = async {
            if let Some(k) = self.kafka {
                let _ = k.await;
            }
        };
        if tokio::time::timeout(DRAIN, async { tokio::join!(self.api, kafka) })
            .await
            .is_err()
        {
            tracing::warn!("in-flight requests did not finish in time");
        }
        lifecycle.stop();
        checkpoint_before_exit(&node).await;
        if let Err(e) = node.raft().shutdown().await {
            tracing::warn!(error = %e, "raft did not stop cleanly");
        }
        let db = node.db.clone();
        let _ = tokio::task::spawn_blocking(move || db.flush()).await;
        tracing::info!("node stopped");
    }

    /// Stop without any courtesy (tests of crashes): no hand-over, no drain.
    pub async fn abort(self) {
        self.api.abort();
        if let Some(k) = &self.kafka {
            k.abort();
        }
        self.node.lifecycle().stop();
        let _ = self.node.raft().shutdown().await;
    }
}

/// A checkpoint now saves the next start re-applying the log written since the last one.
async fn checkpoint_before_exit(node: &Node) {
    let applied = node.applied.load(Ordering::Acquire);
    if node.metrics_now().snapshot.map_or(0, |s| s.index) >= applied
        || node.raft().trigger().snapshot().await.is_err()
    {
        return;
    }
    let wait = node.raft().wait(Some(Duration::from_secs(5)));
    if wait
        .metrics(
            |m| m.snapshot.map_or(0, |s| s.index) >= applied,
            "checkpoint before exit",
        )
        .await
        .is_err()
    {
        tracing::warn!("no checkpoint before exit; the next start re-applies the recent log");
    }
}

/// `jumpnet serve`: run until SIGTERM or Ctrl-C, or until Raft stops on a fatal error (then exit
/// non-zero after [`FATAL_EXIT_GRACE`]: a node whose Raft stopped only looks alive).
pub async fn run(config: Config) -> Result<()> {
    let running = spawn(config).await?;
    let node = running.node.clone();
    tokio::select! {
        () = wait_for_signal() => {}
        why = node.raft_failed() => return exit_after_fatal(running, why).await,
    }
    tracing::info!("shutdown requested");
    running.shutdown().await;
    Ok(())
}

async fn exit_after_fatal(running: Running, why: String) -> Result<()> {
    tracing::error!(
        "raft stopped on a fatal error, this node takes no part in the cluster until restarted; \
         /livez fails and the process exits in {}s: {why}",
        FATAL_EXIT_GRACE.as_secs()
    );
    tokio::time::sleep(FATAL_EXIT_GRACE).await;
    running.abort().await;
    Err(Error::Raft(format!("stopped on a fatal error: {why}")))
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

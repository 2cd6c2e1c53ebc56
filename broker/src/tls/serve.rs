//! axum's router over TLS connections: accept, handshake in the connection's own task, serve it
//! with hyper-util. Graceful shutdown like `axum::serve`: stop accepting, ask every connection to
//! finish its in-flight request, wait for them.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ServerTls;
use crate::metrics::Metrics;

/// A client that connects and says nothing is dropped after this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// What a plain-HTTP request to the TLS port gets (like Go's net/http) before the connection closes.
pub const PLAIN_HTTP_BODY: &str =
    "This port speaks TLS: use https:// (the client sent plain HTTP).\n";

/// Serve `app` on `listener` over TLS until `shutdown` completes, then drain.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: ServerTls,
    metrics: Metrics,
    shutdown: impl Future<Output = ()>,
) {
    let ServerTls { config, cert } = tls;
    metrics.enable_tls("api");
    cert.watch(metrics.clone(), "api");
    let failures = metrics.tls_handshake_failures.with_label_values(&["api"]);
    let acceptor = TlsAcceptor::from(config);
    let tracker = TaskTracker::new();
    let closing = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors and the like: do not spin.
                    tracing::warn!(error = %e, "accepting an API connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, app, failures, closing) = (
            acceptor.clone(),
            app.clone(),
            failures.clone(),
            closing.clone(),
        );
        tracker.spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&acceptor, tcp));
            let tls = tokio::select! {
                r = handshake => match r {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        failures.inc();
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        failures.inc();
                        tracing::debug!("TLS handshake timed out");
                        return;
                    }
                },
                () = closing.cancelled() => return,
            };
            serve_connection(tls, app, closing).await;
        });
    }
    drop(listener);
    closing.cancel();
    tracker.close();
    tracker.wait().await;
    drop(cert);
}

async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
) -> std::io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
    let mut first = [0u8; 1];
    let n = tcp.peek(&mut first).await?;
    if n == 1 && first[0] != TLS_HANDSHAKE {
        let mut tcp = tcp;
        // Take the request in, so closing does not reset the connection before the answer.
        let mut request = [0u8; 8192];
        let _ = tokio::io::AsyncReadExt::read(&mut tcp, &mut request).await;
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Connection: close\r\nContent-Length: {}\r\n\r\n{PLAIN_HTTP_BODY}",
            PLAIN_HTTP_BODY.len()
        );
        let _ = tcp.write_all(answer.as_bytes()).await;
        let _ = tcp.shutdown().await;
        return Err(std::io::Error::other("plain HTTP on the TLS port"));
    }
    acceptor.accept(tcp).await
}

async fn serve_connection(
    tls: tokio_rustls::server::TlsStream<TcpStream>,
    app: Router,
    closing: CancellationToken,
) {
    let service = TowerToHyperService::new(app);
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::trace!(error = %e, "API connection ended");
            }
            return;
        }
        () = closing.cancelled() => conn.as_mut().graceful_shutdown(),
    }
    if let Err(e) = conn.await {
        tracing::trace!(error = %e, "API connection ended");
    }
}

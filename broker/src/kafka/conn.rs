//! One Kafka client connection: read a frame, answer it, repeat. Requests of one connection are
//! handled one at a time, so responses leave in request order (Kafka's own rule: a broker reads a
//! connection's next request only after answering the previous one). A request the listener
//! cannot trust closes this connection with a logged reason; nothing else is affected.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::backend::KafkaBackend;
use super::error::ConnError;
use super::session::Session;
use super::{frame, handlers, versions, KafkaServer};

/// Decrements the connection gauge however the connection ends.
struct Open<'a>(&'a prometheus::IntGauge);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Serves one connection: a TCP stream, or a TLS stream over one once its handshake is done.
pub async fn run<B, S>(
    server: Arc<KafkaServer<B>>,
    socket: S,
    peer: SocketAddr,
    stop: CancellationToken,
) where
    B: KafkaBackend,
    S: AsyncRead + AsyncWrite + Unpin,
{
    server.metrics.connections.inc();
    let _open = Open(&server.metrics.connections);
    let mut session = Session::new(peer, server.backend.auth_required());
    let (mut rd, mut wr) = tokio::io::split(socket);
    let result: Result<(), ConnError> = async {
        loop {
            let frame = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                f = frame::read_frame(&mut rd, server.config.max_frame_bytes) => f?,
            };
            let Some(frame) = frame else { return Ok(()) };
            if session.raw_sasl_next {
                // After SaslHandshake v0: the bare SASL token; success is an empty frame.
                if !handlers::sasl::authenticate_raw(&*server.backend, &mut session, &frame) {
                    return Err(ConnError::AuthenticationFailed);
                }
                frame::write_frame(&mut wr, &0i32.to_be_bytes()).await?;
                continue;
            }
            let started = Instant::now();
            let request = frame::parse_request(frame)?;
            let api = versions::name(request.api);
            tracing::trace!(
                %peer,
                api,
                version = request.header.request_api_version,
                client = request.header.client_id.as_deref().unwrap_or(""),
                "kafka: request"
            );
            let answer = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                a = handlers::dispatch(&server, &mut session, request) => a,
            };
            server.metrics.requests.with_label_values(&[api]).inc();
            let response = answer?;
            if let Some(bytes) = response {
                frame::write_frame(&mut wr, &bytes).await?;
            }
            server
                .metrics
                .duration
                .with_label_values(&[api])
                .observe(started.elapsed().as_secs_f64());
            if session.close_after_response {
                return Err(ConnError::AuthenticationFailed);
            }
        }
    }
    .await;
    match result {
        Ok(()) => tracing::debug!(%peer, "kafka: connection closed"),
        Err(ConnError::Io(e)) => tracing::debug!(%peer, error = %e, "kafka: connection lost"),
        Err(e) => {
            server
                .metrics
                .errors
                .with_label_values(&["connection", e.kind()])
                .inc();
            tracing::warn!(%peer, error = %e, "kafka: closing connection");
        }
    }
    let _ = wr.shutdown().await;
}

//! One Kafka client connection: read a frame, answer it, repeat — with several Produce requests
//! in flight. Kafka's rules, and how they hold here:
//!
//! - **Responses leave in request order**, whatever order the commits complete in: answers wait in
//!   a [`FuturesOrdered`] and are written from its head.
//! - **A connection's records reach each partition in request order**: a Produce is *queued*
//!   (checked, decoded, in the batcher's queue) before the next frame is read, and only its commit
//!   is awaited concurrently ([`handlers::Reply::Later`]). Where queue order is not append order
//!   (a follower, whose forwards race to the leader: [`KafkaBackend::produce_keeps_queue_order`]),
//!   a Produce first waits until the earlier ones are answered.
//! - **Only Produce overlaps.** Any other request (Fetch long-polls, group calls, Metadata,
//!   SASL) waits until every earlier response is written, then is answered before the next
//!   frame is read: it sees the effect of the produces before it, and it holds no later request
//!   back beyond what Kafka's own one-at-a-time brokers do.
//! - **Bounded**: at most [`MAX_IN_FLIGHT`] requests, and request frames of less than one
//!   `max_frame_bytes` beyond the one being read, are in flight; past that no frame is read, so a
//!   fast producer is held back by TCP (backpressure), not by buffering.
//!
//! A failed Produce fails only itself (its partitions' error codes in its response; acks=0:
//! the connection closes once the earlier responses are written, Kafka's only signal). A request
//! the listener cannot trust closes this connection with a logged reason; nothing else is affected.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{self, FuturesOrdered, StreamExt};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::backend::KafkaBackend;
use super::error::ConnError;
use super::handlers::Reply;
use super::session::Session;
use super::{frame, handlers, versions, KafkaServer};

/// Requests of one connection in flight at once (read, not yet answered). Clients pipeline up to
/// 5 by default (Java's and librdkafka's idempotent `max.in.flight`); 8 covers them with room,
/// and is enough to keep the batcher's proposals full (`bench/README.md`, "Kafka pipelining").
/// Memory stays bounded by the frame-bytes cap as well: a connection holds less than twice
/// `max_frame_bytes` of request frames.
pub const MAX_IN_FLIGHT: usize = 8;

/// Decrements the connection gauge however the connection ends.
struct Open<'a>(&'a prometheus::IntGauge);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A request whose response is not written yet.
struct InFlight<'s> {
    api: &'static str,
    started: Instant,
    frame_bytes: usize,
    response: BoxFuture<'s, Result<Option<Bytes>, ConnError>>,
}

type Answered = (
    &'static str,
    Instant,
    usize,
    Result<Option<Bytes>, ConnError>,
);

/// The connection's write side and what it waits to write, in request order.
struct Responses<'s, B, W> {
    server: &'s KafkaServer<B>,
    wr: W,
    queue: FuturesOrdered<BoxFuture<'s, Answered>>,
    frame_bytes: usize,
}

impl<'s, B: KafkaBackend, W: AsyncWrite + Unpin> Responses<'s, B, W> {
    fn push(&mut self, r: InFlight<'s>) {
        self.frame_bytes += r.frame_bytes;
        self.queue.push_back(Box::pin(async move {
            (r.api, r.started, r.frame_bytes, r.response.await)
        }));
    }

    /// Room to read another request.
    fn room(&self) -> bool {
        self.queue.len() < MAX_IN_FLIGHT && self.frame_bytes < self.server.config.max_frame_bytes
    }

    /// Writes one answered request's response (an error ends the connection).
    async fn write(&mut self, (api, started, bytes, answer): Answered) -> Result<(), ConnError> {
        self.frame_bytes -= bytes;
        self.server.metrics.requests.with_label_values(&[api]).inc();
        if let Some(bytes) = answer? {
            frame::write_frame(&mut self.wr, &bytes).await?;
        }
        self.server
            .metrics
            .duration
            .with_label_values(&[api])
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Waits for every request in flight and writes their responses.
    async fn drain(&mut self) -> Result<(), ConnError> {
        while let Some(a) = self.queue.next().await {
            self.write(a).await?;
        }
        Ok(())
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
    let (rd, mut wr) = tokio::io::split(socket);
    // Stopping drops the requests in flight unanswered (their batches stay queued).
    let result = tokio::select! {
        _ = stop.cancelled() => Ok(()),
        r = serve(&server, rd, &mut wr, peer) => r,
    };
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

async fn serve<B, R, W>(
    server: &KafkaServer<B>,
    rd: R,
    wr: W,
    peer: SocketAddr,
) -> Result<(), ConnError>
where
    B: KafkaBackend,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut session = Session::new(peer, server.backend.auth_required());
    let max_frame = server.config.max_frame_bytes;
    // A stream, so a frame half read when a response is ready to write is kept, not lost.
    let frames = stream::unfold(rd, |mut rd| async move {
        let f = frame::read_frame(&mut rd, max_frame).await;
        Some((f, rd))
    });
    tokio::pin!(frames);
    let mut out = Responses {
        server,
        wr,
        queue: FuturesOrdered::new(),
        frame_bytes: 0,
    };
    loop {
        let read = tokio::select! {
            biased;
            Some(a) = out.queue.next(), if !out.queue.is_empty() => {
                out.write(a).await?;
                continue;
            }
            f = frames.next(), if out.room() => f,
        };
        // The client is done sending: answer what it sent, then close.
        let Some(frame) = read.transpose()?.flatten() else {
            return out.drain().await;
        };
        if session.raw_sasl_next {
            // After SaslHandshake v0: the bare SASL token; success is an empty frame.
            out.drain().await?;
            if !handlers::sasl::authenticate_raw(&*server.backend, &mut session, &frame) {
                return Err(ConnError::AuthenticationFailed);
            }
            frame::write_frame(&mut out.wr, &0i32.to_be_bytes()).await?;
            continue;
        }
        let started = Instant::now();
        let frame_bytes = frame.len();
        let request = frame::parse_request(frame)?;
        let api = versions::name(request.api);
        tracing::trace!(
            %peer,
            api,
            version = request.header.request_api_version,
            client = request.header.client_id.as_deref().unwrap_or(""),
            "kafka: request"
        );
        let pipelined =
            request.api == ApiKey::Produce && server.backend.produce_keeps_queue_order();
        if !pipelined {
            out.drain().await?;
        }
        let response = match handlers::dispatch(server, &mut session, request).await? {
            Reply::Later(f) => f,
            Reply::Now(b) => Box::pin(async move { Ok(b) }),
        };
        out.push(InFlight {
            api,
            started,
            frame_bytes,
            response,
        });
        if !pipelined {
            out.drain().await?;
        }
        if session.close_after_response {
            return Err(ConnError::AuthenticationFailed);
        }
    }
}

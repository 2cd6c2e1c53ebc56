//! # The Kafka wire-protocol listener (SPEC §8)
//!
//! Existing Kafka clients (librdkafka/kcat/confluent-kafka, kafka-python, KafkaJS, the Java
//! client) talk to a Jumpnet node unchanged. The module depends on the rest of the broker only
//! through [`backend::KafkaBackend`]; everything Kafka-specific lives here.
//!
//! ```text
//!  TCP [─▶ TLS] ─▶ conn (one task per connection; up to 8 Produce in flight, responses in order)
//!          └─ frame (size check before any buffer, header, API/version check)
//!              └─ handlers::dispatch ─▶ handlers::<api> ─▶ KafkaBackend (produce, fetch, ...)
//!                                                     └─▶ coordinator (groups, on the leader)
//!  Produce: records::decode_produce (CRC, bounded inflate) ─▶ backend.queue_produce (in request
//!           order, before the next frame is read) ─▶ [in flight: quorum commit] ─▶ response
//!           written when every earlier one is (on a follower: one commit at a time)
//!  other:   wait until every earlier response is written, then answer before reading on
//!  Fetch:   backend.subscribe ─▶ backend.fetch ─▶ wait for a wake-up or max_wait ─▶ records::encode_fetch
//! ```
//!
//! A pipelining client (librdkafka's `max.in.flight`, Java's) gets several Produce requests into
//! the write batcher at once instead of one quorum round trip per request; the rules that keep
//! Kafka's guarantees (order of responses and of records, failures confined to their request, the
//! in-flight caps) are in [`conn`].
//!
//! | module | what it is |
//! |---|---|
//! | [`backend`] | the trait the broker implements, with its data types and typed errors |
//! | [`frame`], [`conn`] | framing and the per-connection loop (pipelining, SASL gate, metrics) |
//! | [`versions`] | the ApiVersions table and why each range |
//! | [`handlers`] | one file per API family |
//! | [`coordinator`] | the classic consumer-group coordinator |
//! | [`records`], [`compression`] | record batches v2 and their codecs |
//! | [`metrics`] | `jumpnet_kafka_*` |
//! | [`testing`] | an in-memory backend for tests and the test server |
//!
//! ## Untrusted counts
//! kafka-protocol 0.18's generated decoders size a vector from an array's wire count before
//! reading its elements (`Vec::with_capacity(n)`), so a 20-byte request may claim 2^31 elements.
//! The listener survives that only because the jumpnet binary's allocator (mimalloc) reserves such
//! a never-touched block without committing memory (its mmap uses `MAP_NORESERVE`) and the decode
//! fails at the first missing element; a platform allocator under `vm.overcommit_memory=0` would
//! abort the process instead. The unit tests run on mimalloc for that reason
//! (`huge_array_counts_in_tiny_frames_are_survived`). Record batches, decoded by the same crate,
//! are checked here before decoding (`records::check_records`), as are frame sizes (`frame`).

pub mod backend;
pub mod compression;
pub mod conn;
pub mod coordinator;
pub mod error;
pub mod frame;
pub mod handlers;
pub mod metrics;
#[cfg(test)]
mod pipeline_tests;
pub mod records;
pub mod session;
pub mod testing;
#[cfg(test)]
mod tls_tests;
pub mod versions;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::records::Compression;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use backend::KafkaBackend;
pub use coordinator::GroupConfig;
pub use metrics::KafkaMetrics;

/// Listener limits and behaviour.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Largest request frame accepted (Kafka's socket.request.max.bytes); larger closes the
    /// connection before anything is allocated for it.
    pub max_frame_bytes: usize,
    /// Largest records section a produced batch may inflate to (decompression-bomb bound).
    pub max_batch_bytes: usize,
    /// Upper bound on a Fetch's `max_wait_ms`.
    pub max_fetch_wait: Duration,
    /// Codec of the batches Fetch returns (stored records are kept uncompressed).
    pub fetch_compression: Compression,
    /// Most partitions a topic may have (CreateTopics, CreatePartitions): each costs state on
    /// every node, and a request must not be able to claim billions of them.
    pub max_partitions: u32,
    /// Metadata for an unknown topic creates it (1 partition) when the client allows it and may
    /// publish: Kafka's auto.create.topics.enable, and the HTTP API's create-on-first-publish.
    pub auto_create_topics: bool,
    pub groups: GroupConfig,
    /// How often group sessions and rebalance deadlines are checked.
    pub group_tick: Duration,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            max_frame_bytes: 16 * 1024 * 1024,
            max_batch_bytes: 16 * 1024 * 1024,
            max_fetch_wait: Duration::from_secs(30),
            fetch_compression: Compression::None,
            max_partitions: 1000,
            auto_create_topics: true,
            groups: GroupConfig::default(),
            group_tick: Duration::from_millis(100),
        }
    }
}

/// TLS on the Kafka listener (SPEC §10: `--tls-cert`/`--tls-key` serve the API and Kafka): the
/// acceptor carries the node's reloading certificate (and client-CA verifier), so a rotation
/// reaches Kafka clients as it reaches HTTP ones. Kafka and plaintext are never mixed on one port.
#[derive(Clone)]
pub struct KafkaTls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// Failed or timed-out handshakes (`jumpnet_tls_handshake_failures_total{listener="kafka"}`).
    pub failures: prometheus::IntCounter,
}

/// A client that connects to the TLS port and completes no handshake is dropped after this.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One node's Kafka listener state, shared by its connections.
pub struct KafkaServer<B> {
    pub backend: Arc<B>,
    pub config: KafkaConfig,
    pub metrics: KafkaMetrics,
    pub coordinator: coordinator::Coordinator,
}

impl<B: KafkaBackend> KafkaServer<B> {
    pub fn new(backend: Arc<B>, config: KafkaConfig, metrics: KafkaMetrics) -> Arc<KafkaServer<B>> {
        let coordinator = coordinator::Coordinator::new(config.groups);
        Arc::new(KafkaServer {
            backend,
            config,
            metrics,
            coordinator,
        })
    }

    /// Aligns the group coordinator with leadership; called before every group request and on
    /// every tick, so a node that lost leadership answers NOT_COORDINATOR at once.
    pub fn sync_leadership(&self) -> backend::ClusterView {
        let view = self.backend.cluster();
        self.coordinator
            .set_leadership(view.is_leader().then_some(view.leader_epoch));
        view
    }

    /// Serves Kafka clients on `listener` until `shutdown` resolves; then stops accepting and
    /// closes every connection (requests in flight are dropped unanswered; what they queued
    /// stays queued).
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.serve_with(listener, None, shutdown).await
    }

    /// [`Self::serve`] over TLS: every connection's handshake runs in its own task (bounded by
    /// [`TLS_HANDSHAKE_TIMEOUT`]); one that fails is counted, logged and closed.
    pub async fn serve_tls(
        self: Arc<Self>,
        listener: TcpListener,
        tls: KafkaTls,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.serve_with(listener, Some(tls), shutdown).await
    }

    async fn serve_with(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Option<KafkaTls>,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let stop = CancellationToken::new();
        let ticker = tokio::spawn({
            let server = self.clone();
            let stop = stop.clone();
            async move {
                let mut every = tokio::time::interval(server.config.group_tick);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = every.tick() => {
                            server.sync_leadership();
                            server.coordinator.tick();
                        }
                    }
                }
            }
        });
        let mut connections = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        let result = loop {
            tokio::select! {
                _ = &mut shutdown => break Ok(()),
                accepted = listener.accept() => match accepted {
                    Ok((socket, peer)) => {
                        let _ = socket.set_nodelay(true);
                        let (server, stop) = (self.clone(), stop.clone());
                        match tls.clone() {
                            None => connections.spawn(conn::run(server, socket, peer, stop)),
                            Some(tls) => connections.spawn(async move {
                                let handshake = tokio::time::timeout(
                                    TLS_HANDSHAKE_TIMEOUT,
                                    tls.acceptor.accept(socket),
                                );
                                let stream = tokio::select! {
                                    _ = stop.cancelled() => return,
                                    h = handshake => h,
                                };
                                match stream {
                                    Ok(Ok(stream)) => conn::run(server, stream, peer, stop).await,
                                    Ok(Err(e)) => {
                                        tls.failures.inc();
                                        tracing::info!(%peer, error = %e,
                                            "kafka: TLS handshake failed (a plaintext client on the TLS port, or its certificate refused)");
                                    }
                                    Err(_) => {
                                        tls.failures.inc();
                                        tracing::info!(%peer, "kafka: no TLS handshake in time");
                                    }
                                }
                            }),
                        };
                    }
                    // Out of file descriptors and the like: keep the listener, slow down.
                    Err(e) => {
                        tracing::warn!(error = %e, "kafka: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        };
        stop.cancel();
        while connections.join_next().await.is_some() {}
        let _ = ticker.await;
        result
    }
}

/// The unit tests run on the jumpnet binary's allocator: the listener's survival of absurd
/// array counts in requests depends on it (module docs, "Untrusted counts").
#[cfg(test)]
#[global_allocator]
static TEST_ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

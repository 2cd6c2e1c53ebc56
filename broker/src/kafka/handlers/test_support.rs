//! A listener over the in-memory backend on a real socket, and a minimal Kafka client that
//! speaks to it with the crate's request encoders: the handler tests go through framing, the
//! connection loop and dispatch exactly as clients do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::kafka::backend::Principal;
use crate::kafka::testing::MemoryBackend;
use crate::kafka::{compression, KafkaConfig, KafkaMetrics, KafkaServer, KafkaTls};

/// Upper bound on any single wait in these tests (generous: the machine is shared).
pub const PATIENCE: Duration = Duration::from_secs(20);

pub struct Harness {
    pub backend: Arc<MemoryBackend>,
    pub server: Arc<KafkaServer<MemoryBackend>>,
    pub registry: prometheus::Registry,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A config for fast tests: groups rebalance at once, sessions may be short.
pub fn fast_config() -> KafkaConfig {
    let mut c = KafkaConfig::default();
    c.groups.initial_rebalance_delay = Duration::ZERO;
    c.groups.min_session_timeout = Duration::from_millis(100);
    c.group_tick = Duration::from_millis(20);
    c
}

impl Harness {
    pub async fn start(config: KafkaConfig, tokens: Option<Vec<(String, Principal)>>) -> Harness {
        Harness::start_with(config, tokens, None).await
    }

    /// A listener that speaks TLS only.
    pub async fn start_tls(config: KafkaConfig, tls: KafkaTls) -> Harness {
        Harness::start_with(config, None, Some(tls)).await
    }

    async fn start_with(
        config: KafkaConfig,
        tokens: Option<Vec<(String, Principal)>>,
        tls: Option<KafkaTls>,
    ) -> Harness {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("jumpnet_broker=debug")
            .try_init();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut backend = MemoryBackend::new("127.0.0.1", addr.port());
        if let Some(t) = tokens {
            backend = backend.with_tokens(t);
        }
        let backend = Arc::new(backend);
        let (metrics, registry) = KafkaMetrics::standalone();
        let server = KafkaServer::new(backend.clone(), config, metrics);
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        match tls {
            None => tokio::spawn(server.clone().serve(listener, stopped)),
            Some(tls) => tokio::spawn(server.clone().serve_tls(listener, tls, stopped)),
        };
        Harness {
            backend,
            server,
            registry,
            addr,
            stop: Some(stop),
        }
    }

    pub async fn client(&self) -> Client {
        Client::over(TcpStream::connect(self.addr).await.expect("connect"))
    }

    /// The value of a metric series in this server's registry (0 when absent).
    pub fn metric(&self, name: &str, label: Option<(&str, &str)>) -> f64 {
        let families = self.registry.gather();
        let Some(f) = families.iter().find(|f| f.name() == name) else {
            return 0.0;
        };
        f.get_metric()
            .iter()
            .filter(|m| {
                label.is_none_or(|(k, v)| {
                    m.get_label()
                        .iter()
                        .any(|l| l.name() == k && l.value() == v)
                })
            })
            .map(|m| {
                if m.get_counter().has_value() {
                    m.get_counter().value()
                } else {
                    m.get_gauge().value()
                }
            })
            .sum()
    }
}

/// A byte stream a test client talks over (TCP, or TLS over TCP).
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for S {}

pub struct Client {
    pub stream: Box<dyn Stream>,
    correlation: i32,
}

impl Client {
    pub fn over(stream: impl Stream + 'static) -> Client {
        Client {
            stream: Box::new(stream),
            correlation: 0,
        }
    }

    /// Sends a request at `version` and decodes its response.
    pub async fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        self.send(req, version).await;
        self.receive::<R>(version).await.expect("a response")
    }

    pub async fn send<R: Request>(&mut self, req: &R, version: i16) {
        self.correlation += 1;
        let api = ApiKey::try_from(R::KEY).expect("known key");
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("unit-test")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, api.request_header_version(version))
            .expect("header");
        req.encode(&mut body, version).expect("body");
        self.send_raw(&body).await;
    }

    pub async fn send_raw(&mut self, body: &[u8]) {
        let mut frame = BytesMut::with_capacity(4 + body.len());
        frame.put_i32(body.len() as i32);
        frame.put_slice(body);
        self.stream.write_all(&frame).await.expect("write");
    }

    /// The next response, or `None` when the server closed the connection.
    pub async fn receive<R: Request>(&mut self, version: i16) -> Option<R::Response> {
        let mut frame = self.read_frame().await?;
        let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))
            .expect("response header");
        assert_eq!(
            header.correlation_id, self.correlation,
            "responses come back in order"
        );
        Some(R::Response::decode(&mut frame, version).expect("response body"))
    }

    /// The next response with its correlation id (requests in flight: `send` several first).
    pub async fn receive_any<R: Request>(&mut self, version: i16) -> Option<(i32, R::Response)> {
        let mut frame = self.read_frame().await?;
        let header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))
            .expect("response header");
        let body = R::Response::decode(&mut frame, version).expect("response body");
        Some((header.correlation_id, body))
    }

    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let read = async {
            let size = self.stream.read_i32().await.ok()?;
            let mut buf = vec![0u8; size as usize];
            self.stream.read_exact(&mut buf).await.ok()?;
            Some(Bytes::from(buf))
        };
        tokio::time::timeout(PATIENCE, read)
            .await
            .expect("the server answers or closes in time")
    }

    /// True once the server has closed this connection.
    pub async fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(PATIENCE, self.stream.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// A producer's batch identity: (producer id, epoch, base sequence).
pub type Idem = (i64, i16, i32);

/// A v2 batch of `(key, value)` records with a header, as a producer would write it.
pub fn batch(records: &[(&str, &str)], codec: Compression, producer: Option<Idem>) -> Bytes {
    let (pid, epoch, seq) = producer.unwrap_or((-1, -1, -1));
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: if pid >= 0 {
                seq + i as i32
            } else {
                i as i32 - 1
            },
            timestamp: 1_700_000_000_000 + i as i64,
            key: (!k.is_empty()).then(|| Bytes::from(k.to_string())),
            value: Some(Bytes::from(v.to_string())),
            headers: IndexMap::from([(
                StrBytes::from_static_str("origin"),
                Some(Bytes::from_static(b"unit")),
            )]),
        })
        .collect();
    let mut buf = BytesMut::new();
    let compress = |raw: &mut BytesMut, out: &mut BytesMut, c: Compression| -> anyhow::Result<()> {
        out.extend_from_slice(&compression::compress(c, raw)?);
        Ok(())
    };
    RecordBatchEncoder::encode_with_custom_compression(
        &mut buf,
        &recs,
        &RecordEncodeOptions {
            version: 2,
            compression: codec,
        },
        Some(compress),
    )
    .expect("encode batch");
    buf.freeze()
}

/// Decodes a fetched records section into (offset, key, value) triples.
pub fn fetched(records: &Option<Bytes>) -> Vec<(i64, String, String)> {
    let Some(bytes) = records else { return vec![] };
    let mut buf = bytes.clone();
    let mut out = Vec::new();
    while buf.has_remaining() {
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf)
            .expect("fetched batch decodes");
        for r in set.records {
            let s = |b: Option<Bytes>| {
                b.map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default()
            };
            out.push((r.offset, s(r.key), s(r.value)));
        }
    }
    out
}

//! A Rust client of the v1 API: publish (single, batch, exactly-once), read from an offset,
//! long-poll, follow a topic over SSE, consumer positions, consumer groups (work sharing), topics
//! and cluster status.
//!
//! It knows every node's address; a request that finds a node down or without a leader (503)
//! moves to the next node after a short backoff. Writes are retried only when that is safe: when
//! nothing reached a node, or when the write carries a producer id and sequence (the broker
//! answers a retry with the first result), which is what [`Producer`] does.
//!
//! ```no_run
//! # async fn demo() -> jumpnet_broker::client::Result<()> {
//! use jumpnet_broker::client::{Client, Producer};
//! let client = Client::builder(["http://127.0.0.1:9090", "http://127.0.0.1:9091"]).build()?;
//! let producer = Producer::new(client.clone());
//! let sent = producer.send("orders", vec!["hello".into()]).await?;
//! let page = client.read("orders", Some(sent.base_offset), 10, None).await?;
//! # Ok(()) }
//! ```

mod autocommit;
mod backoff;
mod error;
mod groups;
mod http;
mod sse;
mod sse_parse;
#[cfg(test)]
mod tests;
mod types;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use serde_json::json;

pub use autocommit::{AutoCommit, COMMIT_INTERVAL};
pub use error::{Error, Result};
pub use groups::{GroupInfo, GroupMessage, GroupSettings, MessageRef};
pub use types::*;

/// Connection settings; see [`Client::builder`].
pub struct ClientBuilder {
    servers: Vec<String>,
    token: Option<String>,
    timeout: Duration,
    retry_for: Duration,
    roots: Vec<reqwest::Certificate>,
    identity: Option<reqwest::Identity>,
}

impl ClientBuilder {
    /// Also trust the CA certificates in this PEM text, for `https://` servers whose certificate
    /// a private CA signed (the public web roots are trusted anyway).
    pub fn ca_pem(mut self, pem: &[u8]) -> Result<Self> {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| Error::Config(format!("CA certificates: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Config("no CA certificate in the PEM text".into()));
        }
        self.roots.extend(certs);
        Ok(self)
    }

    /// [`ClientBuilder::ca_pem`] of a file (the CLI's `--cacert`, env `JUMPNET_CACERT`).
    pub fn ca_file(self, path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let pem = std::fs::read(path)
            .map_err(|e| Error::Config(format!("CA file {}: {e}", path.display())))?;
        self.ca_pem(&pem)
            .map_err(|e| Error::Config(format!("CA file {}: {e}", path.display())))
    }

    /// Present this client certificate to servers that require one (nodes started with
    /// `--tls-client-ca`): `cert_pem` holds the certificate (leaf first, then intermediates),
    /// `key_pem` its private key (PKCS#8, PKCS#1 or SEC1); one PEM text may hold both. A key that
    /// is not the certificate's is refused here.
    pub fn identity_pem(mut self, cert_pem: &[u8], key_pem: &[u8]) -> Result<Self> {
        self.identity = Some(crate::tls::identity_pem(cert_pem, key_pem).map_err(Error::Config)?);
        Ok(self)
    }

    /// [`ClientBuilder::identity_pem`] of files (the CLI's `--cert` and `--cert-key`, env
    /// `JUMPNET_CERT` and `JUMPNET_CERT_KEY`); both may be the same file.
    pub fn identity_files(
        mut self,
        cert: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Result<Self> {
        let id = crate::tls::identity_files(
            (cert.as_ref(), "client certificate"),
            (key.as_ref(), "client key"),
        )
        .map_err(Error::Config)?;
        self.identity = Some(id);
        Ok(self)
    }

    /// The settings the `jumpnet` CLI takes from its environment, for programs that should run as
    /// its commands do: `JUMPNET_TOKEN` (bearer token), `JUMPNET_CACERT` (a PEM file of CAs to
    /// trust, e.g. the one `jumpnet dev --tls` prints), `JUMPNET_CERT` and `JUMPNET_CERT_KEY` (a
    /// client certificate and its key; the key may be in the certificate's file, the default).
    /// Unset or empty variables change nothing; a file that cannot be used is an
    /// [`Error::Config`] naming the variable.
    pub fn from_env(self) -> Result<Self> {
        self.env_with(|name| std::env::var(name).ok())
    }

    /// [`ClientBuilder::from_env`] with the variables read through `var`.
    fn env_with(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        // The file's own error, prefixed with the variable that named it.
        let named = |name: &str, e: Error| match e {
            Error::Config(m) => Error::Config(format!("{name}: {m}")),
            e => e,
        };
        if let Some(token) = var("JUMPNET_TOKEN") {
            self = self.token(Some(token));
        }
        if let Some(ca) = var("JUMPNET_CACERT") {
            self = self.ca_file(&ca).map_err(|e| named("JUMPNET_CACERT", e))?;
        }
        match (var("JUMPNET_CERT"), var("JUMPNET_CERT_KEY")) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(Error::Config(
                    "JUMPNET_CERT_KEY is set without JUMPNET_CERT (the client certificate it is \
                     the key of)"
                        .into(),
                ))
            }
            (Some(cert), key) => {
                let key = key.unwrap_or_else(|| cert.clone());
                self = self
                    .identity_files(&cert, &key)
                    .map_err(|e| named("JUMPNET_CERT / JUMPNET_CERT_KEY", e))?;
            }
        }
        Ok(self)
    }

    /// Bearer token for clusters started with `--auth-file`.
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// Timeout of one HTTP request (long-polls add their wait to it).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// How long to keep retrying a request across nodes before giving up.
    pub fn retry_for(mut self, t: Duration) -> Self {
        self.retry_for = t;
        self
    }

    pub fn build(self) -> Result<Client> {
        if self.servers.is_empty() {
            return Err(Error::Config("no server addresses given".into()));
        }
        let mut http = self
            .roots
            .into_iter()
            .fold(reqwest::Client::builder(), |b, c| b.add_root_certificate(c));
        if let Some(id) = self.identity {
            http = http.identity(id);
        }
        let http = http
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Http(e.to_string()))?;
        Ok(Client {
            inner: Arc::new(Inner {
                servers: self.servers,
                token: self.token,
                timeout: self.timeout,
                retry_for: self.retry_for,
                http,
                current: AtomicUsize::new(0),
            }),
        })
    }
}

struct Inner {
    servers: Vec<String>,
    token: Option<String>,
    timeout: Duration,
    retry_for: Duration,
    http: reqwest::Client,
    /// The node requests go to until it fails.
    current: AtomicUsize,
}

/// Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// `host:port` or a URL → a base URL without a trailing slash.
pub fn base_url(s: &str) -> String {
    let s = s.trim().trim_end_matches('/');
    if s.starts_with("http://") || s.starts_with("https://") {
        s.to_string()
    } else if let Some(port) = s.strip_prefix(':') {
        format!("http://127.0.0.1:{port}")
    } else {
        format!("http://{s}")
    }
}

impl Client {
    /// A client of the nodes at `servers` (URLs, `host:port` or `:port`).
    pub fn builder<S: AsRef<str>>(servers: impl IntoIterator<Item = S>) -> ClientBuilder {
        ClientBuilder {
            servers: servers
                .into_iter()
                .flat_map(|s| s.as_ref().split(',').map(base_url).collect::<Vec<_>>())
                .filter(|s| s != "http://")
                .collect(),
            token: None,
            timeout: Duration::from_secs(15),
            retry_for: Duration::from_secs(30),
            roots: Vec::new(),
            identity: None,
        }
    }

    pub fn servers(&self) -> &[String] {
        &self.inner.servers
    }

    /// Publish one batch without a producer id. Retried across nodes only while it cannot have
    /// been stored; an unknown outcome is [`Error::Unknown`]. The batch goes to the partition of
    /// its first message's key (Kafka's murmur2), else round-robin; [`Client::publish_to`] names one.
    pub async fn publish(&self, topic: &str, messages: Vec<OutMessage>) -> Result<Published> {
        self.publish_to(topic, None, messages).await
    }

    /// [`Client::publish`] to `partition` (`Some`: that one; a partition the topic does not have
    /// is `400 invalid_partition`, [`Error::Api`]).
    pub async fn publish_to(
        &self,
        topic: &str,
        partition: Option<u32>,
        messages: Vec<OutMessage>,
    ) -> Result<Published> {
        let mut body = json!({ "messages": messages });
        if let Some(p) = partition {
            body["partition"] = p.into();
        }
        self.call(
            reqwest::Method::POST,
            &messages_path(topic),
            Some(body),
            Retry::UntilSent,
        )
        .await
    }

    /// Publish with a producer id and sequence (epoch 0): safe to retry, stored once.
    pub async fn publish_idempotent(
        &self,
        topic: &str,
        messages: Vec<OutMessage>,
        producer_id: &str,
        sequence: u64,
    ) -> Result<Published> {
        self.publish_with_epoch(topic, messages, producer_id, 0, sequence)
            .await
    }

    /// Publish with a producer id, epoch and sequence: safe to retry, stored once. A higher
    /// epoch than the producer's last starts its sequences over; a lower one is refused
    /// (`409 producer_fenced`, [`Error::Api`]).
    pub async fn publish_with_epoch(
        &self,
        topic: &str,
        messages: Vec<OutMessage>,
        producer_id: &str,
        producer_epoch: u64,
        sequence: u64,
    ) -> Result<Published> {
        let to = Idempotent {
            producer_id,
            producer_epoch,
            sequence,
        };
        self.publish_idempotent_to(topic, None, messages, to).await
    }

    /// [`Client::publish_with_epoch`] to `partition` (`None`: the first message's key, else the
    /// producer id, picks it: a retry lands where the first attempt did).
    pub async fn publish_idempotent_to(
        &self,
        topic: &str,
        partition: Option<u32>,
        messages: Vec<OutMessage>,
        producer: Idempotent<'_>,
    ) -> Result<Published> {
        let mut body = json!({
            "messages": messages,
            "producer_id": producer.producer_id,
            "producer_epoch": producer.producer_epoch,
            "sequence": producer.sequence,
        });
        if let Some(p) = partition {
            body["partition"] = p.into();
        }
        self.call(
            reqwest::Method::POST,
            &messages_path(topic),
            Some(body),
            Retry::Always,
        )
        .await
    }

    /// Read up to `limit` messages from `offset` (default: the log start); with `wait`, long-poll
    /// until a message exists at `offset`. Partition 0; [`Client::read_partition`] reads another.
    pub async fn read(
        &self,
        topic: &str,
        offset: Option<u64>,
        limit: usize,
        wait: Option<Duration>,
    ) -> Result<ReadPage> {
        self.read_partition(topic, 0, offset, limit, wait).await
    }

    /// [`Client::read`] of one partition (offsets count per partition).
    pub async fn read_partition(
        &self,
        topic: &str,
        partition: u32,
        offset: Option<u64>,
        limit: usize,
        wait: Option<Duration>,
    ) -> Result<ReadPage> {
        let mut q = format!("{}?limit={limit}", messages_path(topic));
        if partition != 0 {
            q.push_str(&format!("&partition={partition}"));
        }
        if let Some(o) = offset {
            q.push_str(&format!("&offset={o}"));
        }
        if let Some(w) = wait {
            q.push_str(&format!("&wait_ms={}", w.as_millis()));
        }
        self.call_with(
            reqwest::Method::GET,
            &q,
            None,
            Retry::Always,
            wait.unwrap_or_default(),
        )
        .await
    }

    /// Follow a topic (its partition 0) from `offset` (default: its end) as a stream of
    /// messages; reconnects to another node and resumes after the last message seen when a node
    /// goes away.
    pub fn stream(
        &self,
        topic: &str,
        offset: Option<u64>,
    ) -> impl Stream<Item = Result<Message>> + Send + 'static {
        self.stream_partition(topic, 0, offset)
    }

    /// [`Client::stream`] of one partition.
    pub fn stream_partition(
        &self,
        topic: &str,
        partition: u32,
        offset: Option<u64>,
    ) -> impl Stream<Item = Result<Message>> + Send + 'static {
        sse::follow(self.clone(), topic.to_string(), partition, offset)
    }

    /// `consumer`'s position on `topic` (partition 0).
    pub async fn position(&self, consumer: &str, topic: &str) -> Result<Position> {
        self.position_at(consumer, topic, 0).await
    }

    /// `consumer`'s position on one partition of `topic`.
    pub async fn position_at(
        &self,
        consumer: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Position> {
        self.call(
            reqwest::Method::GET,
            &position_path_at(consumer, topic, partition),
            None,
            Retry::Always,
        )
        .await
    }

    /// Commit `offset` as the next one `consumer` reads on `topic` (partition 0).
    pub async fn commit(&self, consumer: &str, topic: &str, offset: u64) -> Result<Position> {
        self.commit_at(consumer, topic, 0, offset).await
    }

    /// Commit `offset` as the next one `consumer` reads on one partition of `topic`.
    pub async fn commit_at(
        &self,
        consumer: &str,
        topic: &str,
        partition: u32,
        offset: u64,
    ) -> Result<Position> {
        self.call(
            reqwest::Method::PUT,
            &position_path_at(consumer, topic, partition),
            Some(json!({ "offset": offset })),
            Retry::Always,
        )
        .await
    }

    /// Every named consumer position with its lag (of one topic with `topic`).
    pub async fn list_consumers(&self, topic: Option<&str>) -> Result<Vec<ConsumerLag>> {
        let path = match topic {
            Some(t) => format!("/v1/topics/{}/consumers", enc(t)),
            None => "/v1/consumers".to_string(),
        };
        let list: ConsumerList = self
            .call(reqwest::Method::GET, &path, None, Retry::Always)
            .await?;
        Ok(list.consumers)
    }

    /// Delete `consumer`'s position on `topic` (404 `consumer_not_found` when it has none).
    pub async fn delete_consumer(&self, consumer: &str, topic: &str) -> Result<()> {
        let _: ConsumerRemoved = self
            .call(
                reqwest::Method::DELETE,
                &position_path(consumer, topic),
                None,
                Retry::UntilSent,
            )
            .await?;
        Ok(())
    }

    pub async fn topics(&self) -> Result<Vec<TopicInfo>> {
        let list: TopicList = self
            .call(reqwest::Method::GET, "/v1/topics", None, Retry::Always)
            .await?;
        Ok(list.topics)
    }

    pub async fn topic(&self, topic: &str) -> Result<TopicInfo> {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/topics/{}", enc(topic)),
            None,
            Retry::Always,
        )
        .await
    }

    /// Create `topic` with `partitions` partitions, or raise its count to `partitions` (the
    /// count never goes down: a lower one is `400 invalid_partitions`, [`Error::Api`]).
    pub async fn set_partitions(&self, topic: &str, partitions: u32) -> Result<TopicInfo> {
        self.put_topic(topic, Some(partitions)).await
    }

    /// Create `topic` (with `partitions`, default 1) if it does not exist; an existing one keeps
    /// its settings, except a higher `partitions` raises its count.
    pub async fn put_topic(&self, topic: &str, partitions: Option<u32>) -> Result<TopicInfo> {
        let body = match partitions {
            Some(n) => json!({ "partitions": n }),
            None => json!({}),
        };
        self.call(
            reqwest::Method::PUT,
            &format!("/v1/topics/{}", enc(topic)),
            Some(body),
            Retry::Always,
        )
        .await
    }

    /// The cluster as the leader sees it.
    pub async fn cluster(&self) -> Result<crate::cluster::ClusterView> {
        self.call(reqwest::Method::GET, "/v1/cluster", None, Retry::Always)
            .await
    }
}

/// Exactly-once publishing: every batch gets the next sequence of this producer's id, and a batch
/// whose outcome is unknown is retried (on any node) with the same sequence until it is answered.
///
/// A producer that restarted without its last sequence keeps its id with the next epoch
/// ([`Producer::with_epoch`]): its sequences start over at 0 and the previous instance, if it is
/// still running, is fenced (`409 producer_fenced`).
pub struct Producer {
    client: Client,
    id: String,
    epoch: u64,
    next: AtomicU64,
}

impl Producer {
    /// A producer with a fresh random id.
    pub fn new(client: Client) -> Producer {
        Producer::with_id(client, format!("p-{}", uuid::Uuid::new_v4().simple()), 0)
    }

    /// Resume a producer id at `next_sequence` (e.g. after a restart that persisted them).
    pub fn with_id(client: Client, id: String, next_sequence: u64) -> Producer {
        Producer {
            client,
            id,
            epoch: 0,
            next: AtomicU64::new(next_sequence),
        }
    }

    /// Start epoch `epoch` of a producer id at sequence 0 (e.g. after a restart that kept only the
    /// id and its last epoch: pass that epoch + 1). Older epochs of the id are fenced.
    pub fn with_epoch(client: Client, id: String, epoch: u64) -> Producer {
        Producer {
            epoch,
            ..Producer::with_id(client, id, 0)
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub async fn send(&self, topic: &str, messages: Vec<OutMessage>) -> Result<Published> {
        self.send_to(topic, None, messages).await
    }

    /// [`Producer::send`] to `partition` (`None`: the first message's key, else this producer's
    /// id, picks it).
    pub async fn send_to(
        &self,
        topic: &str,
        partition: Option<u32>,
        messages: Vec<OutMessage>,
    ) -> Result<Published> {
        let seq = self.next.fetch_add(1, Ordering::SeqCst);
        let to = Idempotent {
            producer_id: &self.id,
            producer_epoch: self.epoch,
            sequence: seq,
        };
        self.client
            .publish_idempotent_to(topic, partition, messages, to)
            .await
    }
}

fn enc(s: &str) -> String {
    // Topic and consumer names are restricted to URL-safe characters except for consumers,
    // which may hold anything printable.
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn messages_path(topic: &str) -> String {
    format!("/v1/topics/{}/messages", enc(topic))
}

fn position_path(consumer: &str, topic: &str) -> String {
    format!("/v1/consumers/{}/topics/{}", enc(consumer), enc(topic))
}

fn position_path_at(consumer: &str, topic: &str, partition: u32) -> String {
    match partition {
        0 => position_path(consumer, topic),
        p => format!("{}?partition={p}", position_path(consumer, topic)),
    }
}

/// The producer id, epoch and sequence of an idempotent publish.
#[derive(Debug, Clone, Copy)]
pub struct Idempotent<'a> {
    pub producer_id: &'a str,
    pub producer_epoch: u64,
    pub sequence: u64,
}

/// When a request may be sent again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Reads and idempotent writes.
    Always,
    /// Plain writes: only while no node received them.
    UntilSent,
}

//! The Kafka listener on a real node: [`NodeBackend`] implements [`KafkaBackend`] over the node's
//! write path and applied state, and [`serve`] runs the listener beside the HTTP API (SPEC §8).
//!
//! ```text
//!  kafka/ (wire protocol) ──KafkaBackend──▶ NodeBackend
//!     produce            ─▶ Writer::queue of a Publish (batcher, forwarded to the leader, answered
//!                           after the quorum commit) with the records' timestamps and Kafka's
//!                           sequence rules; queued in order on the leader, committed in that order
//!     fetch/list_offset  ─▶ TopicStore reads on the blocking pool (this node's applied state)
//!     subscribe          ─▶ TopicStore::subscribe (the topics' wake-ups)
//!     admin, offsets     ─▶ PutTopic / DeleteTopic / CommitOffset (named-consumer positions)
//!     producer ids       ─▶ AllocateProducerId (a replicated counter)
//!     cluster            ─▶ openraft metrics; members' Kafka addresses ride in the membership
//! ```
//!
//! What maps how (the HTTP API sees the same messages):
//! - a record's key, value, headers and timestamp are the message's; the authenticated principal
//!   is its publisher. Keys and header values must be UTF-8 (the message model stores text
//!   there: a record that is not is refused with INVALID_RECORD rather than altered); headers
//!   come back sorted by name, one value per name (the last one sent), a null header value as
//!   empty, a null record value as an empty one;
//! - an idempotent producer `P` is the HTTP exactly-once producer `kafka-P` (scoped by the
//!   publisher when auth is on), its epoch the producer epoch, a batch's first sequence the
//!   sequence, under Kafka's stricter rules (`command::KafkaPublish`);
//! - a consumer group's committed offsets are the named consumer positions of the same name, per
//!   partition (`jumpnet consumers` lists them; the commit metadata string is not kept).

mod admin;
mod convert;
mod produce;
mod read;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio::sync::watch;

use crate::auth::{Auth, Role};
use crate::cluster::Node;
use crate::kafka::backend::*;
use crate::kafka::{KafkaConfig, KafkaMetrics, KafkaServer, KafkaTls};
use crate::topics::TopicStore;
use crate::write::Writer;

/// The node as the Kafka listener sees it.
pub struct NodeBackend {
    node: Arc<Node>,
    writer: Writer,
    store: TopicStore,
    auth: Arc<Auth>,
}

impl NodeBackend {
    pub fn new(node: Arc<Node>, writer: Writer, auth: Arc<Auth>) -> NodeBackend {
        NodeBackend {
            store: node.store.clone(),
            node,
            writer,
            auth,
        }
    }
}

/// Serves Kafka clients on `listener` until `shutdown` resolves, with the `jumpnet_kafka_*`
/// metrics on the node's registry; over TLS with `tls` (the API's certificate, re-read with it).
pub async fn serve(
    node: Arc<Node>,
    writer: Writer,
    auth: Arc<Auth>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()>,
) -> crate::Result<()> {
    let metrics = KafkaMetrics::register(&node.metrics.registry)
        .map_err(|e| crate::Error::Config(format!("kafka metrics: {e}")))?;
    let config = KafkaConfig {
        max_batch_bytes: node.config.max_request_bytes,
        ..KafkaConfig::default()
    };
    let node_metrics = node.metrics.clone();
    let backend = Arc::new(NodeBackend::new(node, writer, auth));
    let server = KafkaServer::new(backend, config, metrics);
    let served = match tls {
        Some(config) => {
            node_metrics.enable_tls("kafka");
            let tls = KafkaTls {
                acceptor: tokio_rustls::TlsAcceptor::from(config),
                failures: node_metrics
                    .tls_handshake_failures
                    .with_label_values(&["kafka"]),
            };
            server.serve_tls(listener, tls, shutdown).await
        }
        None => server.serve(listener, shutdown).await,
    };
    served.map_err(|e| crate::Error::io("kafka listener", e))
}

impl KafkaBackend for NodeBackend {
    fn cluster(&self) -> ClusterView {
        convert::cluster_view(&self.node)
    }

    fn topics(&self) -> Vec<TopicInfo> {
        match self.store.topics() {
            Ok(all) => all
                .into_iter()
                .filter_map(|(name, _)| self.topic(&name))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "kafka: cannot list topics");
                Vec::new()
            }
        }
    }

    fn topic(&self, name: &str) -> Option<TopicInfo> {
        let meta = self.store.topic(name).ok().flatten()?;
        let partitions = self.store.partitions(name).ok()?;
        Some(TopicInfo {
            name: name.to_string(),
            id: convert::topic_uuid(meta.id),
            partitions,
            retention: Retention {
                max_messages: meta.retention.max_messages,
                max_bytes: meta.retention.max_bytes,
                max_age_ms: meta.retention.max_age_ms,
            },
        })
    }

    fn auth_required(&self) -> bool {
        self.auth.enabled()
    }

    fn authenticate(&self, token: &str) -> Option<Principal> {
        let p = self.auth.principal(token)?;
        Some(Principal {
            name: p.publisher.clone(),
            publish: p.has(Role::Publish),
            consume: p.has(Role::Consume),
            admin: p.has(Role::Admin),
        })
    }

    async fn queue_produce(&self, batch: ProduceBatch) -> Result<PendingAppend, BackendError> {
        produce::queue(self, batch).await
    }

    fn produce_keeps_queue_order(&self) -> bool {
        // The leader's batcher proposes in queue order; a follower's forwards of two batches
        // travel on separate connections and may reach the leader in either order.
        self.node.is_leader()
    }

    async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<FetchedRecords, BackendError> {
        read::fetch(&self.store, topic, partition, offset, max_bytes).await
    }

    fn subscribe(&self, topic: &str, _partition: i32) -> watch::Receiver<u64> {
        self.store.subscribe(topic)
    }

    async fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<ListedOffset, BackendError> {
        read::list_offset(&self.store, topic, partition, spec).await
    }

    async fn create_topic(&self, topic: NewTopic) -> Result<TopicInfo, BackendError> {
        admin::create_topic(self, topic).await
    }

    async fn delete_topic(&self, name: &str) -> Result<(), BackendError> {
        admin::delete_topic(self, name).await
    }

    async fn create_partitions(&self, name: &str, total: u32) -> Result<TopicInfo, BackendError> {
        admin::create_partitions(self, name, total).await
    }

    async fn commit_offsets(
        &self,
        group: &str,
        offsets: Vec<CommittedOffset>,
    ) -> Result<(), BackendError> {
        admin::commit_offsets(self, group, offsets).await
    }

    async fn committed_offsets(&self, group: &str) -> Result<Vec<CommittedOffset>, BackendError> {
        admin::committed_offsets(self, group).await
    }

    async fn offset_groups(&self) -> Result<Vec<String>, BackendError> {
        admin::offset_groups(self).await
    }

    async fn allocate_producer_id(&self) -> Result<i64, BackendError> {
        admin::allocate_producer_id(self).await
    }
}

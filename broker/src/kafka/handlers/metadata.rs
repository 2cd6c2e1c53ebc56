//! Metadata: every member as a broker, the node that can commit as the leader of every
//! partition (Kafka's leader epoch = the Raft term), every voter as a replica. Unknown topics are
//! created when the client allows it and may publish (Kafka's auto.create.topics.enable; the HTTP
//! API likewise creates a topic on its first publish), else answered UNKNOWN_TOPIC_OR_PARTITION.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{MetadataRequest, MetadataResponse};
use kafka_protocol::ResponseError;

use super::{broker, str_bytes, topic_name, Ctx};
use crate::kafka::backend::{ClusterView, KafkaBackend, NewTopic, TopicInfo};

pub async fn handle<B: KafkaBackend>(ctx: &Ctx<'_, B>, req: MetadataRequest) -> MetadataResponse {
    let view = ctx.backend().cluster();
    let all = match &req.topics {
        None => true,
        // v0 spells "all topics" as an empty list.
        Some(t) => t.is_empty() && ctx.version == 0,
    };
    let topics = if all {
        ctx.backend()
            .topics()
            .iter()
            .map(|t| topic(ctx, &view, t))
            .collect()
    } else {
        let wanted = req.topics.unwrap_or_default();
        // v0–3 always allowed it; from v4 the client says.
        let auto_create = ctx.server.config.auto_create_topics
            && (ctx.version < 4 || req.allow_auto_topic_creation)
            && ctx.principal().publish;
        let mut out = Vec::with_capacity(wanted.len());
        for w in &wanted {
            out.push({
                let mut found = match &w.name {
                    Some(name) => ctx.backend().topic(name),
                    None => ctx
                        .backend()
                        .topics()
                        .into_iter()
                        .find(|t| t.id == w.topic_id),
                };
                if let (None, Some(name)) = (&found, &w.name) {
                    if auto_create {
                        let spec = NewTopic {
                            name: name.to_string(),
                            partitions: 1,
                            retention: Default::default(),
                        };
                        found = match ctx.backend().create_topic(spec).await {
                            Ok(t) => Some(t),
                            // Created concurrently by someone else: fine.
                            Err(_) => ctx.backend().topic(name),
                        };
                    }
                }
                match found {
                    Some(t) => topic(ctx, &view, &t),
                    None => MetadataResponseTopic::default()
                        .with_name(w.name.clone())
                        .with_topic_id(w.topic_id)
                        .with_error_code(ctx.code(Some(ResponseError::UnknownTopicOrPartition))),
                }
            });
        }
        out
    };
    MetadataResponse::default()
        .with_brokers(
            view.brokers
                .iter()
                .map(|b| {
                    MetadataResponseBroker::default()
                        .with_node_id(broker(b.id))
                        .with_host(str_bytes(b.host.clone()))
                        .with_port(i32::from(b.port))
                        .with_rack(b.rack.clone().map(str_bytes))
                })
                .collect(),
        )
        .with_cluster_id(Some(str_bytes(view.cluster_id.clone())))
        .with_controller_id(broker(view.leader.unwrap_or(-1)))
        .with_topics(topics)
}

fn topic<B: KafkaBackend>(
    ctx: &Ctx<'_, B>,
    view: &ClusterView,
    t: &TopicInfo,
) -> MetadataResponseTopic {
    let partition_error = if view.leader.is_none() {
        Some(ResponseError::LeaderNotAvailable)
    } else {
        None
    };
    let partitions = (0..t.partitions as i32)
        .map(|p| {
            MetadataResponsePartition::default()
                .with_error_code(ctx.code(partition_error))
                .with_partition_index(p)
                .with_leader_id(broker(view.leader.unwrap_or(-1)))
                .with_leader_epoch(view.leader_epoch)
                .with_replica_nodes(view.replicas.iter().copied().map(broker).collect())
                .with_isr_nodes(view.in_sync.iter().copied().map(broker).collect())
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(&t.name)))
        .with_topic_id(t.id)
        .with_partitions(partitions)
}

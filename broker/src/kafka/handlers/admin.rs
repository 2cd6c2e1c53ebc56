//! Topic admin: CreateTopics, DeleteTopics, CreatePartitions (raise only) and DescribeConfigs.
//! Jumpnet replicates every topic to every voter, so replication factors only need to fit the
//! cluster, and manual replica assignments are refused. Topic configs map onto Jumpnet's
//! retention; settings that are fixed in Jumpnet are accepted only with the value it has.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError;

use super::{partition_error, str_bytes, topic_name, Ctx};
use crate::kafka::backend::{BackendError, KafkaBackend, NewTopic, Retention, TopicInfo};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// DescribeConfigs config sources.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;
/// Kafka's ConfigType values.
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
/// SPEC §3: the largest message.
const MAX_MESSAGE_BYTES: i64 = 1024 * 1024;

/// One config entry as DescribeConfigs and CreateTopics (v5+) report it.
struct Entry {
    name: &'static str,
    value: String,
    from_topic: bool,
    read_only: bool,
    config_type: i8,
}

fn limit(v: Option<u64>) -> String {
    v.map_or("-1".into(), |v| v.to_string())
}

fn topic_configs(t: &TopicInfo) -> Vec<Entry> {
    let r = t.retention;
    vec![
        Entry {
            name: "retention.ms",
            value: limit(r.max_age_ms),
            from_topic: r.max_age_ms.is_some(),
            read_only: false,
            config_type: TYPE_LONG,
        },
        Entry {
            name: "retention.bytes",
            value: limit(r.max_bytes),
            from_topic: r.max_bytes.is_some(),
            read_only: false,
            config_type: TYPE_LONG,
        },
        Entry {
            name: "retention.messages",
            value: limit(r.max_messages),
            from_topic: r.max_messages.is_some(),
            read_only: false,
            config_type: TYPE_LONG,
        },
        Entry {
            name: "cleanup.policy",
            value: "delete".into(),
            from_topic: false,
            read_only: true,
            config_type: TYPE_STRING,
        },
        Entry {
            name: "max.message.bytes",
            value: MAX_MESSAGE_BYTES.to_string(),
            from_topic: false,
            read_only: true,
            config_type: TYPE_INT,
        },
        Entry {
            name: "message.timestamp.type",
            value: "CreateTime".into(),
            from_topic: false,
            read_only: true,
            config_type: TYPE_STRING,
        },
    ]
}

/// Applies one topic config to `r`; settings Jumpnet fixes are accepted only at their value.
fn apply_config(r: &mut Retention, name: &str, value: Option<&str>) -> Result<(), String> {
    let parse = |v: Option<&str>| -> Result<Option<u64>, String> {
        match v.map(str::trim) {
            None | Some("-1") => Ok(None),
            Some(s) => s
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("{name}={s} is not a count (or -1)")),
        }
    };
    match name {
        "retention.ms" => r.max_age_ms = parse(value)?,
        "retention.bytes" => r.max_bytes = parse(value)?,
        "retention.messages" => r.max_messages = parse(value)?,
        "cleanup.policy" if value == Some("delete") => {}
        "message.timestamp.type" if value == Some("CreateTime") => {}
        "max.message.bytes"
            if value
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v <= MAX_MESSAGE_BYTES) => {}
        // Placement and storage knobs with no Jumpnet meaning: every voter replicates every topic.
        "min.insync.replicas"
        | "segment.bytes"
        | "segment.ms"
        | "compression.type"
        | "unclean.leader.election.enable" => {}
        other => {
            return Err(format!(
                "{other}={} is not supported by Jumpnet",
                value.unwrap_or("null")
            ))
        }
    }
    Ok(())
}

fn refuse_non_admin<B: KafkaBackend>(ctx: &Ctx<'_, B>) -> Option<ResponseError> {
    (!ctx.principal().admin).then_some(ResponseError::TopicAuthorizationFailed)
}

fn error_message(e: &BackendError) -> Option<StrBytes> {
    Some(str_bytes(e.to_string()))
}

use kafka_protocol::protocol::StrBytes;

pub async fn create_topics<B: KafkaBackend>(
    ctx: &Ctx<'_, B>,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let brokers = ctx.backend().cluster().replicas.len().max(1) as i16;
    let max_partitions = ctx.server.config.max_partitions;
    let mut results = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let base = CreatableTopicResult::default().with_name(t.name.clone());
        let fail = |e: ResponseError, msg: String| {
            base.clone()
                .with_error_code(ctx.code(Some(e)))
                .with_error_message(Some(str_bytes(msg)))
        };
        if let Some(e) = refuse_non_admin(ctx) {
            results.push(fail(e, "the token may not administer topics".into()));
            continue;
        }
        let partitions = match t.num_partitions {
            -1 => 1,
            n if n >= 1 && n as u32 <= max_partitions => n as u32,
            n => {
                results.push(fail(
                    ResponseError::InvalidPartitions,
                    format!("{n} partitions (1 to {max_partitions})"),
                ));
                continue;
            }
        };
        if !(t.replication_factor == -1 || (1..=brokers).contains(&t.replication_factor)) {
            results.push(fail(
                ResponseError::InvalidReplicationFactor,
                format!(
                    "replication factor {} (this cluster has {brokers} replicas)",
                    t.replication_factor
                ),
            ));
            continue;
        }
        if !t.assignments.is_empty() {
            results.push(fail(
                ResponseError::InvalidReplicaAssignment,
                "every voter replicates every topic".into(),
            ));
            continue;
        }
        let mut retention = Retention::default();
        if let Err(msg) = t.configs.iter().try_for_each(|c| {
            apply_config(
                &mut retention,
                c.name.as_str(),
                c.value.as_ref().map(|v| v.as_str()),
            )
        }) {
            results.push(fail(ResponseError::InvalidConfig, msg));
            continue;
        }
        let spec = NewTopic {
            name: t.name.to_string(),
            partitions,
            retention,
        };
        let created = if req.validate_only {
            match ctx.backend().topic(&spec.name) {
                Some(_) => Err(BackendError::TopicAlreadyExists),
                None => Ok(TopicInfo {
                    name: spec.name.clone(),
                    id: uuid::Uuid::nil(),
                    partitions,
                    retention,
                }),
            }
        } else {
            ctx.backend().create_topic(spec).await
        };
        results.push(match created {
            // v5 added the created topic's settings; v7 its id.
            Ok(info) if ctx.version >= 5 => base
                .with_topic_id(if ctx.version >= 7 {
                    info.id
                } else {
                    uuid::Uuid::nil()
                })
                .with_num_partitions(info.partitions as i32)
                .with_replication_factor(brokers)
                .with_configs(Some(
                    topic_configs(&info)
                        .into_iter()
                        .map(|e| {
                            CreatableTopicConfigs::default()
                                .with_name(str_bytes(e.name))
                                .with_value(Some(str_bytes(e.value)))
                                .with_read_only(e.read_only)
                                .with_config_source(if e.from_topic {
                                    SOURCE_TOPIC
                                } else {
                                    SOURCE_DEFAULT
                                })
                        })
                        .collect(),
                )),
            Ok(_) => base,
            Err(e) => base
                .with_error_code(ctx.code(Some(partition_error(&e))))
                .with_error_message(error_message(&e)),
        });
    }
    CreateTopicsResponse::default().with_topics(results)
}

pub async fn delete_topics<B: KafkaBackend>(
    ctx: &Ctx<'_, B>,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    // v6 names topics by name or id; earlier versions by name.
    let named: Vec<(Option<String>, uuid::Uuid)> = if ctx.version >= 6 {
        req.topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.to_string()), t.topic_id))
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| (Some(n.to_string()), uuid::Uuid::nil()))
            .collect()
    };
    let mut results = Vec::with_capacity(named.len());
    for (name, id) in named {
        let name = name.or_else(|| {
            ctx.backend()
                .topics()
                .into_iter()
                .find(|t| t.id == id)
                .map(|t| t.name)
        });
        let base = DeletableTopicResult::default()
            .with_name(name.as_deref().map(topic_name))
            .with_topic_id(id);
        let outcome = match (&name, refuse_non_admin(ctx)) {
            (_, Some(e)) => Err((e, "the token may not administer topics".to_string())),
            (None, None) => Err((
                ResponseError::UnknownTopicId,
                "no topic has this id".to_string(),
            )),
            (Some(n), None) => ctx
                .backend()
                .delete_topic(n)
                .await
                .map_err(|e| (partition_error(&e), e.to_string())),
        };
        results.push(match outcome {
            Ok(()) => base,
            Err((e, msg)) => base
                .with_error_code(ctx.code(Some(e)))
                .with_error_message(Some(str_bytes(msg))),
        });
    }
    DeleteTopicsResponse::default().with_responses(results)
}

pub async fn create_partitions<B: KafkaBackend>(
    ctx: &Ctx<'_, B>,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let base = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        let current = ctx.backend().topic(t.name.as_str());
        let outcome: Result<(), (ResponseError, String)> = if let Some(e) = refuse_non_admin(ctx) {
            Err((e, "the token may not administer topics".into()))
        } else if t.assignments.as_ref().is_some_and(|a| !a.is_empty()) {
            Err((
                ResponseError::InvalidReplicaAssignment,
                "every voter replicates every topic".into(),
            ))
        } else {
            match current {
                None => Err((
                    ResponseError::UnknownTopicOrPartition,
                    "no such topic".into(),
                )),
                Some(_) if t.count as i64 > i64::from(ctx.server.config.max_partitions) => Err((
                    ResponseError::InvalidPartitions,
                    format!(
                        "{} partitions (at most {})",
                        t.count, ctx.server.config.max_partitions
                    ),
                )),
                Some(info) if t.count <= info.partitions as i32 => Err((
                    ResponseError::InvalidPartitions,
                    format!(
                        "topic has {} partitions; the count only grows (asked {})",
                        info.partitions, t.count
                    ),
                )),
                Some(_) if req.validate_only => Ok(()),
                Some(_) => ctx
                    .backend()
                    .create_partitions(t.name.as_str(), t.count as u32)
                    .await
                    .map(|_| ())
                    .map_err(|e| (partition_error(&e), e.to_string())),
            }
        };
        results.push(match outcome {
            Ok(()) => base,
            Err((e, msg)) => base
                .with_error_code(ctx.code(Some(e)))
                .with_error_message(Some(str_bytes(msg))),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}

pub fn describe_configs<B: KafkaBackend>(
    ctx: &Ctx<'_, B>,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = req
        .resources
        .iter()
        .map(|res| {
            let base = DescribeConfigsResult::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            let entries = match res.resource_type {
                RESOURCE_TOPIC => match ctx.backend().topic(res.resource_name.as_str()) {
                    Some(t) => topic_configs(&t),
                    None => {
                        return base.with_error_code(
                            ctx.code(Some(ResponseError::UnknownTopicOrPartition)),
                        )
                    }
                },
                RESOURCE_BROKER => {
                    let view = ctx.backend().cluster();
                    let this = view.this_node.to_string();
                    if !res.resource_name.is_empty() && res.resource_name.as_str() != this {
                        return base.with_error_code(ctx.code(Some(ResponseError::InvalidRequest)));
                    }
                    vec![
                        Entry {
                            name: "broker.id",
                            value: this,
                            from_topic: false,
                            read_only: true,
                            config_type: TYPE_INT,
                        },
                        Entry {
                            name: "message.max.bytes",
                            value: MAX_MESSAGE_BYTES.to_string(),
                            from_topic: false,
                            read_only: true,
                            config_type: TYPE_INT,
                        },
                        Entry {
                            name: "auto.create.topics.enable",
                            value: ctx.server.config.auto_create_topics.to_string(),
                            from_topic: false,
                            read_only: true,
                            config_type: 1,
                        },
                    ]
                }
                _ => return base.with_error_code(ctx.code(Some(ResponseError::InvalidRequest))),
            };
            let keys = res.configuration_keys.as_ref();
            base.with_configs(
                entries
                    .into_iter()
                    .filter(|e| keys.is_none_or(|k| k.iter().any(|k| k.as_str() == e.name)))
                    .map(|e| {
                        DescribeConfigsResourceResult::default()
                            .with_name(str_bytes(e.name))
                            .with_value(Some(str_bytes(e.value)))
                            .with_read_only(e.read_only)
                            .with_config_source(if e.from_topic {
                                SOURCE_TOPIC
                            } else {
                                SOURCE_DEFAULT
                            })
                            .with_config_type(e.config_type)
                    })
                    .collect(),
            )
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

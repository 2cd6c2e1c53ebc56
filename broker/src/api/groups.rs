//! Consumer groups over HTTP (SPEC §9, work sharing): `PUT|GET|DELETE
//! /v1/topics/{topic}/groups/{group}`, `GET /v1/topics/{topic}/groups`, and the group's
//! `fetch`, `ack` and `nack`. Every lease and acknowledgement is a replicated op, batched with
//! the node's other writes; the message bodies of a lease are read here, from this node's log
//! (which applied the lease, so it holds them).
//!
//! Unknown groups: `GET`, `DELETE`, `ack` and `nack` answer `404 group_not_found`; `fetch`
//! creates the group with the defaults. An ack or nack of a message that is not leased (never
//! delivered, already acknowledged, or given up) is ignored: acks are idempotent.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::code::Code;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, MaybeJson};
use super::messages::{MessageOut, MAX_WAIT};
use super::responses::{
    Auth, Internal, Invalid, Missing, OutOfRange, TooLarge, Unavailable, Unknown,
};
use super::{count_out, topic_meta_settled, topic_name, AppState, Caller};
use crate::auth::Role;
use crate::command::{
    AckMessages, ConfigureGroup, DeleteGroup, GroupConfig, GroupStart, Lease, LeaseMessages,
    MessageRef, NackMessages,
};
use crate::topics::group::{GroupState, PartLog, MAX_LEASE};
use crate::topics::{Message, TopicMeta};

/// Most messages one ack or nack names.
const MAX_REFS: usize = 10_000;

/// The wall clock in ms (what the leader stamps entries with; used here only to decide when to
/// look again).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Validate a group name (the rule of named consumers).
pub fn group_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 249 || name.chars().any(|c| c.is_control()) {
        return Err(ApiError::bad_request(
            Code::InvalidGroup,
            "group names are 1 to 249 printable characters",
        ));
    }
    Ok(())
}

fn names(topic: &str, group: &str) -> Result<(), ApiError> {
    topic_name(topic)?;
    group_name(group)
}

/// A group's configuration and numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupInfo {
    pub topic: String,
    pub group: String,
    /// Messages waiting to be delivered (new ones, handed back, or whose lease ran out).
    pub pending: u64,
    /// Messages leased and not acknowledged, whose lease still runs.
    pub in_flight: u64,
    /// Every offset below is done (acknowledged, dead-lettered, dropped or trimmed away).
    pub acked_floor: u64,
    /// Deliveries after the first, ever.
    pub redelivered: u64,
    pub dead_lettered: u64,
    /// Messages out of deliveries without a dead-letter topic.
    pub dropped: u64,
    /// Messages not done yet: `pending` + `in_flight`.
    pub lag: u64,
    pub ack_wait_ms: u64,
    pub max_deliveries: u32,
    pub dead_letter_topic: Option<String>,
    /// The numbers of each partition (the ones above are their sums; `acked_floor` above is
    /// partition 0's). Absent from servers before partitions (the client reads it as empty).
    #[serde(default)]
    pub partitions: Vec<GroupPartitionInfo>,
}

/// A group's numbers on one partition of its topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupPartitionInfo {
    pub partition: u32,
    pub pending: u64,
    pub in_flight: u64,
    /// Every offset of this partition below is done.
    pub acked_floor: u64,
    pub lag: u64,
}

fn info(topic: &str, group: &str, g: &GroupState, metas: &[TopicMeta]) -> GroupInfo {
    let now = now_ms();
    let parts = PartLog::of(metas);
    let s = g.stats(now, &parts);
    let partitions = g
        .partition_stats(now, &parts)
        .into_iter()
        .map(|(partition, p)| GroupPartitionInfo {
            partition,
            pending: p.pending,
            in_flight: p.in_flight,
            acked_floor: p.acked_floor,
            lag: p.lag,
        })
        .collect();
    GroupInfo {
        topic: topic.to_string(),
        group: group.to_string(),
        pending: s.pending,
        in_flight: s.in_flight,
        acked_floor: s.acked_floor,
        redelivered: g.redelivered,
        dead_lettered: g.dead_lettered,
        dropped: g.dropped,
        lag: s.lag,
        ack_wait_ms: g.config.ack_wait_ms,
        max_deliveries: g.config.max_deliveries,
        dead_letter_topic: g.config.dead_letter_topic.clone(),
        partitions,
    }
}

/// The topic's partition metas and the group's state as this node applied them.
async fn local(
    s: &AppState,
    topic: &str,
    group: &str,
) -> Result<(Vec<TopicMeta>, Option<GroupState>), ApiError> {
    let (t, g) = (topic.to_string(), group.to_string());
    let (metas, state) = s
        .store
        .blocking(move |st| Ok((st.partition_metas(&t)?, st.group(&t, &g)?)))
        .await?;
    if metas.is_empty() {
        return Err(ApiError::topic_not_found(topic));
    }
    Ok((metas, state))
}

fn group_not_found(topic: &str, group: &str) -> ApiError {
    ApiError::not_found(
        Code::GroupNotFound,
        format!("group {group:?} of topic {topic:?} does not exist"),
    )
}

async fn get_info(s: &AppState, topic: &str, group: &str) -> Result<GroupInfo, ApiError> {
    match local(s, topic, group).await? {
        (metas, Some(g)) => Ok(info(topic, group, &g, &metas)),
        (_, None) => Err(group_not_found(topic, group)),
    }
}

/// `"earliest"`, `"latest"` or an offset.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StartIn {
    Offset(u64),
    Named(String),
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPut {
    /// How long a fetch holds its messages before they are delivered again (default 30000).
    pub ack_wait_ms: Option<u64>,
    /// Deliveries of a message before it goes to the dead-letter topic or is dropped (default 5).
    pub max_deliveries: Option<u32>,
    /// Where messages out of deliveries go (default: dropped and counted).
    pub dead_letter_topic: Option<String>,
    /// Where a new group starts: `"earliest"` (default), `"latest"` or an offset. Ignored for an
    /// existing group.
    pub start: Option<StartIn>,
}

/// Create a group or replace its configuration (absent fields take the defaults).
#[utoipa::path(put, path = "/v1/topics/{topic}/groups/{group}", tag = "groups", params(("topic" = String, Path), ("group" = String, Path)),
    request_body = GroupPut, responses((status = 200, body = GroupInfo), Invalid, Auth, Missing, TooLarge, OutOfRange, Unavailable, Unknown, Internal))]
pub async fn put(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((topic, group)): ApiPath<(String, String)>,
    MaybeJson(req): MaybeJson<GroupPut>,
) -> Result<Json<GroupInfo>, ApiError> {
    caller.require_any(&[Role::Consume, Role::Admin])?;
    names(&topic, &group)?;
    let req = req.unwrap_or_default();
    let defaults = GroupConfig::default();
    let invalid = |m: &str| ApiError::bad_request(Code::InvalidField, m);
    let config = GroupConfig {
        ack_wait_ms: req.ack_wait_ms.unwrap_or(defaults.ack_wait_ms),
        max_deliveries: req.max_deliveries.unwrap_or(defaults.max_deliveries),
        dead_letter_topic: req.dead_letter_topic,
    };
    if !(1..=86_400_000).contains(&config.ack_wait_ms) {
        return Err(invalid("ack_wait_ms must be 1 to 86400000"));
    }
    if config.max_deliveries == 0 {
        return Err(invalid("max_deliveries must be at least 1"));
    }
    if let Some(d) = &config.dead_letter_topic {
        topic_name(d).map_err(|e| invalid(&format!("dead_letter_topic: {}", e.message)))?;
        if *d == topic {
            return Err(invalid("dead_letter_topic must be another topic"));
        }
    }
    let start = match req.start {
        None => GroupStart::Earliest,
        Some(StartIn::Named(n)) if n == "earliest" => GroupStart::Earliest,
        Some(StartIn::Named(n)) if n == "latest" => GroupStart::Latest,
        Some(StartIn::Offset(o)) => GroupStart::Offset(o),
        Some(StartIn::Named(n)) => {
            return Err(invalid(&format!(
                "start must be \"earliest\", \"latest\" or an offset, not {n:?}"
            )))
        }
    };
    s.writer
        .configure_group(ConfigureGroup {
            topic: topic.clone(),
            group: group.clone(),
            config,
            start,
        })
        .await?;
    get_info(&s, &topic, &group).await.map(Json)
}

/// A group's configuration and numbers.
#[utoipa::path(get, path = "/v1/topics/{topic}/groups/{group}", tag = "groups", params(("topic" = String, Path), ("group" = String, Path)),
    responses((status = 200, body = GroupInfo), Invalid, Auth, Missing, Unavailable, Internal))]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((topic, group)): ApiPath<(String, String)>,
) -> Result<Json<GroupInfo>, ApiError> {
    caller.require_any(&[Role::Consume, Role::Admin])?;
    names(&topic, &group)?;
    get_info(&s, &topic, &group).await.map(Json)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupList {
    pub groups: Vec<GroupInfo>,
}

/// The groups of a topic.
#[utoipa::path(get, path = "/v1/topics/{topic}/groups", tag = "groups", params(("topic" = String, Path)),
    responses((status = 200, body = GroupList), Invalid, Auth, Missing, Unavailable, Internal))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(topic): ApiPath<String>,
) -> Result<Json<GroupList>, ApiError> {
    caller.require_any(&[Role::Consume, Role::Admin])?;
    topic_name(&topic)?;
    let t = topic.clone();
    let (metas, groups) = s
        .store
        .blocking(move |st| Ok((st.partition_metas(&t)?, st.groups(&t)?)))
        .await?;
    if metas.is_empty() {
        return Err(ApiError::topic_not_found(&topic));
    }
    Ok(Json(GroupList {
        groups: groups
            .iter()
            .map(|(name, g)| info(&topic, name, g, &metas))
            .collect(),
    }))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupDeletedOut {
    pub topic: String,
    pub group: String,
    pub deleted: bool,
}

/// Remove a group (its leases and acknowledgements go with it).
#[utoipa::path(delete, path = "/v1/topics/{topic}/groups/{group}", tag = "groups", params(("topic" = String, Path), ("group" = String, Path)),
    responses((status = 200, body = GroupDeletedOut), Invalid, Auth, Missing, Unavailable, Unknown, Internal))]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((topic, group)): ApiPath<(String, String)>,
) -> Result<Json<GroupDeletedOut>, ApiError> {
    caller.require_any(&[Role::Consume, Role::Admin])?;
    names(&topic, &group)?;
    let d = s
        .writer
        .delete_group(DeleteGroup {
            topic: topic.clone(),
            group: group.clone(),
        })
        .await?;
    if !d.existed {
        return Err(group_not_found(&topic, &group));
    }
    Ok(Json(GroupDeletedOut {
        topic,
        group,
        deleted: true,
    }))
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchRequest {
    /// At most this many messages (default 1, at most 1000).
    pub max_messages: Option<u32>,
    /// Long-poll: when nothing is deliverable, wait up to this long (at most 60000).
    pub wait_ms: Option<u64>,
}

/// A message leased to this fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupMessage {
    /// The message, with its `partition` (one field in the JSON, as before partitions).
    #[serde(flatten)]
    pub message: MessageOut,
    /// 1 on the first delivery, then counting up.
    pub delivery: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FetchResponse {
    pub messages: Vec<GroupMessage>,
}

/// Lease messages to this call: concurrent fetches get disjoint messages; each comes back to the
/// group unless acknowledged within `ack_wait_ms`. Creates the group with the defaults.
#[utoipa::path(post, path = "/v1/topics/{topic}/groups/{group}/fetch", tag = "groups", params(("topic" = String, Path), ("group" = String, Path)),
    request_body = FetchRequest, responses((status = 200, body = FetchResponse), Invalid, Auth, Missing, TooLarge, Unavailable, Unknown, Internal))]
pub async fn fetch(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((topic, group)): ApiPath<(String, String)>,
    MaybeJson(req): MaybeJson<FetchRequest>,
) -> Result<Json<FetchResponse>, ApiError> {
    caller.require(Role::Consume)?;
    names(&topic, &group)?;
    let req = req.unwrap_or_default();
    let max = req.max_messages.unwrap_or(1);
    if !(1..=MAX_LEASE).contains(&max) {
        return Err(ApiError::bad_request(
            Code::InvalidField,
            format!("max_messages must be 1 to {MAX_LEASE}"),
        ));
    }
    let wait = Duration::from_millis(req.wait_ms.unwrap_or(0)).min(MAX_WAIT);
    let deadline = tokio::time::Instant::now() + wait;
    // 404 before subscribing: an unknown topic leaves nothing registered.
    topic_meta_settled(&s, &topic).await?;
    // Subscribe before looking, so a publish between the look and the wait still wakes us.
    let mut changes = s.store.subscribe(&topic);
    let mut came_back_empty = false;
    loop {
        let (metas, state) = local(&s, &topic, &group).await?;
        let now = now_ms();
        let worth_a_lease = match &state {
            // The first fetch creates the group.
            None => true,
            Some(g) => !came_back_empty && g.has_deliverable(now, &PartLog::of(&metas)),
        };
        if worth_a_lease {
            let leased = s
                .writer
                .lease_messages(LeaseMessages {
                    topic: topic.clone(),
                    group: group.clone(),
                    max,
                })
                .await?;
            if !leased.leases.is_empty() {
                let messages = bodies(&s, &topic, &group, leased.leases).await?;
                if !messages.is_empty() {
                    return Ok(Json(FetchResponse { messages }));
                }
            }
            came_back_empty = true;
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Json(FetchResponse { messages: vec![] }));
        }
        // Look again on a publish or hand-back, when a lease or delay runs out, or (after a lease
        // that found nothing the local view promised: clocks differ) a little later.
        let due = state
            .as_ref()
            .and_then(|g| g.next_due(now))
            .map(|t| t - now);
        let retry = if came_back_empty { Some(50) } else { None };
        let look_again = match (due, retry) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
        .map(|ms| (tokio::time::Instant::now() + Duration::from_millis(ms)).min(deadline))
        .unwrap_or(deadline);
        tokio::select! {
            _ = changes.changed() => came_back_empty = false,
            _ = tokio::time::sleep_until(look_again) => came_back_empty = false,
            _ = s.node.lifecycle().api_closed() => return Err(ApiError::unavailable(Code::ShuttingDown, "the node is shutting down")),
        }
    }
}

/// The leased messages' bodies from this node's log, in lease order; leases of messages retention
/// removed meanwhile are acknowledged (there is nothing left to deliver).
async fn bodies(
    s: &AppState,
    topic: &str,
    group: &str,
    leases: Vec<Lease>,
) -> Result<Vec<GroupMessage>, ApiError> {
    let t = topic.to_string();
    let mut wanted: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for l in &leases {
        wanted.entry(l.partition).or_default().push(l.offset);
    }
    let found: BTreeMap<(u32, u64), Message> = s
        .store
        .blocking(move |st| {
            let mut found = BTreeMap::new();
            for (p, mut sorted) in wanted {
                let Some(meta) = st.partition(&t, p)? else {
                    continue;
                };
                sorted.sort_unstable();
                let mut i = 0;
                while i < sorted.len() {
                    // One read per run of consecutive offsets.
                    let mut j = i + 1;
                    while j < sorted.len() && sorted[j] == sorted[j - 1] + 1 {
                        j += 1;
                    }
                    for m in st.read(&meta, sorted[i], j - i, u64::MAX)? {
                        found.insert((p, m.offset), m);
                    }
                    i = j;
                }
            }
            Ok(found)
        })
        .await?;
    let mut found = found;
    let mut out = Vec::with_capacity(leases.len());
    let mut gone = Vec::new();
    for l in leases {
        match found.remove(&(l.partition, l.offset)) {
            Some(m) => out.push(GroupMessage {
                message: MessageOut {
                    partition: l.partition,
                    ..MessageOut::from(m)
                },
                delivery: l.delivery,
            }),
            None => gone.push(MessageRef {
                partition: l.partition,
                offset: l.offset,
            }),
        }
    }
    if !gone.is_empty() {
        s.writer
            .ack_messages(AckMessages {
                topic: topic.to_string(),
                group: group.to_string(),
                messages: gone,
            })
            .await?;
    }
    count_out(
        s,
        out.iter()
            .map(|m| m.message.value_bytes().map_or(0, |v| v.len())),
    );
    Ok(out)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    pub messages: Vec<MessageRef>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NackRequest {
    pub messages: Vec<MessageRef>,
    /// Deliverable again after this long (default 0: at once).
    pub delay_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AckResponse {
    /// Messages this call acknowledged or handed back (the others were not leased: ignored).
    pub count: u64,
}

fn check_refs(refs: &[MessageRef]) -> Result<(), ApiError> {
    if refs.len() > MAX_REFS {
        return Err(ApiError::bad_request(
            Code::InvalidField,
            format!("at most {MAX_REFS} messages per call"),
        ));
    }
    Ok(())
}

/// Acknowledge messages: done, never delivered again (one replicated op for all of them).
#[utoipa::path(post, path = "/v1/topics/{topic}/groups/{group}/ack", tag = "groups", params(("topic" = String, Path), ("group" = String, Path)),
    request_body = AckRequest, responses((status = 200, body = AckResponse), Invalid, Auth, Missing, TooLarge, Unavailable, Unknown, Internal))]
pub async fn ack(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((topic, group)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<AckRequest>,
) -> Result<Json<AckResponse>, ApiError> {
    caller.require(Role::Consume)?;
    names(&topic, &group)?;
    check_refs(&req.messages)?;
    let a = s
        .writer
        .ack_messages(AckMessages {
            topic,
            group,
            messages: req.messages,
        })
        .await?;
    Ok(Json(AckResponse { count: a.count }))
}

/// Hand messages back to the group: deliverable again at once, or after `delay_ms`.
#[utoipa::path(post, path = "/v1/topics/{topic}/groups/{group}/nack", tag = "groups", params(("topic" = String, Path), ("group" = String, Path)),
    request_body = NackRequest, responses((status = 200, body = AckResponse), Invalid, Auth, Missing, TooLarge, Unavailable, Unknown, Internal))]
pub async fn nack(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((topic, group)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<NackRequest>,
) -> Result<Json<AckResponse>, ApiError> {
    caller.require(Role::Consume)?;
    names(&topic, &group)?;
    check_refs(&req.messages)?;
    let delay_ms = req.delay_ms.unwrap_or(0);
    if delay_ms > 86_400_000 {
        return Err(ApiError::bad_request(
            Code::InvalidField,
            "delay_ms must be at most 86400000",
        ));
    }
    let n = s
        .writer
        .nack_messages(NackMessages {
            topic,
            group,
            messages: req.messages,
            delay_ms,
        })
        .await?;
    Ok(Json(AckResponse { count: n.count }))
}

//! ListOffsets: earliest (-2), latest (-1) or the first offset at or after a timestamp.

use futures::future::join_all;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;

use super::{partition_error, Ctx};
use crate::kafka::backend::{KafkaBackend, OffsetSpec};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

pub async fn handle<B: KafkaBackend>(
    ctx: &Ctx<'_, B>,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let topics = join_all(req.topics.iter().map(|t| async move {
        let partitions = join_all(t.partitions.iter().map(|p| async move {
            let resp =
                ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
            if !ctx.principal().consume {
                return resp
                    .with_error_code(ctx.code(Some(ResponseError::TopicAuthorizationFailed)));
            }
            let spec = match p.timestamp {
                LATEST => OffsetSpec::Latest,
                EARLIEST => OffsetSpec::Earliest,
                ts if ts >= 0 => OffsetSpec::Timestamp(ts),
                _ => {
                    return resp.with_error_code(ctx.code(Some(ResponseError::UnsupportedVersion)))
                }
            };
            match ctx
                .backend()
                .list_offset(t.name.as_str(), p.partition_index, spec)
                .await
            {
                Ok(o) => {
                    let resp = resp.with_offset(o.offset).with_timestamp(o.timestamp_ms);
                    // v4 added the leader epoch.
                    if ctx.version >= 4 {
                        resp.with_leader_epoch(ctx.backend().cluster().leader_epoch)
                    } else {
                        resp
                    }
                }
                Err(e) => resp
                    .with_offset(-1)
                    .with_timestamp(-1)
                    .with_error_code(ctx.code(Some(partition_error(&e)))),
            }
        }))
        .await;
        ListOffsetsTopicResponse::default()
            .with_name(t.name.clone())
            .with_partitions(partitions)
    }))
    .await;
    ListOffsetsResponse::default().with_topics(topics)
}

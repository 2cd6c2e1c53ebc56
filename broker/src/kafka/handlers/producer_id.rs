//! InitProducerId for idempotent producers: a fresh, cluster-unique producer id (replicated
//! counter) with epoch 0, as Kafka gives every non-transactional producer — also when it asks to
//! bump an existing epoch (KIP-360). A transactional id is refused with
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED: fatal and immediate in every client, never a hang
//! (FindCoordinator for a transactional id succeeds so clients get this far).

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::{coordinator_error, Ctx};
use crate::kafka::backend::KafkaBackend;

pub async fn handle<B: KafkaBackend>(
    ctx: &Ctx<'_, B>,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let refuse = |e: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(ctx.code(Some(e)))
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if req.transactional_id.as_ref().is_some_and(|t| !t.is_empty()) {
        return refuse(ResponseError::TransactionalIdAuthorizationFailed);
    }
    if !ctx.principal().publish {
        return refuse(ResponseError::ClusterAuthorizationFailed);
    }
    match ctx.backend().allocate_producer_id().await {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => refuse(coordinator_error(&e)),
    }
}

//! `GET /openapi.json`: generated from the handlers' `#[utoipa::path]` annotations and types.
//! `tests` check that it documents exactly the routes `api::router` serves.

use axum::Json;
use utoipa::OpenApi;

use super::{admin, consumers, error, health, messages, seed, stream, topics};

#[derive(OpenApi)]
#[openapi(
    info(title = "Jumpnet", description = "A Raft-replicated message broker: the seed API, the v1 topic log, cluster admin."),
    paths(
        seed::publish, seed::publish_alias_doc, seed::newest, seed::history,
        messages::publish, messages::read, stream::stream,
        topics::list, topics::get, topics::put, topics::delete,
        consumers::list, consumers::list_topic, consumers::get, consumers::commit, consumers::delete,
        admin::cluster, admin::init, admin::add_member, admin::promote, admin::remove_member, admin::transfer_leader, admin::force_new_cluster, admin::snapshot,
        health::livez, health::readyz, health::metrics, document,
    ),
    components(schemas(error::ErrorBody, error::ErrorObject)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "health", responses((status = 200, description = "OpenAPI 3 document"), super::responses::Auth, super::responses::Unavailable))]
pub async fn document(
    caller: super::Caller,
) -> Result<Json<utoipa::openapi::OpenApi>, super::error::ApiError> {
    use crate::auth::Role;
    caller.require_any(&[Role::Publish, Role::Consume, Role::Admin])?;
    Ok(Json(ApiDoc::openapi()))
}

//! The error statuses an operation can answer, as OpenAPI response groups. Each handler's
//! `#[utoipa::path(responses(...))]` declares its statuses once, with these groups (the body of
//! each is [`ErrorBody`](super::error::ErrorBody)); schemathesis checks the document against a
//! live cluster (`broker/tests/schemathesis`).
//!
//! | group | statuses | who answers it |
//! |---|---|---|
//! | [`Invalid`] | 400 | malformed body, query, path or names |
//! | [`Auth`] | 401, 403 | every call but `/livez`, `/readyz`, `/metrics`, with `--auth-file` |
//! | [`Missing`] | 404 | an unknown topic (v1) or member |
//! | [`Refused`] | 409 | a conflicting write or admin call |
//! | [`TooLarge`] | 413 | a body or message over the limits |
//! | [`OutOfRange`] | 416 | an offset outside the log |
//! | [`Unavailable`] | 503 | no leader, no quorum, shutting down, over `--max-in-flight-requests` (every call but `/livez`, `/readyz`, `/metrics`): nothing stored, retry |
//! | [`Unknown`] | 504 | a write not confirmed in time: outcome unknown |
//! | [`Internal`] | 500 | a bug or a storage failure (never expected) |

use std::collections::BTreeMap;

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{Ref, RefOr};

fn error(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

macro_rules! group {
    ($(#[$doc:meta])* $name:ident: $($status:literal => $description:literal),+) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                BTreeMap::from([$(($status.to_string(), error($description))),+])
            }
        }
    };
}

group!(
    /// 400.
    Invalid: "400" => "malformed request (`malformed_json`, `invalid_field`, `invalid_query`, `invalid_path`, `invalid_topic`, ...)"
);
group!(
    /// 401, 403.
    Auth: "401" => "no token, or an unknown one (`unauthorized`)", "403" => "the token lacks the role (`forbidden`)"
);
group!(
    /// 404.
    Missing: "404" => "no such topic (`topic_not_found`), member (`unknown_member`) or consumer position (`consumer_not_found`)"
);
group!(
    /// 409.
    Refused: "409" => "refused; nothing changed"
);
group!(
    /// 413.
    TooLarge: "413" => "over the message or request size limit"
);
group!(
    /// 416.
    OutOfRange: "416" => "the offset is outside [log_start_offset, high_watermark] (`offset_out_of_range`)"
);
group!(
    /// 503.
    Unavailable: "503" => "no leader, no quorum, shutting down, or too many requests in flight: nothing was stored; retry (see `Retry-After`)"
);
group!(
    /// 504.
    Unknown: "504" => "not confirmed in time: the outcome is unknown (`commit_timeout`)"
);
group!(
    /// 500.
    Internal: "500" => "internal error; the node's log has the details"
);

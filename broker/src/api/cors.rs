//! CORS for browser apps (`--cors-allowed-origins`): off by default (no CORS headers, `OPTIONS`
//! gets 405). With origins set, a preflight `OPTIONS` from an allowed origin is answered
//! `204 No Content` with the allowed methods and headers (incl. `Authorization` and
//! `Content-Type`) and a max age, before authentication (preflights carry no token); other
//! answers carry `Access-Control-Allow-Origin`. Another origin gets no CORS headers.

use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight answer.
pub const MAX_AGE: Duration = Duration::from_secs(600);

/// The layer for the configured origins, or `None` when CORS is off. `*` allows any origin.
pub fn layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([header::RETRY_AFTER])
            .max_age(MAX_AGE),
    )
}

/// tower-http answers a preflight `200` with an empty body; `204` says so.
pub async fn preflight_no_content(method: Method, mut resp: Response) -> Response {
    if method == Method::OPTIONS && resp.status() == StatusCode::OK {
        *resp.status_mut() = StatusCode::NO_CONTENT;
    }
    resp
}

//! CORS for browser apps (`--cors-allowed-origins`): a preflight from an allowed origin is
//! answered 204 with the allowed methods and headers, before authentication; another origin gets
//! no CORS headers; normal answers carry `Access-Control-Allow-Origin`; off by default.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use jumpnet_broker::api::{self, AppState};
use jumpnet_broker::auth::Auth;
use tower::ServiceExt;

use crate::t30_api_limits::one;

const APP: &str = "https://app.example.com";

async fn send(router: &Router, req: Request<Body>) -> (StatusCode, HeaderMap) {
    let resp = router.clone().oneshot(req).await.unwrap();
    (resp.status(), resp.headers().clone())
}

fn preflight(origin: &str) -> Request<Body> {
    Request::options("/v1/topics/t/messages")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .body(Body::empty())
        .unwrap()
}

fn get(origin: &str) -> Request<Body> {
    Request::get("/v1/topics")
        .header("origin", origin)
        .header("authorization", "Bearer t1")
        .body(Body::empty())
        .unwrap()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).map_or("", |v| v.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn preflight_and_answers_carry_cors_headers_for_allowed_origins_only() {
    let dir = tempfile::tempdir().unwrap();
    let n = one(dir.path(), |c| {
        c.cors_allowed_origins = vec![APP.into(), "http://localhost:5173".into()];
    })
    .await;
    // With auth on: a preflight carries no token and must not be refused for it.
    let auth = Auth::parse("t1 alice publish,consume\n").unwrap();
    let router = api::router(AppState::new(&n.node, n.writer.clone(), auth));

    let (status, h) = send(&router, preflight(APP)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{h:?}");
    assert_eq!(header(&h, "access-control-allow-origin"), APP);
    let methods = header(&h, "access-control-allow-methods").to_ascii_uppercase();
    for m in ["GET", "POST", "PUT", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let headers = header(&h, "access-control-allow-headers").to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );
    assert_eq!(header(&h, "access-control-max-age"), "600");

    let (_, h) = send(&router, preflight("https://evil.example.com")).await;
    assert!(h.get("access-control-allow-origin").is_none(), "{h:?}");

    let (status, h) = send(&router, get(APP)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "access-control-allow-origin"), APP);
    let (status, h) = send(&router, get("https://evil.example.com")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(h.get("access-control-allow-origin").is_none(), "{h:?}");
    n.abort().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_is_off_by_default_and_star_allows_any_origin() {
    let dir = tempfile::tempdir().unwrap();
    let n = one(dir.path(), |_| {}).await;
    let router = api::router(AppState::new(&n.node, n.writer.clone(), Auth::open()));
    let (status, h) = send(&router, preflight(APP)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(h.get("access-control-allow-origin").is_none(), "{h:?}");
    let (_, h) = send(&router, get(APP)).await;
    assert!(h.get("access-control-allow-origin").is_none(), "{h:?}");
    n.abort().await;

    let dir = tempfile::tempdir().unwrap();
    let n = one(dir.path(), |c| c.cors_allowed_origins = vec!["*".into()]).await;
    let router = api::router(AppState::new(&n.node, n.writer.clone(), Auth::open()));
    let (status, h) = send(&router, preflight("https://anything.example")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(header(&h, "access-control-allow-origin"), "*");
    n.abort().await;
}

#[test]
fn origins_are_validated() {
    let mut c = jumpnet_broker::Config::new("/tmp/x", "127.0.0.1:0", "127.0.0.1:0").unwrap();
    c.cors_allowed_origins = vec![APP.into(), "*".into()];
    assert!(c.validate().is_ok());
    c.cors_allowed_origins = vec!["app.example.com/path".into()];
    assert!(c.validate().is_err());
}

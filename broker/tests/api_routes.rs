//! The OpenAPI document and the router describe the same API: every documented (method, path) is
//! served, and every served one is documented.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use jumpnet_broker::api::{self, openapi::ApiDoc, AppState};
use jumpnet_broker::auth::Auth;
use jumpnet_broker::{server, Config};
use tower::ServiceExt;
use utoipa::OpenApi;

const METHODS: [Method; 4] = [Method::GET, Method::PUT, Method::POST, Method::DELETE];

fn concrete(path: &str) -> String {
    path.replace("{topic}", "t")
        .replace("{name}", "c")
        .replace("{id}", "7")
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_document_covers_exactly_the_routes_served() {
    let dir = tempfile::tempdir().unwrap();
    let node = server::spawn(Config::new(dir.path(), "127.0.0.1:0", "127.0.0.1:0").unwrap())
        .await
        .unwrap();
    let app = api::router(AppState::new(&node.node, node.writer.clone(), Auth::open()));

    let doc = ApiDoc::openapi();
    let mut documented = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        for (m, op) in [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
        ] {
            if op.is_some() {
                documented.insert((m.to_string(), path.clone()));
            }
        }
    }

    let mut served = BTreeSet::new();
    for path in api::route_paths() {
        for m in METHODS {
            // Streams and long-polls answer at once here: the topic does not exist.
            let req = Request::builder()
                .method(m.clone())
                .uri(concrete(path))
                .body(Body::empty())
                .unwrap();
            let resp = app.clone().oneshot(req).await.unwrap();
            if resp.status() != StatusCode::METHOD_NOT_ALLOWED {
                let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                    .await
                    .unwrap();
                assert!(
                    !String::from_utf8_lossy(&body).contains("no route for"),
                    "{m} {path} fell through to the fallback"
                );
                served.insert((m.to_string(), path.to_string()));
            }
        }
    }
    assert_eq!(served, documented, "router (left) vs OpenAPI (right)");
    let json = serde_json::to_value(&doc).unwrap();
    assert!(json["openapi"].as_str().unwrap().starts_with("3."));
    assert!(
        json["components"]["schemas"]["PublishRequest"].is_object(),
        "request types are in the document"
    );
    node.shutdown().await;
}

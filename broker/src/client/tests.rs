//! Failover against fake nodes: what is sent again and what is not.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use axum::Json;

use super::*;

/// Two fake nodes answering every publish with `status` (SPEC §3 body); counts the publishes.
async fn nodes(status: StatusCode, code: &'static str) -> (Vec<String>, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let mut urls = Vec::new();
    for _ in 0..2 {
        let seen = count.clone();
        let app = axum::Router::new().route(
            "/v1/topics/{topic}/messages",
            post(move || {
                seen.fetch_add(1, Ordering::SeqCst);
                async move {
                    (
                        status,
                        Json(json!({"error": {"code": code, "message": "m"}})),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        urls.push(format!("http://{}", listener.local_addr().unwrap()));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }
    (urls, count)
}

fn client(urls: &[String]) -> Client {
    Client::builder(urls)
        .retry_for(Duration::from_millis(300))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_publish_without_producer_id_is_never_sent_again_after_a_504() {
    let (urls, count) = nodes(StatusCode::GATEWAY_TIMEOUT, "commit_timeout").await;
    let r = client(&urls).publish("t", vec!["v".into()]).await;
    assert!(matches!(r, Err(Error::Unknown(_))), "{r:?}");
    assert_eq!(count.load(Ordering::SeqCst), 1, "a 504 was re-sent");
}

#[tokio::test]
async fn a_publish_with_a_producer_id_is_retried_after_a_504_and_any_publish_after_a_503() {
    let (urls, count) = nodes(StatusCode::GATEWAY_TIMEOUT, "commit_timeout").await;
    let r = client(&urls)
        .publish_idempotent("t", vec!["v".into()], "p", 0)
        .await;
    assert!(matches!(r, Err(Error::Api { status: 504, .. })), "{r:?}");
    assert!(count.load(Ordering::SeqCst) >= 2);

    let (urls, count) = nodes(StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let r = client(&urls).publish("t", vec!["v".into()]).await;
    assert!(matches!(r, Err(Error::Api { status: 503, .. })), "{r:?}");
    assert!(
        count.load(Ordering::SeqCst) >= 2,
        "nothing stored: safe to send again"
    );
}

/// `from_env`: the CLI's variables, read through a closure here (the process environment is shared
/// by every test thread); the files themselves are exercised against a TLS node in
/// `tests/cluster/t78_client_cert.rs`.
#[test]
fn the_environment_gives_the_token_the_ca_and_the_client_certificate_as_the_cli_reads_them() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    };
    let b = Client::builder(["a:1"])
        .env_with(env(&[("JUMPNET_TOKEN", "s3cret")]))
        .unwrap();
    assert_eq!(b.token.as_deref(), Some("s3cret"));
    assert!(b.roots.is_empty() && b.identity.is_none());

    // Empty means unset, as for the CLI.
    let b = Client::builder(["a:1"])
        .token(Some("given".into()))
        .env_with(env(&[
            ("JUMPNET_TOKEN", ""),
            ("JUMPNET_CACERT", ""),
            ("JUMPNET_CERT", ""),
        ]))
        .unwrap();
    assert_eq!(b.token.as_deref(), Some("given"));

    let err = |vars| match Client::builder(["a:1"]).env_with(env(vars)) {
        Err(Error::Config(m)) => m,
        Err(e) => panic!("not a configuration error: {e}"),
        Ok(_) => panic!("accepted {vars:?}"),
    };
    let m = err(&[("JUMPNET_CACERT", "/nonexistent/ca.pem")]);
    assert!(
        m.contains("JUMPNET_CACERT") && m.contains("/nonexistent/ca.pem"),
        "{m}"
    );
    let m = err(&[("JUMPNET_CERT_KEY", "/k.pem")]);
    assert!(m.contains("without JUMPNET_CERT"), "{m}");
    let m = err(&[("JUMPNET_CERT", "/nonexistent/c.pem")]);
    assert!(
        m.contains("JUMPNET_CERT") && m.contains("/nonexistent/c.pem"),
        "{m}"
    );
}

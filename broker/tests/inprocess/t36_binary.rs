//! Binary values over HTTP: `value_b64` publishes any bytes; reads give `value` for text and
//! `value_b64` for the rest (`encoding=base64` for every message); bad input is a clear 400 and
//! stores nothing; the text-only seed API shows such values with U+FFFD.

use axum::http::Method;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::json;

use crate::harness::Cluster;

const BINARY: &[u8] = &[0xff, 0x00, 0xfe, b'j', b'n', 0x80, 0x0a];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_values_round_trip_and_bad_ones_store_nothing() {
    let c = Cluster::one(|_| {}).await;
    let body = json!({"messages": [
        {"value_b64": B64.encode(BINARY), "key": "k"},
        {"value": "plain text é"},
        {"value_b64": B64.encode("text sent as base64")},
    ]});
    let (status, v, _) = c
        .call(
            0,
            Method::POST,
            "/v1/topics/bin/messages",
            &body.to_string(),
        )
        .await;
    assert_eq!(status, 200, "{v}");

    for (bad, why) in [
        (
            json!({"messages": [{"key": "k"}]}),
            "`value` (text) or `value_b64`",
        ),
        (
            json!({"messages": [{"value": "a", "value_b64": "YQ=="}]}),
            "not both",
        ),
        (
            json!({"messages": [{"value_b64": "not base64!"}]}),
            "not base64",
        ),
    ] {
        let (status, v, _) = c
            .call(0, Method::POST, "/v1/topics/bin/messages", &bad.to_string())
            .await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (400, Some("invalid_field")),
            "{bad}: {v}"
        );
        assert!(v["error"]["message"].as_str().unwrap().contains(why), "{v}");
    }

    let (status, v, _) = c.call(0, Method::GET, "/v1/topics/bin/messages", "").await;
    assert_eq!(status, 200, "{v}");
    let m = v["messages"].as_array().unwrap();
    assert_eq!(m.len(), 3, "the refused batches stored nothing: {v}");
    assert_eq!(m[0]["value"], serde_json::Value::Null);
    assert_eq!(
        B64.decode(m[0]["value_b64"].as_str().unwrap()).unwrap(),
        BINARY
    );
    assert_eq!(m[0]["key"], "k");
    assert_eq!(m[1]["value"], "plain text é");
    assert!(m[1].get("value_b64").is_none(), "{v}");
    // Bytes that happen to be UTF-8 read back as text, whichever field carried them.
    assert_eq!(m[2]["value"], "text sent as base64");

    let (_, v, _) = c
        .call(
            0,
            Method::GET,
            "/v1/topics/bin/messages?encoding=base64",
            "",
        )
        .await;
    let m = v["messages"].as_array().unwrap();
    assert!(m.iter().all(|m| m["value"].is_null()), "{v}");
    assert_eq!(
        B64.decode(m[1]["value_b64"].as_str().unwrap()).unwrap(),
        "plain text é".as_bytes()
    );
    let (status, v, _) = c
        .call(0, Method::GET, "/v1/topics/bin/messages?encoding=hex", "")
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("invalid_query")),
        "{v}"
    );

    // The seed API is text only: what is not UTF-8 shows as U+FFFD, nothing is dropped.
    let (status, v, _) = c.call(0, Method::GET, "/history/bin", "").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!([
            String::from_utf8_lossy(BINARY),
            "plain text é",
            "text sent as base64"
        ])
    );
    c.shutdown().await;
}

/// Bodies are parsed without tracking the JSON path (cheaper per request); one that fails is
/// parsed again with it, so the error still names the field at fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_body_names_the_field_at_fault_and_trailing_bytes_are_malformed() {
    let c = Cluster::one(|_| {}).await;
    for (bad, code, starts) in [
        (
            r#"{"messages": [{"value": "a"}, {"value": 5}]}"#,
            "invalid_field",
            "messages[1].value: invalid type",
        ),
        (
            r#"{"messages": [{"value": "a", "valu": "b"}]}"#,
            "invalid_field",
            "messages[0]",
        ),
        (r#"{"messages": [{"value": "a"}]} x"#, "malformed_json", ""),
        (r#"{"messages": [{"value": "#, "malformed_json", ""),
    ] {
        let (status, v, _) = c
            .call(0, Method::POST, "/v1/topics/badbody/messages", bad)
            .await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (400, Some(code)),
            "{bad}: {v}"
        );
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with(starts), "{bad}: {msg}");
    }
    let (status, v, _) = c
        .call(
            0,
            Method::POST,
            "/v1/topics/badbody/messages",
            r#"{"messages": [{"value": "ok"}]}"#,
        )
        .await;
    assert_eq!(status, 200, "{v}");
}

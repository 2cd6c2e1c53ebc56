//! Bad input gets a SPEC §3 error and loses nothing; the node keeps serving.

use std::io::Write;

use reqwest::Method;
use serde_json::json;

use crate::harness::Cluster;

fn code(v: &serde_json::Value) -> &str {
    v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {v}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_documented_errors_and_the_node_keeps_serving() {
    let mut c = Cluster::new();
    c.add(
        None,
        &[
            "--max-message-bytes",
            "1024",
            "--max-request-bytes",
            "65536",
        ],
    );
    c.wait_voters(&[0], 1).await;
    assert_eq!(c.put(0, "t", "before").await.unwrap(), 0);

    let cases: &[(Method, &str, String, u16, &str)] = &[
        (Method::PUT, "/", "not json".into(), 400, "malformed_json"),
        (
            Method::PUT,
            "/",
            "{\"Key\":\"t\",\"Value\":".into(),
            400,
            "malformed_json",
        ),
        (Method::PUT, "/", "".into(), 400, "malformed_json"),
        (
            Method::PUT,
            "/",
            json!({"Key": 5, "Value": "x"}).to_string(),
            400,
            "invalid_field",
        ),
        (
            Method::PUT,
            "/",
            json!({"Key": "t"}).to_string(),
            400,
            "invalid_field",
        ),
        (
            Method::PUT,
            "/",
            json!({"Key": "a/b", "Value": "x"}).to_string(),
            400,
            "invalid_topic",
        ),
        (
            Method::PUT,
            "/publish",
            json!({"Key": "", "Value": "x"}).to_string(),
            400,
            "invalid_topic",
        ),
        (
            Method::PUT,
            "/",
            json!({"Key": "t", "Value": "x".repeat(1025)}).to_string(),
            413,
            "message_too_large",
        ),
        (
            Method::PUT,
            "/",
            json!({"Key": "t", "Value": "x".repeat(70_000)}).to_string(),
            413,
            "request_too_large",
        ),
        (
            Method::POST,
            "/v1/topics/t/messages",
            json!({"messages": []}).to_string(),
            400,
            "empty_batch",
        ),
        (
            Method::POST,
            "/v1/topics/t/messages",
            json!({"messages": [{"value": 1}]}).to_string(),
            400,
            "invalid_field",
        ),
        (
            Method::POST,
            "/v1/topics/t/messages",
            json!({"messages": [{"value": "a", "extra": 1}]}).to_string(),
            400,
            "invalid_field",
        ),
        (
            Method::POST,
            "/v1/topics/t/messages",
            json!({"messages": [{"value": "a"}], "producer_id": "p"}).to_string(),
            400,
            "invalid_field",
        ),
        (
            Method::GET,
            "/v1/topics/t/messages?offset=abc",
            String::new(),
            400,
            "invalid_query",
        ),
        (
            Method::GET,
            "/v1/topics/t/messages?offset=99",
            String::new(),
            416,
            "offset_out_of_range",
        ),
        (
            Method::GET,
            "/v1/topics/nope/messages",
            String::new(),
            404,
            "topic_not_found",
        ),
        (Method::GET, "/v1/nope", String::new(), 404, "not_found"),
        (Method::GET, "/a/b/c", String::new(), 404, "not_found"),
        (Method::GET, "/", String::new(), 405, "method_not_allowed"),
        (
            Method::DELETE,
            "/t",
            String::new(),
            405,
            "method_not_allowed",
        ),
        (
            Method::POST,
            "/v1/cluster/members",
            json!({"id": 9, "raft_addr": "nohost", "api_addr": "x:1"}).to_string(),
            400,
            "invalid_field",
        ),
        (
            Method::PUT,
            "/v1/consumers/c/topics/t",
            json!({"offset": 50}).to_string(),
            416,
            "offset_out_of_range",
        ),
    ];
    for (method, path, body, status, expected) in cases {
        let (s, v) = c
            .send(method.clone(), 0, path, body)
            .await
            .unwrap_or_else(|| panic!("{method} {path}: no answer"));
        assert_eq!(
            (s, code(&v)),
            (*status, *expected),
            "{method} {path} {}: {v}",
            &body[..body.len().min(60)]
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
    }

    // 416 tells the valid range.
    let (_, v) = c.get(0, "/v1/topics/t/messages?offset=99").await.unwrap();
    assert_eq!(
        (
            v["error"]["log_start_offset"].as_u64(),
            v["error"]["high_watermark"].as_u64()
        ),
        (Some(0), Some(1))
    );

    // Garbage on the raft port costs the sender its connection, nothing else.
    for junk in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[0xff; 64][..],
        &b"JNRAFT1\n\xff\xff\xff\xff"[..],
    ] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", c.nodes[0].raft_port)).unwrap();
        let _ = s.write_all(junk);
    }

    // Still serving, nothing lost, nothing extra stored.
    assert_eq!(c.put(0, "t", "after").await.unwrap(), 1);
    assert_eq!(c.history(0, "t").await.unwrap(), vec!["before", "after"]);
    let (s, v) = c.get(0, "/readyz").await.unwrap();
    assert_eq!(s, 200, "{v}");
    assert!(!c.nodes[0].has_exited());
}

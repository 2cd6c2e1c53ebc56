//! Auth (SPEC §5): tokens and roles on the API, the cluster secret on the raft port.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::harness::{wait_until, Cluster};

const TOKENS: &str = "# token publisher roles\npub-token alice publish\nread-token bob consume\nadmin-token ops admin,publish,consume\n";

async fn call(
    c: &Cluster,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut req = c
        .http
        .request(method, format!("{}{path}", c.nodes[0].api()))
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// One node with `tokens` as its auth file (and the cluster secret auth needs), once ready.
async fn secured_node(tokens: &str) -> Cluster {
    let mut c = Cluster::new();
    let file = c.tmp.path().join("tokens");
    std::fs::write(&file, tokens).unwrap();
    let file = file.display().to_string();
    c.add(None, &["--auth-file", &file, "--cluster-secret", "s3cret"]);
    wait_until("ready", Duration::from_secs(20), || async {
        c.get(0, "/readyz").await.filter(|(s, _)| *s == 200)
    })
    .await
    .unwrap();
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_and_roles_guard_the_api_and_publishers_are_recorded() {
    let c = secured_node(TOKENS).await;

    let publish = json!({"messages": [{"value": "hello"}]}).to_string();
    let path = "/v1/topics/secure/messages";
    // Health and metrics stay open.
    for open in ["/livez", "/readyz", "/metrics"] {
        assert_eq!(
            c.http
                .get(format!("{}{open}", c.nodes[0].api()))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{open}"
        );
    }
    let (s, v) = call(&c, Method::POST, path, None, &publish).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (s, _) = call(&c, Method::POST, path, Some("wrong"), &publish).await;
    assert_eq!(s, 401);
    let (s, v) = call(&c, Method::POST, path, Some("read-token"), &publish).await;
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("forbidden")));
    let (s, _) = call(&c, Method::POST, path, Some("pub-token"), &publish).await;
    assert_eq!(s, 200);
    let (s, _) = call(
        &c,
        Method::GET,
        "/v1/topics/secure/messages?offset=0",
        Some("pub-token"),
        "",
    )
    .await;
    assert_eq!(s, 403, "publish-only tokens cannot read");
    let (s, r) = call(
        &c,
        Method::GET,
        "/v1/topics/secure/messages?offset=0",
        Some("read-token"),
        "",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        r["messages"][0]["publisher"], "alice",
        "the publisher is recorded from the token"
    );

    // The seed body may carry the token instead of the header.
    let seed = json!({"Key": "secure", "Value": "seed", "Token": "admin-token"}).to_string();
    let (s, _) = call(&c, Method::PUT, "/", None, &seed).await;
    assert_eq!(s, 200);
    let (s, _) = call(
        &c,
        Method::PUT,
        "/",
        None,
        &json!({"Key": "secure", "Value": "x", "Token": "read-token"}).to_string(),
    )
    .await;
    assert_eq!(s, 403);
    let (_, r) = call(
        &c,
        Method::GET,
        "/v1/topics/secure/messages?offset=1",
        Some("read-token"),
        "",
    )
    .await;
    assert_eq!(
        (
            r["messages"][0]["value"].as_str(),
            r["messages"][0]["publisher"].as_str()
        ),
        (Some("seed"), Some("ops"))
    );

    // Admin calls need the admin role.
    let (s, _) = call(&c, Method::PUT, "/v1/topics/other", Some("pub-token"), "{}").await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &c,
        Method::DELETE,
        "/v1/cluster/members/9",
        Some("read-token"),
        "",
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &c,
        Method::PUT,
        "/v1/topics/other",
        Some("admin-token"),
        "{}",
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = call(&c, Method::GET, "/openapi.json", None, "").await;
    assert_eq!(s, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_raft_port_refuses_peers_without_the_cluster_secret() {
    let mut c = Cluster::new();
    c.add(None, &["--cluster-secret", "s3cret"]);
    c.wait_voters(&[0], 1).await;
    c.put(0, "t", "x").await.unwrap();
    // A node with the wrong secret cannot even get an id from the cluster.
    let intruder = c.add(Some(0), &["--cluster-secret", "guess"]);
    let wrong = c.add(Some(0), &[]);
    let friend = c.add(Some(0), &["--cluster-secret", "s3cret"]);
    c.wait_voters(&[0, friend], 2).await;
    assert_eq!(c.history(friend, "t").await.unwrap(), vec!["x"]);
    for i in [intruder, wrong] {
        wait_until(
            "the refused node says why",
            Duration::from_secs(10),
            || async {
                c.nodes[i]
                    .log_tail()
                    .contains("refused our cluster secret")
                    .then_some(())
            },
        )
        .await
        .unwrap_or_else(|e| panic!("node {i}: {e}\n{}", c.nodes[i].log_tail()));
    }
    let v = c.view(0).await.unwrap();
    assert_eq!(
        v["members"].as_array().unwrap().len(),
        2,
        "only the friend joined: {v}"
    );
    let leader_log = std::fs::read_to_string(c.nodes[0].log_path()).unwrap();
    assert!(leader_log.contains("refused a raft peer without the cluster secret"));
}

#[test]
fn tokens_without_a_cluster_secret_refuse_to_start_with_one_line() {
    // Else the raft port would take a forged Forward(DeleteTopic) from anyone (review H4).
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("tokens");
    std::fs::write(&file, TOKENS).unwrap();
    let out = std::process::Command::new(crate::harness::BIN)
        .arg(format!("-state_dir={}", tmp.path().join("state").display()))
        .args(["-raft", ":0", "-api", ":0", "--auth-file"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("--cluster-secret"), "{err}");
}

/// M8: with auth on, a producer id belongs to its caller. Another token naming the same producer id
/// (here with the highest sequence there is) neither blocks nor replays the owner's sequences.
#[tokio::test(flavor = "multi_thread")]
async fn a_producer_id_belongs_to_the_token_that_uses_it() {
    let c = secured_node(&format!("{TOKENS}mallory-token mallory publish\n")).await;
    let path = "/v1/topics/orders/messages";
    let body = |value: &str, sequence: u64| {
        json!({"messages": [{"value": value}], "producer_id": "p1", "sequence": sequence})
            .to_string()
    };

    let (s, v) = call(&c, Method::POST, path, Some("pub-token"), &body("a0", 0)).await;
    assert_eq!(s, 200, "{v}");
    let alice_first = v["base_offset"].as_u64().unwrap();
    // Mallory names alice's producer id: a replay of sequence 0 is a new message of mallory's own,
    // not alice's answer, and u64::MAX does not poison alice's sequence space.
    let (s, v) = call(
        &c,
        Method::POST,
        path,
        Some("mallory-token"),
        &body("m0", 0),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_ne!(v["base_offset"].as_u64(), Some(alice_first), "{v}");
    let (s, v) = call(
        &c,
        Method::POST,
        path,
        Some("mallory-token"),
        &body("m1", u64::MAX),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(&c, Method::POST, path, Some("pub-token"), &body("a1", 1)).await;
    assert_eq!(
        s, 200,
        "alice keeps publishing after mallory used her producer id: {v}"
    );
    // Alice's own retries are still deduplicated, and the 409 names her id as she gave it.
    let (s, v) = call(&c, Method::POST, path, Some("pub-token"), &body("a0", 0)).await;
    assert_eq!(
        (s, v["base_offset"].as_u64()),
        (200, Some(alice_first)),
        "{v}"
    );
    let (s, v) = call(&c, Method::POST, path, Some("pub-token"), &body("a2", 2)).await;
    assert_eq!(s, 200, "{v}");
    for old in 3..9 {
        let (s, _) = call(
            &c,
            Method::POST,
            path,
            Some("pub-token"),
            &body("x", old + 10),
        )
        .await;
        assert_eq!(s, 200);
    }
    let (s, v) = call(&c, Method::POST, path, Some("pub-token"), &body("late", 1)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("sequence_too_old")),
        "{v}"
    );
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("\"p1\"") && !msg.contains("alice"), "{msg}");
}

//! How failures reach clients: 503 when provably nothing was stored, the state machine's refusals
//! with their own statuses, wherever the request landed.

use axum::http::Method;
use serde_json::json;

use crate::harness::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_leader_answers_503_with_retry_after() {
    let mut c = Cluster::three().await;
    let (l, f) = (c.leader_index(), c.follower_index());
    let other = (0..3).find(|i| *i != l && *i != f).unwrap();
    c.abort(l).await;
    c.abort(other).await;
    c.wait("the survivor knows no leader", |c| {
        c.node(f).node.leader_id().is_none().then_some(())
    })
    .await;
    // The gauge dashboards and alerts read says the same (openraft still names the old leader).
    c.wait("jumpnet_raft_has_leader is 0 on the survivor", |c| {
        (c.node(f).node.node_metrics().raft_has_leader.get() == 0).then_some(())
    })
    .await;
    let (status, v, retry_after) = c
        .call(f, Method::PUT, "/", r#"{"Key":"t","Value":"v"}"#)
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (503, Some("no_leader")),
        "{v}"
    );
    assert_eq!(retry_after.as_deref(), Some("1"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_cut_off_from_the_majority_answers_503_no_quorum() {
    let mut c = Cluster::three().await;
    let l = c.leader_index();
    for i in (0..3).filter(|i| *i != l) {
        c.abort(i).await;
    }
    c.wait("the leader sees it lost the majority", |c| {
        c.node(l).node.readiness().err()
    })
    .await;
    let (status, v, _) = c
        .call(
            l,
            Method::POST,
            "/v1/topics/t/messages",
            r#"{"messages":[{"value":"v"}]}"#,
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (503, Some("no_quorum")),
        "{v}"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refusals_of_the_state_machine_reach_clients_of_any_node() {
    let c = Cluster::three().await;
    let f = c.follower_index();
    let publish = |seq: u64| {
        json!({"messages": [{"value": "v"}], "producer_id": "p", "sequence": seq}).to_string()
    };
    for seq in [10, 11, 12, 13, 14, 15] {
        assert_eq!(
            c.call(f, Method::POST, "/v1/topics/t/messages", &publish(seq))
                .await
                .0,
            200
        );
    }
    let (status, v, _) = c
        .call(f, Method::POST, "/v1/topics/t/messages", &publish(3))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("sequence_too_old")),
        "{v}"
    );

    let (status, v, _) = c
        .call(
            f,
            Method::PUT,
            "/v1/consumers/c/topics/t",
            r#"{"offset": 99}"#,
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (416, Some("offset_out_of_range")),
        "{v}"
    );
    assert_eq!(
        (
            v["error"]["log_start_offset"].as_u64(),
            v["error"]["high_watermark"].as_u64()
        ),
        (Some(0), Some(6))
    );

    let (status, v, _) = c
        .call(
            f,
            Method::PUT,
            "/v1/consumers/c/topics/none",
            r#"{"offset": 0}"#,
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("topic_not_found")),
        "{v}"
    );
    let (status, v, _) = c.call(f, Method::DELETE, "/v1/topics/none", "").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("topic_not_found")),
        "{v}"
    );
    c.shutdown().await;
}

//! Writes, admin calls and strong reads received by a follower are carried out by the leader.

use axum::http::Method;
use jumpnet_broker::command::{CommitOffset, NewMessage, OpError, Publish, PutTopic};
use jumpnet_broker::write::WriteError;
use serde_json::json;

use crate::harness::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follower_forwards_publish_to_leader() {
    let c = Cluster::three().await;
    let (f, l) = (c.follower_index(), c.leader_index());
    let body = json!({"messages": [{"value": "a"}, {"value": "b", "key": "k"}]}).to_string();
    let (status, v, _) = c
        .call(f, Method::POST, "/v1/topics/orders/messages", &body)
        .await;
    assert_eq!((status, v["offsets"].clone()), (200, json!([0, 1])), "{v}");

    // The leader stored it, and the follower that answered reads its own write at once.
    for i in [l, f] {
        let (status, v, _) = c
            .call(i, Method::GET, "/v1/topics/orders/messages?offset=0", "")
            .await;
        assert_eq!(status, 200);
        let values: Vec<&str> = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap())
            .collect();
        assert_eq!(values, ["a", "b"], "node {i}");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn typed_writes_on_a_follower_answer_typed_replies() {
    let c = Cluster::three().await;
    let w = &c.node(c.follower_index()).writer;
    let put = |create_only| PutTopic {
        topic: "t".into(),
        retention: None,
        create_only,
        partitions: None,
    };
    assert!(w.put_topic(put(false)).await.unwrap().created);
    assert!(!w.put_topic(put(false)).await.unwrap().created);
    assert_eq!(
        w.put_topic(put(true)).await,
        Err(WriteError::Op(OpError::TopicExists { topic: "t".into() }))
    );
    let published = w
        .publish(Publish {
            topic: "t".into(),
            messages: vec![
                NewMessage::new("x"),
                NewMessage::new("y"),
                NewMessage::new("z"),
            ],
            producer: None,
            publisher: None,
            partition: 0,
            kafka: None,
        })
        .await
        .unwrap();
    assert_eq!(published.offsets(), 0..3);
    let commit = |topic: &str, offset| CommitOffset {
        consumer: "c".into(),
        topic: topic.into(),
        offset,
        partition: 0,
    };
    assert_eq!(w.commit_offset(commit("t", 2)).await.unwrap().offset, 2);
    assert_eq!(
        w.commit_offset(commit("nope", 0)).await,
        Err(WriteError::Op(OpError::TopicNotFound {
            topic: "nope".into()
        }))
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_calls_on_a_follower_run_on_the_leader() {
    let c = Cluster::three().await;
    let f = c.follower_index();
    // The leader's view: replication progress of every member is known.
    let (status, v, _) = c.call(f, Method::GET, "/v1/cluster", "").await;
    assert_eq!(status, 200);
    assert_eq!(v["leader_id"].as_u64(), c.leader());
    assert!(
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["matched_index"].is_u64()),
        "{v}"
    );
    // The leader's refusal comes back typed, as its HTTP answer.
    let (status, v, _) = c
        .call(f, Method::POST, "/v1/cluster/members/99/promote", "")
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("unknown_member"))
    );
    let last_voter_elsewhere = c.node(f).node.id();
    let (status, v, _) = c
        .call(
            f,
            Method::POST,
            "/v1/cluster/members",
            &json!({"id": 50, "raft_addr": c.node(f).node.addr().raft_addr, "api_addr": "x:1"})
                .to_string(),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("address_in_use")),
        "node {last_voter_elsewhere}"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_strong_read_on_a_follower_sees_a_write_made_through_the_leader() {
    let c = Cluster::three().await;
    let (f, l) = (c.follower_index(), c.leader_index());
    for n in 0..20 {
        let (status, _, _) = c
            .call(
                l,
                Method::PUT,
                "/",
                &json!({"Key": "s", "Value": n.to_string()}).to_string(),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, v, _) = c
        .call(f, Method::GET, "/history/s?consistency=strong", "")
        .await;
    assert_eq!(status, 200);
    assert_eq!(v.as_array().unwrap().len(), 20, "{v}");
    c.shutdown().await;
}

//! Who may vote and who is ready (contract "Needed by the operator", parts 1 and 2): a learner is
//! not ready until promoted; a member is recorded with its incarnation; a managed node outside any
//! cluster never grants a vote.

use std::time::Duration;

use jumpnet_broker::cluster::rpc;
use jumpnet_broker::peer::{PeerPool, RpcFailure};
use jumpnet_broker::server::{self, Running};
use jumpnet_broker::write::{MembershipError, WriteError};
use jumpnet_broker::Config;

use crate::harness::{ELECTION_TIMEOUT, PATIENCE};

fn config(dir: &std::path::Path) -> Config {
    let mut c = Config::new(dir, "127.0.0.1:0", "127.0.0.1:0").unwrap();
    c.election_timeout = ELECTION_TIMEOUT;
    c.commit_timeout = Duration::from_secs(5);
    c.shutdown_grace = Duration::ZERO;
    c
}

fn managed(dir: &std::path::Path, id: u64) -> Config {
    let mut c = config(dir);
    c.managed = true;
    c.node_id = Some(id);
    c
}

async fn until<T>(what: &str, f: impl Fn() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn leader_of_one(dir: &std::path::Path) -> Running {
    let first = server::spawn(config(&dir.join("n1"))).await.unwrap();
    until("node 1 leads its cluster", || first.node.readiness().ok()).await;
    first
}

#[tokio::test(flavor = "multi_thread")]
async fn a_learner_is_not_ready_until_promoted_and_members_keep_their_incarnation() {
    let dir = tempfile::tempdir().unwrap();
    let leader = leader_of_one(dir.path()).await;
    let learner = server::spawn(managed(&dir.path().join("n2"), 2))
        .await
        .unwrap();
    let mut addr = learner.node.addr().clone();
    assert_eq!(addr.incarnation.as_deref().map(str::len), Some(32));
    leader.node.add_learner(2, addr.clone()).await.unwrap();
    // Caught up, a leader known, the cluster id applied: all a voter needs to be ready.
    until("the learner caught up", || {
        let v = learner.node.local_view();
        (v.cluster_id.is_some()
            && v.leader_id == Some(1)
            && v.applied_index >= leader.node.local_view().commit_index)
            .then_some(())
    })
    .await;
    let why = learner.node.readiness().unwrap_err();
    assert!(why.contains("learner"), "{why}");
    // Recorded with its incarnation; the same one again is a no-op, another is refused.
    let view = leader.node.local_view();
    assert_eq!(view.member(2).unwrap().incarnation, addr.incarnation);
    assert_eq!(view.member(2).unwrap().role, "learner");
    leader.node.add_learner(2, addr.clone()).await.unwrap();
    addr.incarnation = Some("0".repeat(32));
    let e = leader.node.add_learner(2, addr).await.unwrap_err();
    assert!(
        matches!(
            e,
            WriteError::Membership(MembershipError::IncarnationMismatch { id: 2, .. })
        ),
        "{e:?}"
    );
    leader.node.promote(2).await.unwrap();
    until("the promoted learner is ready", || {
        learner.node.readiness().ok()
    })
    .await;
    learner.abort().await;
    leader.abort().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_managed_node_outside_any_cluster_never_grants_a_vote() {
    let dir = tempfile::tempdir().unwrap();
    let lone = server::spawn(managed(&dir.path().join("n3"), 3))
        .await
        .unwrap();
    let pool = PeerPool::new(None, None);
    let vote = openraft::raft::VoteRequest::new(openraft::Vote::new(7, 1), None);
    let got = rpc::call(
        &pool,
        &lone.node.addr().raft_addr,
        vote,
        Duration::from_secs(5),
    )
    .await;
    match got {
        Err(RpcFailure::Refused(why)) => assert!(why.contains("no_cluster"), "{why}"),
        other => panic!("a vote request was answered: {other:?}"),
    }
    assert_eq!(lone.node.metrics_now().current_term, 0, "term not adopted");
    lone.abort().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn raft_requests_for_another_incarnation_are_refused_without_effect() {
    let dir = tempfile::tempdir().unwrap();
    let node = server::spawn(managed(&dir.path().join("n4"), 4))
        .await
        .unwrap();
    let pool = PeerPool::new(None, None);
    let vote = openraft::raft::VoteRequest::new(openraft::Vote::new(7, 1), None);
    let addressed = rpc::Addressed(Some("f".repeat(32)), vote);
    let got = rpc::call(
        &pool,
        &node.node.addr().raft_addr,
        addressed,
        Duration::from_secs(5),
    )
    .await;
    match got {
        Err(RpcFailure::Refused(why)) => assert!(why.contains("wrong_incarnation"), "{why}"),
        other => panic!("answered: {other:?}"),
    }
    assert_eq!(node.node.metrics_now().current_term, 0, "term not adopted");
    node.abort().await;
}

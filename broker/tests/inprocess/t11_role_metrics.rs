//! What a write in flight watches: the leader's role metrics (term, state, leader, membership),
//! which stay put while entries are committed, not openraft's full metrics, which change several
//! times per entry (every proposal in flight and the gauges were woken by each change).

use jumpnet_broker::command::{NewMessage, Publish};

use crate::harness::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn committing_entries_leaves_the_role_metrics_unchanged() {
    let c = Cluster::three().await;
    let leader = c.node(c.leader_index());
    let raft = leader.node.raft();
    let (mut role, mut full) = (raft.server_metrics(), raft.metrics());
    let term = role.borrow_and_update().vote.leader_id().term;
    full.borrow_and_update();
    for i in 0..20 {
        leader
            .writer
            .publish(Publish {
                topic: "roles".into(),
                messages: vec![NewMessage::new(format!("m{i}"))],
                producer: None,
                publisher: None,
                partition: 0,
                kafka: None,
            })
            .await
            .unwrap();
    }
    // Nothing about the role changed (the same leader, term and membership throughout)...
    let m = raft.metrics().borrow().clone();
    assert_eq!(
        (m.current_leader, m.current_term),
        (Some(leader.node.id()), term)
    );
    assert!(
        !role.has_changed().unwrap(),
        "the role metrics changed while only entries were committed: every write in flight \
         waiting on a leader change would be woken per entry"
    );
    // ... while the full metrics moved with every entry.
    assert!(full.has_changed().unwrap());
    c.shutdown().await;
}

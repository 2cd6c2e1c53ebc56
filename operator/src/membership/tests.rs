use super::*;

const CID: &str = "c-1";

fn member(id: u64, role: Role, matched: Option<u64>) -> Member {
    Member {
        id,
        raft_addr: format!("demo-{id}:8080"),
        api_addr: format!("demo-{id}:9090"),
        role,
        matched_index: matched,
        incarnation: Some(format!("inc-{id}")),
    }
}

/// Seconds of `spec.rollout.readyTimeoutSeconds` in these tests.
const TIMEOUT: u64 = 300;

fn fresh_view(node: u64) -> ClusterView {
    ClusterView {
        node_id: Some(node),
        incarnation: Some(format!("new-{node}")),
        ..ClusterView::default()
    }
}

/// A cluster whose leader is `leader`, members `(id, role)` all caught up at commit 50, pods
/// `0..pods` running + ready on revision r1, spec.replicas = `desired`.
fn cluster(desired: u32, pods: u64, members: &[(u64, Role)], leader: u64) -> Observed {
    let ms: Vec<Member> = members
        .iter()
        .map(|(id, r)| member(*id, *r, Some(50)))
        .collect();
    let mut o = Observed {
        desired,
        recorded_cluster_id: Some(CID.into()),
        statefulset_replicas: Some(pods as u32),
        update_revision: Some("r1".into()),
        cluster_secret: None,
        pods: BTreeMap::new(),
        ready_timeout_secs: TIMEOUT,
        force_new_cluster: None,
        recorded_voters: None,
    };
    for i in 0..pods {
        let is_member = ms.iter().any(|m| m.id == i);
        let view = ClusterView {
            cluster_id: is_member.then(|| CID.to_string()),
            node_id: Some(i),
            leader_id: is_member.then_some(leader),
            term: 3,
            commit_index: 50,
            applied_index: 50,
            last_log_index: 50,
            incarnation: Some(format!("inc-{i}")),
            quorum_ack_ms: (i == leader).then_some(0),
            members: if i == leader { ms.clone() } else { vec![] },
        };
        o.pods.insert(
            i,
            PodObservation {
                running: true,
                ready: is_member,
                revision: Some("r1".into()),
                view: Some(view),
                ..PodObservation::default()
            },
        );
    }
    o
}

fn voters(ids: &[u64]) -> Vec<(u64, Role)> {
    ids.iter().map(|id| (*id, Role::Voter)).collect()
}

fn set_matched(o: &mut Observed, leader: u64, id: u64, matched: Option<u64>) {
    let v = o.pods.get_mut(&leader).unwrap().view.as_mut().unwrap();
    v.members
        .iter_mut()
        .find(|m| m.id == id)
        .unwrap()
        .matched_index = matched;
}

fn fresh(desired: u32, pods: u64) -> Observed {
    Observed {
        desired,
        statefulset_replicas: Some(pods as u32),
        pods: (0..pods)
            .map(|i| {
                (
                    i,
                    PodObservation {
                        running: true,
                        view: Some(fresh_view(i)),
                        revision: Some("r1".into()),
                        ..PodObservation::default()
                    },
                )
            })
            .collect(),
        ready_timeout_secs: TIMEOUT,
        ..Observed::default()
    }
}

#[test]
fn fresh_cluster_bootstraps_pod_0_once_every_pod_answers() {
    let o = fresh(3, 3);
    assert_eq!(next_step(&o), Step::Bootstrap { ordinal: 0 });
    assert_eq!(statefulset_replicas(&o), 3);

    let mut o = fresh(3, 3);
    o.pods.get_mut(&2).unwrap().view = None; // pod 2 has not answered: it might hold data
    assert_eq!(next_step(&o), Step::Wait(Wait::PodsStarting));

    let o = fresh(3, 2); // pod 2 does not exist yet
    assert_eq!(next_step(&o), Step::Wait(Wait::PodsStarting));

    let o = Observed {
        desired: 3,
        ..Observed::default()
    }; // first reconcile: nothing exists
    assert_eq!(next_step(&o), Step::Wait(Wait::PodsStarting));
    assert_eq!(statefulset_replicas(&o), 3);
}

#[test]
fn pods_with_a_cluster_are_adopted_never_bootstrapped_again() {
    // init succeeded on pod 0 but status.clusterId was never written (crash)
    let mut o = fresh(3, 3);
    o.pods.get_mut(&0).unwrap().view = Some(ClusterView {
        cluster_id: Some(CID.into()),
        node_id: Some(0),
        leader_id: Some(0),
        commit_index: 1,
        members: vec![member(0, Role::Voter, Some(1))],
        ..ClusterView::default()
    });
    o.pods.get_mut(&0).unwrap().ready = true;
    let f = facts(&o);
    assert_eq!(f.cluster_id.as_deref(), Some(CID));
    assert!(f.adopted);
    assert_eq!(next_step(&o), Step::AddLearner { id: 1 });
}

#[test]
fn recorded_cluster_is_never_rebootstrapped_even_if_all_pods_come_back_empty() {
    let mut o = fresh(3, 3);
    o.recorded_cluster_id = Some(CID.into());
    assert_eq!(next_step(&o), Step::Wait(Wait::ClusterDataMissing));
    assert!(next_step(&o).degraded());
    assert!(!next_step(&o).is_action());
}

#[test]
fn pods_of_two_clusters_block_everything() {
    let mut o = fresh(3, 3);
    o.pods
        .get_mut(&0)
        .unwrap()
        .view
        .as_mut()
        .unwrap()
        .cluster_id = Some("a".into());
    o.pods
        .get_mut(&1)
        .unwrap()
        .view
        .as_mut()
        .unwrap()
        .cluster_id = Some("b".into());
    assert!(matches!(
        next_step(&o),
        Step::Wait(Wait::SplitClusters { .. })
    ));
    assert_eq!(statefulset_replicas(&o), 3);
}

#[test]
fn foreign_pod_is_never_added() {
    let mut o = cluster(3, 3, &voters(&[0, 1]), 0);
    o.pods
        .get_mut(&2)
        .unwrap()
        .view
        .as_mut()
        .unwrap()
        .cluster_id = Some("other".into());
    assert_eq!(
        next_step(&o),
        Step::Wait(Wait::ForeignData {
            ordinal: 2,
            cluster_id: "other".into()
        })
    );
}

#[test]
fn scale_up_adds_learners_then_promotes_caught_up_ones() {
    let o = cluster(5, 5, &voters(&[0, 1, 2]), 0);
    assert_eq!(statefulset_replicas(&o), 5);
    assert_eq!(next_step(&o), Step::AddLearner { id: 3 });

    let mut members = voters(&[0, 1, 2]);
    members.push((3, Role::Learner));
    let o = cluster(5, 5, &members, 0);
    assert_eq!(
        next_step(&o),
        Step::AddLearner { id: 4 },
        "adds before promotes"
    );

    members.push((4, Role::Learner));
    let mut o = cluster(5, 5, &members, 0);
    set_matched(&mut o, 0, 3, Some(10)); // 40 behind commit 50: within slack
    assert_eq!(next_step(&o), Step::Promote { id: 3 });
    set_matched(&mut o, 0, 3, None);
    assert_eq!(next_step(&o), Step::Wait(Wait::LearnerCatchingUp { id: 3 }));
}

#[test]
fn scale_up_waits_for_pods_and_for_every_voter_ready() {
    let mut o = cluster(5, 3, &voters(&[0, 1, 2]), 0);
    assert_eq!(
        next_step(&o),
        Step::Wait(Wait::PodsStarting),
        "pods 3,4 not created yet"
    );
    o.pods.insert(
        3,
        PodObservation {
            running: true,
            view: Some(fresh_view(3)),
            ..PodObservation::default()
        },
    );
    o.pods.get_mut(&1).unwrap().ready = false;
    assert_eq!(next_step(&o), Step::Wait(Wait::Unhealthy { ordinal: 1 }));
}

#[test]
fn scale_down_removes_highest_member_first_and_keeps_its_pod_until_then() {
    let o = cluster(3, 5, &voters(&[0, 1, 2, 3, 4]), 0);
    assert_eq!(
        statefulset_replicas(&o),
        5,
        "no shrink while 3 and 4 are members"
    );
    assert_eq!(
        next_step(&o),
        Step::RemoveMember {
            id: 4,
            reason: RemoveReason::ScaleDown
        }
    );
    let o = cluster(3, 5, &voters(&[0, 1, 2, 3]), 0);
    assert_eq!(statefulset_replicas(&o), 4, "pod 4 may go once out of Raft");
    assert_eq!(
        next_step(&o),
        Step::RemoveMember {
            id: 3,
            reason: RemoveReason::ScaleDown
        }
    );
    let o = cluster(3, 4, &voters(&[0, 1, 2]), 0);
    assert_eq!(statefulset_replicas(&o), 3);
    assert_eq!(next_step(&o), Step::Converged);
}

#[test]
fn scale_down_of_the_leader_transfers_leadership_first() {
    let o = cluster(2, 3, &voters(&[0, 1, 2]), 2);
    assert_eq!(
        next_step(&o),
        Step::TransferLeader {
            from: 2,
            to: 0,
            purpose: Purpose::ScaleDown
        }
    );
}

#[test]
fn scale_down_never_loses_quorum() {
    // 3 voters, pod 1 down: removing 2 would leave {0,1} with one ready voter
    let mut o = cluster(2, 3, &voters(&[0, 1, 2]), 0);
    o.pods.get_mut(&1).unwrap().ready = false;
    assert_eq!(next_step(&o), Step::Wait(Wait::QuorumAtRisk { id: 2 }));
    // 3 → 1 with everything healthy goes step by step down to one voter
    let o = cluster(1, 2, &voters(&[0, 1]), 0);
    assert_eq!(
        next_step(&o),
        Step::RemoveMember {
            id: 1,
            reason: RemoveReason::ScaleDown
        }
    );
    let o = cluster(1, 1, &voters(&[0]), 0);
    let all: BTreeSet<u64> = [0].into();
    assert!(!removal_keeps_quorum(&o, &all, 0), "never the last voter");
}

#[test]
fn membership_unknown_never_shrinks_the_statefulset() {
    let mut o = cluster(3, 5, &voters(&[0, 1, 2, 3, 4]), 0);
    o.pods.get_mut(&0).unwrap().view = None; // leader unreachable
    assert_eq!(next_step(&o), Step::Wait(Wait::NoLeader));
    assert_eq!(statefulset_replicas(&o), 5);
}

#[test]
fn voter_that_lost_its_volume_is_removed_then_readded() {
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    let p = o.pods.get_mut(&2).unwrap();
    p.view = Some(fresh_view(2));
    p.ready = false;
    assert_eq!(
        next_step(&o),
        Step::RemoveMember {
            id: 2,
            reason: RemoveReason::LostData
        }
    );
    let o2 = {
        let mut o = cluster(3, 3, &voters(&[0, 1]), 0);
        o.pods.get_mut(&2).unwrap().view = Some(fresh_view(2));
        o
    };
    assert_eq!(next_step(&o2), Step::AddLearner { id: 2 });
}

#[test]
fn rolling_update_restarts_followers_highest_first_and_the_leader_last() {
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 1);
    o.update_revision = Some("r2".into());
    assert_eq!(next_step(&o), Step::RestartPod { ordinal: 2 });

    o.pods.get_mut(&2).unwrap().revision = Some("r2".into());
    assert_eq!(next_step(&o), Step::RestartPod { ordinal: 0 });

    o.pods.get_mut(&0).unwrap().revision = Some("r2".into());
    assert_eq!(
        next_step(&o),
        Step::TransferLeader {
            from: 1,
            to: 0,
            purpose: Purpose::RollingUpdate
        }
    );
}

#[test]
fn rolling_update_waits_for_the_restarted_pod_to_be_ready_and_caught_up() {
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    o.update_revision = Some("r2".into());
    o.pods.remove(&2); // deleted, not recreated yet
    assert_eq!(
        next_step(&o),
        Step::Wait(Wait::PodRestarting { ordinal: 2 })
    );
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    o.update_revision = Some("r2".into());
    o.pods.get_mut(&2).unwrap().revision = Some("r2".into());
    set_matched(&mut o, 0, 2, None); // ready, but the leader has not seen it catch up
    assert_eq!(
        next_step(&o),
        Step::Wait(Wait::PodRestarting { ordinal: 2 })
    );
}

#[test]
fn single_node_cluster_restarts_its_only_pod() {
    let mut o = cluster(1, 1, &voters(&[0]), 0);
    o.update_revision = Some("r2".into());
    assert_eq!(next_step(&o), Step::RestartPod { ordinal: 0 });
}

#[test]
fn changed_cluster_secret_restarts_a_canary_first_then_every_other_pod_at_once() {
    // auth turned on: the template carries a secret no running pod has
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 2);
    o.update_revision = Some("r2".into());
    o.cluster_secret = Some("sha256:new".into());
    let step = next_step(&o);
    assert_eq!(
        step,
        Step::RestartPod { ordinal: 1 },
        "the canary: the highest pod that does not lead"
    );
    assert_eq!(step.phase(true), "Updating");
    assert!(!step.degraded());

    // the canary was deleted and is coming back on the new template: wait for it
    o.pods.get_mut(&1).unwrap().terminating = true;
    assert!(!matches!(
        next_step(&o),
        Step::RestartAll { .. } | Step::RestartPod { .. }
    ));
    *o.pods.get_mut(&1).unwrap() = PodObservation {
        running: false,
        starting: true,
        revision: Some("r2".into()),
        cluster_secret: Some("sha256:new".into()),
        unready_secs: 5,
        ..PodObservation::default()
    };
    assert_eq!(
        next_step(&o),
        Step::Wait(Wait::PodRestarting { ordinal: 1 })
    );

    // it runs and answers (it cannot join the others, so it is not ready): the rest go together
    let canary = o.pods.get_mut(&1).unwrap();
    canary.running = true;
    canary.view = Some(fresh_view(1));
    assert_eq!(
        next_step(&o),
        Step::RestartAll {
            ordinals: vec![0, 2]
        }
    );

    // all deleted: terminating pods are not deleted twice; recreated ones roll on as usual
    for p in o.pods.values_mut() {
        if p.cluster_secret.is_none() {
            p.terminating = true;
        }
    }
    assert!(!matches!(next_step(&o), Step::RestartAll { .. }));
    for (id, p) in o.pods.iter_mut() {
        *p = PodObservation {
            starting: true,
            running: true,
            revision: Some("r2".into()),
            cluster_secret: Some("sha256:new".into()),
            view: Some(fresh_view(*id)),
            ..PodObservation::default()
        };
    }
    assert!(!matches!(next_step(&o), Step::RestartAll { .. }));

    // auth turned off again: a canary, then the annotated pods together
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 1);
    for p in o.pods.values_mut() {
        p.cluster_secret = Some("sha256:new".into());
    }
    o.update_revision = Some("r3".into());
    assert_eq!(next_step(&o), Step::RestartPod { ordinal: 2 });
    // ... once the StatefulSet controller saw the new template, not before
    o.update_revision = None;
    assert_eq!(next_step(&o), Step::Wait(Wait::StatefulSetSyncing));
}

#[test]
fn a_stuck_canary_stops_a_secret_change_and_reverting_recovers_without_an_outage() {
    // auth turned on together with an image that does not exist: the canary never starts
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    o.update_revision = Some("r2".into());
    o.cluster_secret = Some("sha256:new".into());
    *o.pods.get_mut(&2).unwrap() = PodObservation {
        revision: Some("r2".into()),
        cluster_secret: Some("sha256:new".into()),
        unready_secs: TIMEOUT - 1,
        ..PodObservation::default()
    };
    assert_eq!(
        next_step(&o),
        Step::Wait(Wait::PodRestarting { ordinal: 2 })
    );
    o.pods.get_mut(&2).unwrap().unready_secs = TIMEOUT;
    let stuck = next_step(&o);
    assert_eq!(
        stuck,
        Step::Wait(Wait::RolloutStuck {
            ordinal: 2,
            after_secs: TIMEOUT
        }),
        "brokers 0 and 1 are never touched: they keep serving"
    );
    assert!(stuck.degraded());
    assert_eq!(stuck.reason(), "RolloutStuck");

    // the image reverted, auth still on: the canary runs an outdated template, restart it
    o.update_revision = Some("r3".into());
    assert_eq!(next_step(&o), Step::RestartPod { ordinal: 2 });
    // both reverted: the template is the original again; only the canary differs
    o.cluster_secret = None;
    o.update_revision = Some("r1".into());
    assert_eq!(next_step(&o), Step::RestartAll { ordinals: vec![2] });
}

#[test]
fn stale_statefulset_status_postpones_rolling() {
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    o.update_revision = None;
    assert_eq!(next_step(&o), Step::Wait(Wait::StatefulSetSyncing));
}

#[test]
fn converged_cluster_with_an_unready_pod_is_degraded() {
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    assert_eq!(next_step(&o), Step::Converged);
    assert_eq!(next_step(&o).phase(true), "Running");
    o.pods.get_mut(&2).unwrap().ready = false;
    let s = next_step(&o);
    assert_eq!(s, Step::Wait(Wait::PodNotReady { ordinal: 2 }));
    assert_eq!(s.phase(true), "Degraded");
    // the last pod of a rollout, just recreated: expected, not degraded
    o.pods.get_mut(&2).unwrap().starting = true;
    o.pods.get_mut(&2).unwrap().unready_secs = 3;
    assert_eq!(
        next_step(&o),
        Step::Wait(Wait::PodRestarting { ordinal: 2 })
    );
    assert_eq!(next_step(&o).phase(true), "Updating");
}

#[test]
fn phases_and_reasons() {
    assert_eq!(Step::Bootstrap { ordinal: 0 }.phase(false), "Bootstrapping");
    assert_eq!(Step::AddLearner { id: 3 }.phase(true), "Scaling");
    assert_eq!(Step::RestartPod { ordinal: 1 }.phase(true), "Updating");
    assert_eq!(Step::Promote { id: 1 }.reason(), "PromoteLearner");
    let msg = Step::AddLearner { id: 3 }.message(|i| format!("demo-{i}"));
    assert_eq!(msg, "adding demo-3 as a learner");
}

#[test]
fn reverting_a_bad_image_restarts_the_broken_pod() {
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    o.update_revision = Some("r1".into()); // spec.image reverted: template back to r1
    *o.pods.get_mut(&2).unwrap() = PodObservation {
        revision: Some("r2".into()), // demo-2 was rolled to the bad r2
        unready_secs: 40,
        ..PodObservation::default()
    };
    assert_eq!(next_step(&o), Step::RestartPod { ordinal: 2 });
}

#[test]
fn a_new_image_that_never_gets_ready_stops_the_roll_after_the_timeout() {
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    o.update_revision = Some("r2".into());
    *o.pods.get_mut(&2).unwrap() = PodObservation {
        revision: Some("r2".into()),
        starting: true,
        unready_secs: 20,
        ..PodObservation::default()
    };
    assert_eq!(
        next_step(&o),
        Step::Wait(Wait::PodRestarting { ordinal: 2 }),
        "not ready yet: the next pod waits"
    );
    o.pods.get_mut(&2).unwrap().unready_secs = TIMEOUT + 1;
    let step = next_step(&o);
    assert_eq!(
        step,
        Step::Wait(Wait::RolloutStuck {
            ordinal: 2,
            after_secs: TIMEOUT
        })
    );
    assert!(step.degraded() && !step.is_action());
    assert_eq!(step.phase(true), "Degraded");
    assert!(step
        .message(|i| format!("demo-{i}"))
        .contains("demo-2 runs the current pod template and has not been ready for 300s"));
}

#[test]
fn without_a_leader_only_pods_that_do_not_run_on_an_outdated_template_are_restarted() {
    // a one-broker cluster rolled to a bad image, then reverted
    let mut o = cluster(1, 1, &voters(&[0]), 0);
    *o.pods.get_mut(&0).unwrap() = PodObservation {
        revision: Some("r2".into()),
        unready_secs: 100,
        ..PodObservation::default()
    };
    assert_eq!(next_step(&o), Step::RestartPod { ordinal: 0 });
    // it answers (merely not ready): it may be the vote a bare majority needs, leave it alone
    o.pods.get_mut(&0).unwrap().view = Some(ClusterView {
        cluster_id: Some(CID.into()),
        node_id: Some(0),
        ..ClusterView::default()
    });
    o.pods.get_mut(&0).unwrap().running = true;
    assert!(!matches!(next_step(&o), Step::RestartPod { .. }));
    // on the current template: nothing to restart, the quorum is lost
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    o.pods.get_mut(&0).unwrap().view = None;
    assert_eq!(next_step(&o), Step::Wait(Wait::NoLeader));
    assert_eq!(next_step(&o).reason(), "QuorumLost");
}

#[test]
fn a_not_ready_outdated_follower_that_answers_waits_while_the_quorum_is_bare() {
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    o.update_revision = Some("r2".into());
    o.pods.get_mut(&1).unwrap().ready = false; // down
    let p2 = o.pods.get_mut(&2).unwrap();
    p2.ready = false; // catching up, but acknowledging the log
    assert!(
        !matches!(next_step(&o), Step::RestartPod { .. }),
        "restarting 2 could cost the last acknowledging follower"
    );
    o.pods.get_mut(&1).unwrap().ready = true;
    assert_eq!(next_step(&o), Step::RestartPod { ordinal: 2 });
}

#[test]
fn the_disruption_budget_protects_the_current_voters_only() {
    // 3 -> 5: two learners join, the budget stays that of 3 voters
    let mut members = voters(&[0, 1, 2]);
    members.extend([(3, Role::Learner), (4, Role::Learner)]);
    let o = cluster(5, 5, &members, 0);
    assert_eq!(protected_voters(&o), 3);
    // 1 -> 3: one voter, so no eviction at all until the learners are promoted
    let o = cluster(3, 3, &[(0, Role::Voter), (1, Role::Learner)], 0);
    assert_eq!(protected_voters(&o), 1);
    // 5 -> 3: voters above spec.replicas are about to go: only 3 count
    let o = cluster(3, 5, &voters(&[0, 1, 2, 3, 4]), 0);
    assert_eq!(protected_voters(&o), 3);
    // a voter that lost its volume protects nothing
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    o.pods.get_mut(&2).unwrap().view = Some(fresh_view(2));
    assert_eq!(protected_voters(&o), 2);
    // no leader: the configuration a member knows, else the last status, never above spec.replicas
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    o.pods.get_mut(&0).unwrap().view = None;
    assert_eq!(protected_voters(&o), 0);
    o.recorded_voters = Some(5);
    assert_eq!(protected_voters(&o), 3);
    o.recorded_voters = None;
    o.pods.get_mut(&1).unwrap().view.as_mut().unwrap().members = voters(&[0, 1, 2])
        .iter()
        .map(|(id, r)| member(*id, *r, None))
        .collect();
    assert_eq!(protected_voters(&o), 3, "a follower's own configuration");
}

#[test]
fn a_leader_without_a_quorum_is_no_leader() {
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    o.pods
        .get_mut(&0)
        .unwrap()
        .view
        .as_mut()
        .unwrap()
        .quorum_ack_ms = Some(60_000);
    assert!(
        facts(&o).leader_view.is_some(),
        "an old lease figure of a ready leader is only an idle cluster's stale metric"
    );
    o.pods.get_mut(&0).unwrap().ready = false; // its /readyz fails: it lost the majority
    assert!(facts(&o).leader_view.is_none());
    assert_eq!(next_step(&o), Step::Wait(Wait::NoLeader));
}

#[test]
fn a_member_back_with_another_incarnation_is_removed_never_trusted() {
    // its volume was replaced and it already took the leader's data (a pre-contract broker): the
    // cluster id is there, the incarnation tells
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    o.pods
        .get_mut(&2)
        .unwrap()
        .view
        .as_mut()
        .unwrap()
        .incarnation = Some("inc-new".into());
    assert_eq!(
        next_step(&o),
        Step::RemoveMember {
            id: 2,
            reason: RemoveReason::LostData
        }
    );
    // a learner the same
    let mut members = voters(&[0, 1, 2]);
    members.push((3, Role::Learner));
    let mut o = cluster(4, 4, &members, 0);
    o.pods
        .get_mut(&3)
        .unwrap()
        .view
        .as_mut()
        .unwrap()
        .incarnation = Some("inc-new".into());
    assert_eq!(
        next_step(&o),
        Step::RemoveMember {
            id: 3,
            reason: RemoveReason::LostData
        }
    );
    // a learner just added has no data yet: that is no loss
    let mut members = voters(&[0, 1, 2]);
    members.push((3, Role::Learner));
    let mut o = cluster(4, 4, &members, 0);
    o.pods
        .get_mut(&3)
        .unwrap()
        .view
        .as_mut()
        .unwrap()
        .cluster_id = None;
    assert!(
        !matches!(next_step(&o), Step::RemoveMember { .. }),
        "{:?}",
        next_step(&o)
    );
    // an unknown incarnation (an older broker) is no evidence
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    o.pods
        .get_mut(&2)
        .unwrap()
        .view
        .as_mut()
        .unwrap()
        .incarnation = None;
    assert_eq!(next_step(&o), Step::Converged);
}

#[test]
fn the_statefulset_never_shrinks_below_a_member_even_when_shrunk_by_hand() {
    let mut o = cluster(5, 5, &voters(&[0, 1, 2, 3, 4]), 0);
    o.statefulset_replicas = Some(3); // kubectl scale sts --replicas=3
    assert_eq!(statefulset_replicas(&o), 5);
}

fn lost_quorum(from_leader_view: bool) -> Observed {
    // 3 voters; 1 and 2 came back empty (their volumes are gone for good); 0 holds everything
    let mut o = cluster(3, 3, &voters(&[0, 1, 2]), 0);
    o.pods
        .get_mut(&0)
        .unwrap()
        .view
        .as_mut()
        .unwrap()
        .quorum_ack_ms = Some(if from_leader_view { 0 } else { 60_000 });
    for i in [1, 2] {
        let p = o.pods.get_mut(&i).unwrap();
        p.view = Some(fresh_view(i));
        p.ready = false;
    }
    o.pods.get_mut(&0).unwrap().ready = false;
    o.force_new_cluster = Some(0);
    o
}

#[test]
fn force_new_cluster_recovers_from_the_named_survivor_only_without_a_quorum() {
    let mut o = lost_quorum(false);
    let step = next_step(&o);
    assert_eq!(step, Step::ForceNewCluster { ordinal: 0 });
    assert!(step.degraded() && step.is_action());

    // refuses a survivor that is behind another one
    o.pods.get_mut(&1).unwrap().view = Some(ClusterView {
        cluster_id: Some(CID.into()),
        node_id: Some(1),
        last_log_index: 80,
        ..ClusterView::default()
    });
    assert_eq!(
        next_step(&o),
        Step::Wait(Wait::RecoveryBlocked {
            ordinal: 0,
            why: RecoveryBlock::NotMostRecent { better: 1 }
        })
    );
    // ... and one that does not answer
    let mut o = lost_quorum(false);
    o.pods.get_mut(&0).unwrap().view = None;
    assert_eq!(
        next_step(&o),
        Step::Wait(Wait::RecoveryBlocked {
            ordinal: 0,
            why: RecoveryBlock::NotAnswering
        })
    );
    // the quorum is there after all: nothing is forced, the annotation goes
    let o = lost_quorum(true);
    assert_eq!(next_step(&o), Step::RecoveryDone { ordinal: 0 });
}

#[test]
fn after_a_forced_recovery_old_copies_are_discarded_then_the_annotation_goes() {
    // 0 is the only voter now; 2 still holds the old cluster's data (not a member any more)
    let mut o = cluster(3, 3, &voters(&[0]), 0);
    o.force_new_cluster = Some(0);
    o.pods
        .get_mut(&2)
        .unwrap()
        .view
        .as_mut()
        .unwrap()
        .cluster_id = Some(CID.into());
    assert_eq!(next_step(&o), Step::DiscardData { ordinal: 2 });
    // 2 came back empty: done; learners are added once the annotation is gone
    o.pods.get_mut(&2).unwrap().view = Some(fresh_view(2));
    assert_eq!(next_step(&o), Step::RecoveryDone { ordinal: 0 });
    o.force_new_cluster = None;
    assert_eq!(next_step(&o), Step::AddLearner { id: 1 });
}

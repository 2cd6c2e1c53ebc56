use super::*;

const S: Duration = Duration::from_secs(10);
const DELAY: Duration = Duration::from_millis(300);

fn group() -> Group {
    Group::new(
        "g",
        GroupTimers {
            initial_rebalance_delay: DELAY,
        },
    )
}

fn req(member_id: &str, protocols: &[&str]) -> JoinRequest {
    JoinRequest {
        member_id: member_id.into(),
        instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout: S,
        rebalance_timeout: S,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
            .collect(),
        require_known_member_id: true,
    }
}

fn now_result<T>(r: Reply<T>) -> T {
    match r {
        Reply::Now(t) => t,
        Reply::Wait(_) => panic!("expected an immediate answer"),
    }
}

fn waiting<T>(r: Reply<T>) -> oneshot::Receiver<T> {
    match r {
        Reply::Wait(rx) => rx,
        Reply::Now(_) => panic!("expected to wait"),
    }
}

/// KIP-394: a new member gets its id first, then joins with it.
fn join_new(
    g: &mut Group,
    protocols: &[&str],
    now: Instant,
) -> (String, oneshot::Receiver<JoinResult>) {
    let first = now_result(g.join(req("", protocols), now));
    assert_eq!(first.error, Some(ResponseError::MemberIdRequired));
    assert!(first.member_id.starts_with("c-"));
    let rx = waiting(g.join(req(&first.member_id, protocols), now));
    (first.member_id, rx)
}

#[test]
fn first_join_requires_a_member_id_then_completes_after_the_initial_delay() {
    let mut g = group();
    let t0 = Instant::now();
    let (id, mut rx) = join_new(&mut g, &["range"], t0);
    assert_eq!(g.state, GroupState::PreparingRebalance);
    g.tick(t0 + DELAY / 2);
    assert!(
        rx.try_recv().is_err(),
        "the initial delay holds the first rebalance"
    );
    g.tick(t0 + DELAY);
    let r = rx.try_recv().unwrap();
    assert_eq!(
        (r.error, r.generation, r.leader.as_str()),
        (None, 1, id.as_str())
    );
    assert_eq!(r.protocol.as_deref(), Some("range"));
    assert_eq!(r.members.len(), 1);
    assert_eq!(g.state, GroupState::CompletingRebalance);
}

#[test]
fn three_members_share_one_generation_and_get_the_leaders_assignment() {
    let mut g = group();
    let t0 = Instant::now();
    let mut joined: Vec<_> = (0..3)
        .map(|_| join_new(&mut g, &["roundrobin", "range"], t0))
        .collect();
    g.tick(t0 + DELAY);
    let results: Vec<JoinResult> = joined
        .iter_mut()
        .map(|(_, rx)| rx.try_recv().unwrap())
        .collect();
    assert!(results
        .iter()
        .all(|r| r.generation == 1 && r.protocol.as_deref() == Some("roundrobin")));
    let leader = results[0].leader.clone();
    assert!(results.iter().all(|r| r.leader == leader));
    assert_eq!(
        results.iter().filter(|r| !r.members.is_empty()).count(),
        1,
        "only the leader sees members"
    );

    let followers: Vec<_> = joined
        .iter()
        .map(|(id, _)| id.clone())
        .filter(|id| *id != leader)
        .collect();
    let mut f_rx: Vec<_> = followers
        .iter()
        .map(|id| waiting(g.sync(id, 1, None, None, vec![], t0 + DELAY)))
        .collect();
    assert!(
        f_rx[0].try_recv().is_err(),
        "followers wait for the leader's assignment"
    );
    let assignments = joined
        .iter()
        .map(|(id, _)| (id.clone(), Bytes::from(format!("for-{id}"))))
        .collect();
    let mut l_rx = waiting(g.sync(
        &leader,
        1,
        Some("consumer"),
        Some("roundrobin"),
        assignments,
        t0 + DELAY,
    ));
    assert_eq!(
        l_rx.try_recv().unwrap().assignment,
        Bytes::from(format!("for-{leader}"))
    );
    for (id, rx) in followers.iter().zip(f_rx.iter_mut()) {
        assert_eq!(
            rx.try_recv().unwrap().assignment,
            Bytes::from(format!("for-{id}"))
        );
    }
    assert_eq!(g.state, GroupState::Stable);
}

fn stable_pair(g: &mut Group, t0: Instant) -> (String, String) {
    let (a, mut ra) = join_new(g, &["range"], t0);
    let (b, mut rb) = join_new(g, &["range"], t0);
    g.tick(t0 + DELAY);
    let (ra, _) = (ra.try_recv().unwrap(), rb.try_recv().unwrap());
    let leader = ra.leader.clone();
    let other = if leader == a { b.clone() } else { a.clone() };
    let _ = g.sync(&other, 1, None, None, vec![], t0 + DELAY);
    let _ = g.sync(&leader, 1, None, None, vec![], t0 + DELAY);
    assert_eq!(g.state, GroupState::Stable);
    (leader, other)
}

#[test]
fn a_silent_member_expires_and_the_rest_rebalance_without_it() {
    let mut g = group();
    let t0 = Instant::now();
    let (leader, other) = stable_pair(&mut g, t0);
    // Only the leader keeps heart-beating.
    let t1 = t0 + DELAY + S / 2;
    assert_eq!(g.heartbeat(&leader, 1, t1), None);
    g.tick(t0 + DELAY + S + Duration::from_millis(1));
    assert!(!g.members.contains_key(&other), "the silent member is gone");
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat(&leader, 1, t1),
        Some(ResponseError::RebalanceInProgress)
    );
    assert_eq!(
        g.heartbeat(&other, 1, t1),
        Some(ResponseError::UnknownMemberId)
    );
    let mut rx = waiting(g.join(req(&leader, &["range"]), t1));
    let r = rx.try_recv().unwrap();
    assert_eq!((r.generation, r.members.len()), (2, 1));
}

#[test]
fn leaving_triggers_a_rebalance_and_stale_generations_are_refused() {
    let mut g = group();
    let t0 = Instant::now();
    let (leader, other) = stable_pair(&mut g, t0);
    assert_eq!(g.leave(&other, None, t0), None);
    assert_eq!(
        g.leave(&other, None, t0),
        Some(ResponseError::UnknownMemberId)
    );
    assert_eq!(g.state, GroupState::PreparingRebalance);
    // Commits of the current generation are still taken while the group rebalances.
    assert_eq!(g.validate_commit(&leader, 1), None);
    let mut rx = waiting(g.join(req(&leader, &["range"]), t0));
    assert_eq!(rx.try_recv().unwrap().generation, 2);
    assert_eq!(
        g.heartbeat(&leader, 1, t0),
        Some(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        g.validate_commit(&leader, 2),
        Some(ResponseError::RebalanceInProgress)
    );
    assert_eq!(
        g.validate_commit("", -1),
        Some(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        now_result(g.sync(&leader, 1, None, None, vec![], t0)).error,
        Some(ResponseError::IllegalGeneration)
    );
}

#[test]
fn incompatible_protocols_are_refused_and_unknown_ids_too() {
    let mut g = group();
    let t0 = Instant::now();
    let _ = join_new(&mut g, &["range"], t0);
    let r = now_result(g.join(req("", &["sticky"]), t0));
    assert_eq!(r.error, Some(ResponseError::InconsistentGroupProtocol));
    let r = now_result(g.join(req("nobody", &["range"]), t0));
    assert_eq!(r.error, Some(ResponseError::UnknownMemberId));
}

#[test]
fn a_missing_leader_assignment_restarts_the_rebalance() {
    let mut g = group();
    let t0 = Instant::now();
    let (_id, mut rx) = join_new(&mut g, &["range"], t0);
    g.tick(t0 + DELAY);
    let r = rx.try_recv().unwrap();
    // The member stays alive (heartbeats) but its leader never sends the assignment.
    assert_eq!(g.heartbeat(&r.member_id, 1, t0 + DELAY + S / 2), None);
    g.tick(t0 + DELAY + S + Duration::from_millis(1));
    assert_eq!(g.state, GroupState::PreparingRebalance);
}

#[test]
fn static_member_replaces_its_old_incarnation() {
    let mut g = group();
    let t0 = Instant::now();
    let mut r = req("", &["range"]);
    r.instance_id = Some("pod-0".into());
    let mut rx = waiting(g.join(r.clone(), t0));
    g.tick(t0 + DELAY);
    let first = rx.try_recv().unwrap();
    let mut rx2 = waiting(g.join(r, t0 + DELAY));
    assert_eq!(g.members.len(), 1);
    assert!(
        !g.members.contains_key(&first.member_id),
        "the old incarnation is fenced"
    );
    assert_eq!(g.leave("", Some("pod-0"), t0 + DELAY), None);
    assert!(rx2.try_recv().is_ok());
}

//! The group arithmetic: leases, expiry, acknowledgements, hand-backs, the floor and bounds.

use super::*;

fn state(ack_wait_ms: u64, max_deliveries: u32) -> GroupState {
    GroupState::new(
        GroupConfig {
            ack_wait_ms,
            max_deliveries,
            dead_letter_topic: None,
        },
        0,
        [(0, 0)],
    )
}

/// A one-partition topic whose log holds `start..next`.
fn one(start: u64, next: u64) -> [PartLog; 1] {
    [PartLog {
        partition: 0,
        start,
        next,
    }]
}

fn offsets(o: &LeaseOutcome) -> Vec<u64> {
    o.leases.iter().map(|l| l.offset).collect()
}

#[test]
fn consecutive_leases_are_disjoint_until_a_lease_runs_out() {
    let mut g = state(1000, 5);
    let a = g.lease(&one(0, 10), 3, 10, 0);
    let b = g.lease(&one(0, 10), 3, 20, 0);
    assert_eq!(offsets(&a), vec![0, 1, 2]);
    assert_eq!(offsets(&b), vec![3, 4, 5]);
    assert!(a.leases.iter().all(|l| l.delivery == 1));
    // Before the deadline nothing comes back; at it, the first lease's messages do, delivery 2.
    let c = g.lease(&one(0, 6), 10, 1009, 0);
    assert_eq!(offsets(&c), Vec::<u64>::new());
    let d = g.lease(&one(0, 6), 10, 1010, 0);
    assert_eq!(offsets(&d), vec![0, 1, 2]);
    assert!(d.leases.iter().all(|l| l.delivery == 2));
    assert_eq!(g.redelivered, 3);
}

#[test]
fn an_acknowledged_message_is_never_delivered_again() {
    let mut g = state(100, 5);
    g.lease(&one(0, 4), 4, 0, 0);
    let c = g.partitions.get_mut(&0).unwrap();
    assert!(c.ack(1));
    assert!(c.ack(3));
    assert!(!c.ack(3), "a second ack is ignored");
    assert!(!c.ack(99), "an offset never delivered is ignored");
    let again = g.lease(&one(0, 4), 10, 1_000, 0);
    assert_eq!(offsets(&again), vec![0, 2]);
    let again = g.lease(&one(0, 4), 10, 10_000, 0);
    assert_eq!(offsets(&again), vec![0, 2]);
    assert!(again.leases.iter().all(|l| l.delivery == 3));
}

#[test]
fn a_nack_hands_back_at_once_or_after_its_delay() {
    let mut g = state(10_000, 5);
    g.lease(&one(0, 2), 2, 0, 0);
    let c = g.partitions.get_mut(&0).unwrap();
    assert!(c.nack(0, 5));
    assert!(c.nack(1, 500));
    assert!(!c.nack(7, 5), "not outstanding: ignored");
    assert_eq!(offsets(&g.lease(&one(0, 2), 10, 5, 0)), vec![0]);
    assert_eq!(offsets(&g.lease(&one(0, 2), 10, 499, 0)), Vec::<u64>::new());
    assert_eq!(g.next_due(5), Some(500));
    let late = g.lease(&one(0, 2), 10, 500, 0);
    assert_eq!(offsets(&late), vec![1]);
    assert_eq!(late.leases[0].delivery, 2);
}

#[test]
fn acks_filling_gaps_move_the_floor_and_the_state_stays_small() {
    let mut g = state(100, 5);
    g.lease(&one(0, 10_000), 1000, 0, 0);
    let c = g.partitions.get_mut(&0).unwrap();
    // Acknowledge out of order: every odd one first, then the even ones.
    for o in (1..1000).step_by(2) {
        c.ack(o);
    }
    assert_eq!(c.floor, 0);
    assert_eq!(c.done.len(), 500);
    for o in (0..1000).step_by(2) {
        c.ack(o);
    }
    assert_eq!(c.floor, 1000);
    assert!(c.done.is_empty() && c.slots.is_empty());
    // A long run acknowledged behind one stuck message is one range, not one entry per offset.
    g.lease(&one(0, 10_000), 1000, 0, 0);
    let c = g.partitions.get_mut(&0).unwrap();
    for o in 1001..2000 {
        c.ack(o);
    }
    assert_eq!((c.floor, c.done.len(), c.slots.len()), (1000, 1, 1));
    c.ack(1000);
    assert_eq!((c.floor, c.done.len(), c.slots.len()), (2000, 0, 0));
    let encoded = crate::topics::codec::encode(&g);
    assert!(encoded.len() < 200, "{} bytes", encoded.len());
}

#[test]
fn outstanding_messages_are_capped() {
    let mut g = state(100, 5);
    let mut leased = 0;
    for _ in 0..20 {
        leased += g.lease(&one(0, 1_000_000), MAX_LEASE, 0, 0).leases.len();
    }
    assert_eq!(leased, MAX_OUTSTANDING);
    assert!(!g.has_deliverable(0, &one(0, 1_000_000)));
    g.partitions.get_mut(&0).unwrap().ack(0);
    assert_eq!(g.lease(&one(0, 1_000_000), 10, 0, 0).leases.len(), 1);
}

#[test]
fn out_of_deliveries_a_message_is_given_up_and_reported() {
    let mut g = state(10, 2);
    g.lease(&one(0, 1), 1, 0, 0);
    assert_eq!(g.lease(&one(0, 1), 1, 10, 0).leases[0].delivery, 2);
    let out = g.lease(&one(0, 1), 1, 20, 0);
    assert!(out.leases.is_empty());
    assert_eq!(
        out.exhausted,
        vec![(
            MessageRef {
                partition: 0,
                offset: 0
            },
            2
        )]
    );
    assert_eq!(g.partitions[&0].floor, 1);
    assert!(g.lease(&one(0, 1), 1, 1000, 0).exhausted.is_empty());
}

#[test]
fn messages_trimmed_away_are_skipped() {
    let mut g = state(10, 5);
    g.lease(&one(0, 10), 5, 0, 0);
    g.partitions.get_mut(&0).unwrap().ack(6);
    // Retention moved the log start to 7: 0..5 go, 5 and 6 were delivered/acked before.
    let out = g.lease(&one(7, 10), 10, 100, 0);
    assert_eq!(offsets(&out), vec![7, 8, 9]);
    assert_eq!(g.partitions[&0].floor, 7);
    let s = g.stats(100, &one(7, 10));
    assert_eq!((s.in_flight, s.pending, s.lag), (3, 0, 3));
}

#[test]
fn stats_count_pending_in_flight_and_lag() {
    let mut g = state(100, 5);
    g.lease(&one(0, 10), 3, 0, 0);
    g.partitions.get_mut(&0).unwrap().ack(0);
    let s = g.stats(50, &one(0, 10));
    assert_eq!((s.pending, s.in_flight, s.acked_floor, s.lag), (7, 2, 1, 9));
    // Expired leases are pending again.
    let s = g.stats(100, &one(0, 10));
    assert_eq!((s.pending, s.in_flight), (9, 0));
}

/// Partitions `0..n`, each holding `0..next`.
fn parts(n: u32, next: u64) -> Vec<PartLog> {
    (0..n)
        .map(|partition| PartLog {
            partition,
            start: 0,
            next,
        })
        .collect()
}

fn refs(o: &LeaseOutcome) -> Vec<(u32, u64)> {
    o.leases.iter().map(|l| (l.partition, l.offset)).collect()
}

/// Issue 16: a lease walks every partition, one message per partition in turn, starting where
/// `turn` says: a partition with a backlog does not starve the others.
#[test]
fn leases_take_every_partition_in_turn() {
    let mut g = state(1000, 5);
    let p = parts(4, 100);
    let a = g.lease(&p, 6, 0, 0);
    assert_eq!(
        refs(&a),
        vec![(0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (1, 1)]
    );
    let b = g.lease(&p, 2, 0, 3);
    assert_eq!(refs(&b), vec![(3, 1), (0, 2)]);
    // One partition with a backlog, one with a single message: both are served at once.
    let mut g = state(1000, 5);
    let mut p = parts(2, 1000);
    p[1].next = 1;
    let c = g.lease(&p, 3, 0, 0);
    assert_eq!(refs(&c), vec![(0, 0), (1, 0), (0, 1)]);
}

#[test]
fn redeliveries_come_from_every_partition_before_new_messages() {
    let mut g = state(10, 5);
    let p = parts(3, 10);
    g.lease(&p, 3, 0, 0);
    g.partitions.get_mut(&0).unwrap().ack(0);
    // The leases of partitions 1 and 2 ran out: they come back first, then new ones.
    let again = g.lease(&p, 4, 10, 1);
    assert_eq!(refs(&again), vec![(1, 0), (2, 0), (1, 1), (2, 1)]);
    assert_eq!(
        again.leases.iter().map(|l| l.delivery).collect::<Vec<_>>(),
        vec![2, 2, 1, 1]
    );
    assert_eq!(g.redelivered, 2);
}

#[test]
fn floors_and_stats_are_per_partition_and_summed() {
    let mut g = state(100, 5);
    let mut p = parts(2, 10);
    p[1].next = 4;
    g.lease(&p, 6, 0, 0);
    for (partition, offset) in [(1, 0), (1, 1), (0, 0)] {
        assert!(g.partitions.get_mut(&partition).unwrap().ack(offset));
    }
    let per = g.partition_stats(50, &p);
    assert_eq!(per[0].1.acked_floor, 1);
    assert_eq!(per[1].1.acked_floor, 2);
    assert_eq!((per[0].1.in_flight, per[0].1.pending), (2, 7));
    assert_eq!((per[1].1.in_flight, per[1].1.pending), (1, 1));
    let s = g.stats(50, &p);
    assert_eq!(
        (s.in_flight, s.pending, s.lag, s.acked_floor),
        (3, 8, 11, 1)
    );
    // A partition raised later: the group reads it from its start.
    p.push(PartLog {
        partition: 2,
        start: 0,
        next: 2,
    });
    assert_eq!(g.stats(50, &p).pending, 10);
    assert!(g.has_deliverable(50, &p[2..]));
}

#[test]
fn the_outstanding_cap_is_per_group_over_all_partitions() {
    let mut g = state(100, 5);
    let p = parts(4, 1_000_000);
    let mut leased = 0;
    for i in 0..20 {
        leased += g.lease(&p, MAX_LEASE, 0, i).leases.len();
    }
    assert_eq!(leased, MAX_OUTSTANDING);
    assert_eq!(g.outstanding(), MAX_OUTSTANDING);
    for c in g.partitions.values() {
        assert_eq!(
            c.slots.len(),
            MAX_OUTSTANDING / 4,
            "each partition got its share"
        );
    }
    assert!(!g.has_deliverable(0, &p));
    g.partitions.get_mut(&3).unwrap().ack(0);
    assert_eq!(g.lease(&p, 10, 0, 0).leases.len(), 1);
}

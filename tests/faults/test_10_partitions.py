"""Network partitions on a 3-node cluster under load, peer links cut with iptables DROP while the
clients still reach every node. After the faults heal, the checker demands: no acknowledged message
lost or doubled, no 503'd message stored, producer order kept, identical logs on every node, strong
reads that never miss an earlier ack, and the majority serving writes again within
``RECOVERY_BOUND_S`` of each cut (the figure is reported either way).
"""

from __future__ import annotations

import os
import random

import pytest
from conftest import SOAK
from scenario import RECOVERY_BOUND_S, assert_all_pass, run

from faultlib.wait import hold

# How long each fault lasts: well past the recovery bound, so a slow recovery is measured, not cut.
HOLD_S = 4.0
LEADER_ISOLATIONS = 6 if SOAK else 2
RANDOM_SPLITS = 20 if SOAK else 3
SEED = int(os.environ.get("JNF_SEED", random.randrange(1 << 30)))


def after_heal(cluster, net, h):
    net.heal()
    h.event("heal")
    return cluster.leader()  # everyone agrees on a leader again before the next fault


def leader_and_term(cluster):
    leader = cluster.leader()
    return leader, cluster[leader].view()["term"]


def assert_leader_kept(cluster, before, after_leader, what):
    """A cut that left the leader with its majority changes neither the leader nor the term: a node
    cut off from the majority never campaigns (pre-vote), so its return deposes nobody."""
    leader, term = before
    now = cluster[after_leader].view()["term"]
    assert (after_leader, now) == (leader, term), (
        f"{what}: leader {leader} in term {term} before, leader {after_leader} in term {now} after the "
        f"heal: {cluster.describe()}")


def isolate_leader(cluster, net, h):
    for _ in range(LEADER_ISOLATIONS):
        leader = cluster.leader()
        net.isolate(leader)
        h.event("leader isolated", [n for n in net.nodes if n != leader], needs_new_leader=True)
        hold(HOLD_S)
        after_heal(cluster, net, h)


def isolate_follower(cluster, net, h):
    before = leader_and_term(cluster)
    follower = next(n for n in net.nodes if n != before[0])
    net.isolate(follower)
    h.event("follower isolated", [n for n in net.nodes if n != follower])
    hold(HOLD_S)
    assert_leader_kept(cluster, before, after_heal(cluster, net, h), "follower isolated")


def random_splits(cluster, net, h):
    rng = random.Random(SEED)
    for k in range(RANDOM_SPLITS):
        before = leader_and_term(cluster)
        leader = before[0]
        # the first split always cuts the leader off: every run covers both kinds of split
        alone = leader if k == 0 else rng.choice(net.nodes)
        net.split([alone])
        kind = "1|2 split, leader alone" if alone == leader else "1|2 split, follower alone"
        h.event(kind, [n for n in net.nodes if n != alone], needs_new_leader=alone == leader)
        hold(HOLD_S)
        after = after_heal(cluster, net, h)
        if alone != leader:
            assert_leader_kept(cluster, before, after, kind)


def bridge(cluster, net, h):
    """Leader and one follower cannot talk; the other follower talks to both (non-transitive)."""
    before = leader_and_term(cluster)
    leader = before[0]
    cut_off, bridge_node = [n for n in net.nodes if n != leader]
    net.cut(leader, cut_off)
    # the leader and the bridge node still form a majority that reaches everyone: writes through
    # them must keep being served, whatever the cut-off follower does
    h.event("bridge split", [leader, bridge_node])
    hold(HOLD_S)
    assert_leader_kept(cluster, before, after_heal(cluster, net, h), "bridge split")


@pytest.mark.parametrize("name,nemesis", [
    ("leader isolated", isolate_leader),
    ("follower isolated", isolate_follower),
    ("random 1|2 splits", random_splits),
    ("bridge split", bridge),
])
def test_partition(net3, outdir, name, nemesis):
    print(f"seed {SEED} (JNF_SEED to replay); recovery bound {RECOVERY_BOUND_S:.2f}s")
    assert_all_pass(run(net3, outdir, f"partition: {name}", nemesis))

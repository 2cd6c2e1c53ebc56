"""Scenario 3: `kubectl scale jn/e2e --replicas=5`, then back to 3, while a publisher writes through the
client Service and a sampler watches pods, StatefulSet, status and the Raft view.

Checked: the membership follows one step at a time (each new broker is added as a learner and then
promoted, each removed broker is taken out of Raft, highest first, before its pod goes), quorum is never
lost (a leader and a ready majority of voters in every sample; the publisher is never refused twice in a
row, and only by a broker already out of Raft that the Service still listed), no acknowledged message is
lost, and the PVCs of the removed pods are deleted (`deleteClaimOnScaleDown: true`)."""

from __future__ import annotations

import time

from jntest.report import report
from jntest.wait import wait_until

from conftest import topic
from e2elib.monitor import Monitor
from e2elib.traffic import Publisher

MEMBERSHIP_STEPS = {"Bootstrap", "AddLearner", "PromoteLearner", "RemoveMember", "RemoveMemberWithLostData",
                    "TransferLeader", "RestartPod"}


def majority(n: int) -> int:
    return n // 2 + 1


def steps(events) -> list[tuple[str, str]]:
    return [(e.reason, e.related) for e in events if e.reason in MEMBERSHIP_STEPS]


def check_samples(mon: Monitor) -> None:
    """Invariants every sample must satisfy while membership changes."""
    samples = mon.with_view()
    assert len(samples) >= 10, f"too few samples with a Raft view ({len(samples)} of {len(mon.samples)})"
    for s in samples:
        where = f"\nsample: {s}\ntimeline:\n{mon.timeline()}"
        vs = s.voters()
        assert s.leader() is not None and s.leader() in vs, f"no leader among the voters{where}"
        ready = {v for v in vs if s.up(v)}
        assert len(ready) >= majority(len(vs)), f"quorum lost: ready voters {sorted(ready)} of {sorted(vs)}{where}"
        for m in s.members():
            # pods were read before the view: a member's pod must still be there, not terminating
            p = s.pods.get(m)
            assert p is not None and not p.terminating, f"pod {m} went while still a Raft member{where}"
            assert s.sts_replicas is None or m < s.sts_replicas, \
                f"StatefulSet shrunk to {s.sts_replicas} below member {m}{where}"


def test_scale_to_five_and_back_to_three(kube, cluster, ledger):
    cluster.wait_converged(3)
    pvcs_before = {n: p["metadata"]["uid"] for n, p in cluster.pvcs().items()}
    assert sorted(pvcs_before) == [f"data-{cluster.name}-{i}" for i in range(3)], sorted(pvcs_before)
    t = topic("scale")
    mark_up = cluster.events_mark()
    with Monitor(cluster) as mon, Publisher(cluster, t, label="scale") as pub:
        pub.wait_acked(5)
        t0 = time.monotonic()
        kube.kubectl("-n", cluster.ns, "scale", f"jn/{cluster.name}", "--replicas=5")
        cluster.wait_converged(5)
        report("scale 3 -> 5 (kubectl scale -> Ready)", f"{time.monotonic() - t0:.1f}s")
        mon_up = len(mon.samples)
        acked_up = len(pub.acked)
        mark_down = cluster.events_mark()
        up = steps(cluster.step_events(mark_up))

        t0 = time.monotonic()
        kube.kubectl("-n", cluster.ns, "scale", f"jn/{cluster.name}", "--replicas=3")
        cluster.wait_converged(3)
        report("scale 5 -> 3 (kubectl scale -> Ready)", f"{time.monotonic() - t0:.1f}s")
        pub.wait_acked(len(pub.acked) + 5)
    down_events = cluster.step_events(mark_down)
    down = steps(down_events)
    report("scale: messages published during 3 -> 5 -> 3", f"{len(pub.acked)} ({acked_up} by 5 replicas)")

    # -- one step at a time, learner before voter ---------------------------------------------
    new = [cluster.pod_name(3), cluster.pod_name(4)]
    assert sorted(up) == sorted([("AddLearner", p) for p in new] + [("PromoteLearner", p) for p in new]), \
        f"scale-up steps: {up}"
    for p in new:
        assert up.index(("AddLearner", p)) < up.index(("PromoteLearner", p)), f"{p} promoted before added: {up}"
    # -- scale down: out of Raft, highest first ---------------------------------------------------
    assert down == [("RemoveMember", new[1]), ("RemoveMember", new[0])], f"scale-down steps: {down}"

    # -- quorum and order, sample by sample ---------------------------------------------------------
    check_samples(mon)
    assert any(len(s.voters()) == 5 for s in mon.samples[:mon_up]), "never saw 5 voters"
    # The cluster never refused a write: the only failures allowed are single attempts answered by a
    # broker already removed from Raft whose pod the Service had not dropped yet (endpoint propagation
    # lags pod deletion on every Kubernetes); the immediate retry through another endpoint succeeded.
    bad = [o for o in pub.outages()
           if len(o.attempts) > 1 or o.attempts[0].backend not in new
           or not (o.attempts[0].detail.startswith("http 503") or o.attempts[0].detail.startswith("connection"))]
    assert not bad, "publishes failed while scaling (quorum must hold throughout):\n" + \
        "\n".join(f"{o}\nsamples around it:\n{mon.timeline(around=o.start)}" for o in bad)
    report("scale: single retried failures from removed brokers", str(len(pub.failures)))

    # -- PVCs of the removed pods are deleted, the others kept --------------------------------------
    gone = [f"data-{p}" for p in new]

    def claims_deleted():
        claims = sorted(e.related for e in cluster.step_events(mark_down) if e.reason == "DeleteClaim")
        return not set(gone) & set(cluster.pvcs()) and claims == sorted(gone)

    wait_until(claims_deleted, timeout=60, what=f"PVCs {gone} deleted, with a DeleteClaim event each",
               describe=lambda: f"PVCs {sorted(cluster.pvcs())}; events "
                                f"{[str(e) for e in cluster.step_events(mark_down)]}")
    after = {n: p["metadata"]["uid"] for n, p in cluster.pvcs().items()}
    assert after == pvcs_before, f"the remaining brokers' PVCs must be kept: {pvcs_before} -> {after}"

    # -- nothing acknowledged is lost ------------------------------------------------------------------
    ledger[t] = list(pub.acked)
    cluster.assert_data(ledger, ordinals=range(3))

"""Scenario 5: `spec.image` changed (the same image under a second name, JUMPNET_IMAGE2). The operator rolls
the pods one at a time, followers first, and the leader last after handing its leadership over, each pod
ready and caught up before the next goes, every restart through the eviction API (never a plain DELETE
that would bypass the PodDisruptionBudget). A publisher writing through the client Service and retrying
as the contract says (503: anywhere; 504: with its producer id) loses nothing and never fails on a
connection: a stopping broker fails its readiness first and keeps serving while the endpoints drop it
(`spec.rollout.drainSeconds`); the only refusals are the one election's 503s."""

from __future__ import annotations

import json
import time

import pytest
from jntest.report import report
from jntest.wait import wait_until

from conftest import IMAGE2, topic
from e2elib import apiserver
from e2elib.monitor import Monitor
from e2elib.traffic import Publisher


def test_image_change_rolls_one_pod_at_a_time_leader_last(kube, cluster, ledger):
    if not IMAGE2:
        pytest.fail("JUMPNET_IMAGE2 is not set: tests/e2e/run.sh tags the image under a second name for this")
    cr = cluster.wait_converged(3)
    assert cr["spec"]["image"] != IMAGE2, f"the cluster already runs {IMAGE2}"
    leader = cluster.ordinal(cr["status"]["leader"])
    assert cluster.agreed_leader(range(3)) == leader, cluster.describe()
    before = {i: p["metadata"]["uid"] for i, p in cluster.pods().items()}
    followers = [i for i in range(3) if i != leader]
    mark = cluster.events_mark()
    t = topic("roll")

    def rolled():
        pods = cluster.pods()
        done = len(pods) == 3 and all(p["spec"]["containers"][0]["image"] == IMAGE2
                                      and p["metadata"]["uid"] != before[i] for i, p in pods.items())
        return done and cluster.converged(3)

    log_mark = apiserver.mark()
    with Monitor(cluster, interval=0.1) as mon, Publisher(cluster, t, label="roll") as pub:
        pub.wait_acked(10)
        t0 = time.monotonic()
        kube.kubectl("-n", cluster.ns, "patch", "jn", cluster.name, "--type=merge",
                     "-p", json.dumps({"spec": {"image": IMAGE2}}))
        wait_until(rolled, timeout=300, interval=0.5, what=f"every pod restarted on {IMAGE2}, cluster Ready",
                   describe=cluster.describe)
        report("rolling update of 3 pods (kubectl patch -> Ready)", f"{time.monotonic() - t0:.1f}s")
        pub.wait_acked(len(pub.acked) + 10)
    where = f"\ntimeline:\n{mon.timeline(limit=120)}"

    # -- one pod at a time: never two of the three brokers down in the same sample -------------------
    for s in mon.samples:
        down = [i for i in range(3) if not s.up(i)]
        assert len(down) <= 1, f"pods {down} down at once at t={s.t:.2f}{where}"
    # -- each pod replaced exactly once, the leader last --------------------------------------------
    replaced_at: dict[int, float] = {}
    for s in mon.samples:
        for i in range(3):
            p = s.pods.get(i)
            if i not in replaced_at and (p is None or p.terminating or p.uid != before[i]):
                replaced_at[i] = s.t
    order = sorted(replaced_at, key=replaced_at.get)
    assert sorted(order) == [0, 1, 2], f"not every pod was seen restarting: {replaced_at}{where}"
    assert order[-1] == leader, f"restart order {order}: the leader {leader} must go last{where}"
    uids = {i: {s.pods[i].uid for s in mon.samples if i in s.pods} for i in range(3)}
    assert all(len(u) == 2 for u in uids.values()), f"each pod restarts exactly once: {uids}{where}"

    # -- the operator's steps: followers, then the leadership transfer, then the old leader -------------
    ev = [(e.reason, e.related) for e in cluster.step_events(mark)
          if e.reason in ("RestartPod", "TransferLeader", "AddLearner", "RemoveMember", "Bootstrap")]
    restarts = [cluster.ordinal(r) for reason, r in ev if reason == "RestartPod"]
    assert sorted(restarts[:2]) == sorted(followers) and restarts[2:] == [leader], f"steps: {ev}"
    i_transfer = [k for k, (reason, _) in enumerate(ev) if reason == "TransferLeader"]
    assert len(i_transfer) == 1, f"one leadership transfer: {ev}"
    assert ev.index(("RestartPod", cluster.pod_name(followers[0]))) < i_transfer[0] and \
        ev.index(("RestartPod", cluster.pod_name(followers[1]))) < i_transfer[0] < \
        ev.index(("RestartPod", cluster.pod_name(leader))), f"transfer must come after the followers, " \
                                                             f"before the leader restarts: {ev}"
    assert not [e for e in ev if e[0] in ("AddLearner", "RemoveMember", "Bootstrap")], \
        f"a restart must not change membership: {ev}"
    # -- one election: the leadership moved once (the transfer), and nowhere else -----------------
    leaders = [s.leader() for s in mon.with_view() if s.leader() is not None]
    changes = [(a, b) for a, b in zip(leaders, leaders[1:]) if a != b]
    assert len(changes) == 1 and changes[0][0] == leader, f"leader changes {changes}{where}"
    # -- publishes kept succeeding apart from one election --------------------------------------------
    # A request that reached a pod in the middle of its own restart (the Service had not dropped it yet)
    # fails on any Kubernetes and is retried elsewhere; every other failure must fall in one outage.
    def pod_going(a) -> bool:
        if not a.backend.startswith(f"{cluster.name}-"):
            return False
        i = cluster.ordinal(a.backend)
        return any(not s.up(i) for s in mon.samples if abs(s.t - a.t) <= 1.0)

    outages = pub.outages()
    election = [o for o in outages if not all(pod_going(a) for a in o.attempts)]
    assert len(election) <= 1, "publishes failed in more than one outage:\n" + "\n".join(
        f"{o}\nsamples around it:\n{mon.timeline(around=o.start)}" for o in election)
    # -- clean stops: no request ever met a closed or resetting broker; refusals are retryable answers -----
    dropped = [a for a in pub.failures if not a.detail.startswith(("http 503", "http 504"))]
    assert not dropped, "requests failed on the connection (a broker stopped serving before the Service " \
        "dropped it):\n" + "\n".join(f"{a.backend}: {a.detail}" for a in dropped[:10]) + f"{where}"
    # -- every restart went through the eviction API ----------------------------------------------------
    if apiserver.available():
        writes = apiserver.operator_pod_writes(log_mark, cluster.ns)
        assert writes and all(w.method == "POST" and w.path.endswith("/eviction") for w in writes), \
            f"pod restarts not through the eviction API: {writes}"
        evicted = sorted({w.path.split("/")[-2] for w in writes if w.status == 201})
        assert evicted == sorted(cluster.pod_name(i) for i in range(3)), f"evictions: {writes}"
        report("rolling update: operator pod restarts via the eviction API", str(len(writes)))
    else:
        report("rolling update: eviction API check", "skipped: no E2E_APISERVER_LOG (not kube-emu)")
    report("rolling update: publishes / failed attempts / outages",
           f"{len(pub.acked)} / {len(pub.failures)} / " + ("; ".join(str(o) for o in outages) or "none"))
    # -- nothing lost, everywhere ------------------------------------------------------------------------
    ledger[t] = list(pub.acked)
    cluster.assert_data(ledger, ordinals=range(3))

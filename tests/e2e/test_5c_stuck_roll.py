"""Scenario 5c: rolls that cannot wedge. A `spec.image` that cannot be pulled (a typo'd tag) stops the roll
at the first pod: within one reconcile the status says why (`Degraded`, reason `ImagePullBackOff`, the
kubelet's words in the message), after `spec.rollout.readyTimeoutSeconds` the roll is `RolloutStuck` (with a
Warning Event), the two other brokers keep the quorum and keep serving. Changing `spec.image` back
recovers without anyone deleting a pod: the operator restarts the broken pod on the reverted template.

Then the same bad image together with turning auth on, the combination that used to restart every broker
onto the broken image at once: only one canary pod is restarted, the others keep serving, and reverting
both recovers. Never more than one broker is down."""

from __future__ import annotations

import json
import time

from jntest.report import report
from jntest.wait import wait_until

from conftest import IMAGE, topic
from e2elib.kube import condition
from e2elib.monitor import Monitor
from e2elib.traffic import Publisher

TIMEOUT = 20  # spec.rollout.readyTimeoutSeconds for these scenarios
BAD = f"{IMAGE.rsplit(':', 1)[0]}:does-not-exist"
PULL_WORDS = ("ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff")


def patch(kube, cluster, spec: dict) -> None:
    kube.kubectl("-n", cluster.ns, "patch", "jn", cluster.name, "--type=merge", "-p", json.dumps({"spec": spec}))


def degraded(cluster, *reasons: str):
    c = condition(cluster.cr(), "Degraded")
    return c if c.get("status") == "True" and c.get("reason") in reasons else None


def check_one_down_at_most(mon: Monitor) -> None:
    for s in mon.samples:
        down = [i for i in range(3) if not s.up(i)]
        assert len(down) <= 1, f"brokers {down} down at once at t={s.t:.2f}\n{mon.timeline(limit=80)}"


def test_a_bad_image_stops_the_roll_and_reverting_it_recovers_alone(kube, cluster, ledger):
    cr = cluster.wait_converged(3)
    good = cr["spec"]["image"]
    before = {i: p["metadata"]["uid"] for i, p in cluster.pods().items()}
    mark = cluster.events_mark()
    t = topic("stuck")
    with Monitor(cluster) as mon, Publisher(cluster, t, label="stuck") as pub:
        pub.wait_acked(5)
        t0 = time.monotonic()
        patch(kube, cluster, {"image": BAD, "rollout": {"readyTimeoutSeconds": TIMEOUT}})
        why = wait_until(lambda: degraded(cluster, "ImagePullBackOff", "RolloutStuck"), timeout=60, interval=0.5,
                         what="Degraded saying why", describe=cluster.describe)
        report("bad image: kubectl patch -> Degraded says why", f"{time.monotonic() - t0:.1f}s ({why['reason']})")
        stuck = wait_until(lambda: degraded(cluster, "RolloutStuck"), timeout=TIMEOUT + 60, interval=0.5,
                           what="RolloutStuck", describe=cluster.describe)
        bad_pods = [cluster.pod_name(i) for i, p in cluster.pods().items()
                    if p["spec"]["containers"][0]["image"] == BAD]
        assert len(bad_pods) == 1, f"the roll went past the first pod: {bad_pods}"
        assert bad_pods[0] in stuck["message"] and any(w in stuck["message"] for w in PULL_WORDS), stuck
        assert cluster.status()["phase"] == "Degraded"
        warnings = [e for e in cluster.step_events(mark) if e.reason == "RolloutStuck"]
        assert warnings, "no RolloutStuck Event"
        pub.wait_acked(len(pub.acked) + 5)  # the other two keep serving

        t0 = time.monotonic()
        patch(kube, cluster, {"image": good, "rollout": {"readyTimeoutSeconds": 300}})
        cluster.wait_converged(3, timeout=150)
        report("bad image reverted -> Ready, no human", f"{time.monotonic() - t0:.1f}s")
        pub.wait_acked(len(pub.acked) + 5)
    check_one_down_at_most(mon)
    after = {i: p["metadata"]["uid"] for i, p in cluster.pods().items()}
    replaced = sorted(cluster.pod_name(i) for i in after if after[i] != before[i])
    assert replaced == bad_pods, f"only the pod that got the bad image is replaced: {replaced}"
    assert all(p["spec"]["containers"][0]["image"] == good for p in cluster.pods().values())
    ledger[t] = list(pub.acked)
    cluster.assert_data(ledger, ordinals=range(3))


def test_auth_toggle_with_a_bad_image_stops_at_one_canary(kube, cluster, ledger):
    cr = cluster.wait_converged(3)
    good = cr["spec"]["image"]
    mark = cluster.events_mark()
    t = topic("canary")
    with Monitor(cluster) as mon, Publisher(cluster, t, label="canary") as pub:
        pub.wait_acked(5)
        patch(kube, cluster, {"image": BAD, "auth": {"enabled": True}, "rollout": {"readyTimeoutSeconds": TIMEOUT}})
        wait_until(lambda: degraded(cluster, "RolloutStuck"), timeout=TIMEOUT + 90, interval=0.5,
                   what="the canary stuck", describe=cluster.describe)
        steps = [e.reason for e in cluster.step_events(mark) if e.reason in ("RestartPod", "RestartAllPods")]
        assert steps == ["RestartPod"], f"one canary, no restart of all: {steps}"
        on_bad = [i for i, p in cluster.pods().items() if p["spec"]["containers"][0]["image"] == BAD]
        assert len(on_bad) == 1, on_bad
        pub.wait_acked(len(pub.acked) + 5)  # the two brokers not touched still serve (no auth yet)

        t0 = time.monotonic()
        patch(kube, cluster, {"image": good, "auth": {"enabled": False}, "rollout": {"readyTimeoutSeconds": 300}})
        cluster.wait_converged(3, timeout=150)
        report("auth + bad image reverted -> Ready", f"{time.monotonic() - t0:.1f}s")
        pub.wait_acked(len(pub.acked) + 5)
    check_one_down_at_most(mon)
    leaders = [s.leader() for s in mon.with_view()]
    assert leaders and all(lid is not None for lid in leaders[-5:]), "no leader at the end"
    ledger[t] = list(pub.acked)
    cluster.assert_data(ledger, ordinals=range(3))

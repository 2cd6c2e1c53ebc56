"""Scenario 6: the operator pod is killed (`kubectl delete pod --grace-period=0 --force`) in the middle of
a scale-up to 5: after the StatefulSet grew, before the new brokers joined Raft. The Deployment starts a
new operator, which takes the Lease over once the dead holder's lease runs out and finishes the
membership steps, without a second bootstrap: the clusterId is unchanged, no broker logs a
bootstrap, every broker reports the one cluster and still serves every earlier message."""

from __future__ import annotations

import time

from jntest.cluster import voters
from jntest.report import report
from jntest.wait import wait_until

from conftest import topic
from e2elib.kube import core, pod_ready

BOOTSTRAP_LOG = "bootstrapping a new cluster"  # broker/src/cluster/admin.rs, logged by POST /v1/cluster/init


def test_operator_killed_mid_scale_up_converges_without_a_second_bootstrap(kube, cluster, operator, ledger):
    cr = cluster.wait_converged(3)
    cluster_id = cr["status"]["clusterId"]
    bootstraps = [e for e in cluster.step_events() if e.reason == "Bootstrap"]
    assert len(bootstraps) == 1, f"one bootstrap so far: {[str(e) for e in bootstraps]}"
    ns, lease_ns, lease_name = operator["namespace"], operator["lease_namespace"], operator["lease"]
    lease = kube.kubectl_json("-n", lease_ns, "get", "lease", lease_name)
    holder = lease["spec"]["holderIdentity"]
    transitions = lease["spec"].get("leaseTransitions") or 0
    t = topic("crash")
    _, node = cluster.via_service()
    values = [f"crash-{i}" for i in range(20)]
    assert node.publish(t, values).status_code == 200
    ledger[t] = values
    mark = cluster.events_mark()
    t_start = time.time()

    t0 = time.monotonic()
    kube.kubectl("-n", cluster.ns, "scale", f"jn/{cluster.name}", "--replicas=5")
    # The operator's first act of the scale-up: the StatefulSet grows. Kill it right then.
    wait_until(lambda: (cluster.statefulset() or {}).get("spec", {}).get("replicas") == 5, timeout=30,
               interval=0.05, what="the operator to grow the StatefulSet to 5")
    kube.kubectl("-n", ns, "delete", "pod", holder, "--grace-period=0", "--force", "--wait=true", timeout=60)
    at_kill = cluster.node(cluster.ordinal(cr["status"]["leader"])).cluster()
    report("operator kill: Raft voters when the operator died", str(sorted(voters(at_kill))))
    assert voters(at_kill) != {0, 1, 2, 3, 4}, "the scale-up was complete before the kill: nothing tested"

    # A new operator pod takes the Lease over.
    def new_holder():
        l = kube.kubectl_json("-n", lease_ns, "get", "lease", lease_name)["spec"]
        pods = {p["metadata"]["name"] for p in kube.items(core(ns, "pods"), operator["selector"]) if pod_ready(p)}
        return l.get("holderIdentity") not in (None, "", holder) and l["holderIdentity"] in pods and l

    spec = wait_until(new_holder, timeout=120, interval=0.5, what="a new operator pod to hold the Lease")
    report("operator kill -> new operator holds the Lease", f"{time.monotonic() - t0:.1f}s")
    assert (spec.get("leaseTransitions") or 0) > transitions, spec
    cluster.wait_converged(5, timeout=180)
    report("operator kill -> cluster Ready with 5 voters", f"{time.monotonic() - t0:.1f}s")

    # One cluster, bootstrapped once.
    cr = cluster.cr()
    assert cr["status"]["clusterId"] == cluster_id, "status.clusterId changed"
    events = cluster.step_events(mark)
    again = [str(e) for e in events if e.reason in ("Bootstrap", "AdoptCluster")]
    assert not again, f"the new operator re-bootstrapped or re-adopted: {again}"
    for i, v in cluster.local_views(range(5)).items():
        assert isinstance(v, dict) and v["cluster_id"] == cluster_id, f"pod {i}: {v}"
    since = f"--since={int(time.time() - t_start) + 5}s"
    for i in range(5):
        log = kube.kubectl("-n", cluster.ns, "logs", cluster.pod_name(i), since).stdout
        assert BOOTSTRAP_LOG not in log, f"{cluster.pod_name(i)} logged a bootstrap during the scale-up"
    # The new brokers joined as learners, then voters.
    steps = [(e.reason, e.related) for e in events if e.reason in ("AddLearner", "PromoteLearner", "RemoveMember")]
    for p in (cluster.pod_name(3), cluster.pod_name(4)):
        assert ("AddLearner", p) in steps and ("PromoteLearner", p) in steps, steps
        assert steps.index(("AddLearner", p)) < steps.index(("PromoteLearner", p)), steps
    assert not [s for s in steps if s[0] == "RemoveMember"], steps
    # Every earlier message, on all five brokers (a re-initialised cluster would have none).
    cluster.assert_data(ledger, ordinals=range(5))

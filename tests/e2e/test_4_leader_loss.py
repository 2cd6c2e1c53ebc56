"""Scenario 4: the leader's pod is deleted (`kubectl delete pod`) while a publisher writes through the
client Service. A new leader is elected among the other two, the StatefulSet brings the pod back on the
same PVC, and the broker resumes as the same member (no re-add, no data loss) and catches up with what
was published while it was away."""

from __future__ import annotations

import time

from jntest.report import report
from jntest.wait import wait_until

from conftest import topic
from e2elib.kube import pod_ready
from e2elib.traffic import Publisher

REJOIN_STEPS = {"Bootstrap", "AddLearner", "PromoteLearner", "RemoveMember", "RemoveMemberWithLostData"}


def test_leader_pod_deleted_new_leader_and_pod_catches_up_on_its_volume(kube, cluster, ledger):
    cr = cluster.wait_converged(3)
    cluster_id = cr["status"]["clusterId"]
    leader = cluster.ordinal(cr["status"]["leader"])
    assert cluster.agreed_leader(range(3)) == leader, cluster.describe()
    term_before = cluster.node(leader).cluster(local=True)["term"]
    old = cluster.pods()[leader]
    claim = f"data-{cluster.pod_name(leader)}"
    claim_uid = cluster.pvcs()[claim]["metadata"]["uid"]
    others = [i for i in range(3) if i != leader]
    mark = cluster.events_mark()
    t = topic("failover")

    with Publisher(cluster, t, label="failover") as pub:
        pub.wait_acked(10)
        t0 = time.monotonic()
        kube.kubectl("-n", cluster.ns, "delete", "pod", cluster.pod_name(leader), "--wait=false")

        new_leader = wait_until(
            lambda: (lid := cluster.agreed_leader(others)) is not None and lid != leader and (lid,),
            timeout=60, interval=0.1, what=f"the other brokers {others} to elect a new leader",
            describe=cluster.describe)[0]
        report("leader pod deleted -> new leader agreed", f"{time.monotonic() - t0:.1f}s")
        view = cluster.node(new_leader).cluster(local=True)
        assert view["term"] > term_before, f"a new leader needs a new term: {term_before} -> {view}"
        acked_during = len(pub.acked)

        def back():
            p = cluster.pods().get(leader)
            return p if p and p["metadata"]["uid"] != old["metadata"]["uid"] and pod_ready(p) else None

        pod = wait_until(back, timeout=120, interval=0.3, what=f"pod {cluster.pod_name(leader)} back and Ready",
                         describe=cluster.describe)
        report("leader pod deleted -> pod back and Ready", f"{time.monotonic() - t0:.1f}s")
        pub.wait_acked(len(pub.acked) + 10)

    # on its own volume: the same claim, the same PVC object
    vols = [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"].get("volumes") or []
            if v.get("persistentVolumeClaim")]
    assert vols == [claim], vols
    assert cluster.pvcs()[claim]["metadata"]["uid"] == claim_uid, "the PVC was replaced"
    # the same member of the same cluster, which caught up with everything
    v = cluster.node(leader).cluster(local=True)
    assert v["cluster_id"] == cluster_id and v["node_id"] == leader, v
    ledger[t] = list(pub.acked)
    assert len(pub.acked) > acked_during > 10, "publishes must continue after the election"
    cluster.assert_data(ledger, ordinals=range(3))
    cr = cluster.wait_converged(3)
    assert cr["status"]["clusterId"] == cluster_id
    # it came back with its data: the operator had nothing to repair
    rejoin = [str(e) for e in cluster.step_events(mark) if e.reason in REJOIN_STEPS]
    assert not rejoin, f"the restarted broker must resume as the same member, not be re-added: {rejoin}"
    outages = pub.outages()
    report("leader pod deleted: publish outages", "; ".join(str(o) for o in outages) or "none")

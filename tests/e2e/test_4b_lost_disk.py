"""Scenario 4b: a broker comes back with an empty volume (its PVC deleted, as when a local disk or a node
is lost). It must never vote or acknowledge as the old member (the Raft "amnesia" double fault could
elect a leader missing committed messages): the operator removes the old member and adds the pod back as a
new learner bound to its new incarnation, then promotes it once it caught up; every message survives.

Waits on the broker: docs/broker-contract.md "Needed by the operator", part 2 (incarnation). Without it the
scenario skips, loudly: the broker then takes the leader's log under the old member id, and whether the
operator sees the empty volume in time is a race."""

from __future__ import annotations

import time

from jntest.report import report
from jntest.wait import wait_until

from e2elib import contract
from e2elib.volume import empty_emulated_volume as _empty_emulated_volume
from e2elib.volume import incarnation as _incarnation

STEPS = ("RemoveMemberWithLostData", "AddLearner", "PromoteLearner")


def test_a_broker_back_with_an_empty_volume_rejoins_as_a_new_member(kube, cluster, ledger):
    cr = cluster.wait_converged(3)
    contract.require(cluster.node(0), "incarnation")
    leader = cluster.ordinal(cr["status"]["leader"])
    lost = max(i for i in range(3) if i != leader)
    pod, claim = cluster.pod_name(lost), f"data-{cluster.pod_name(lost)}"
    old = cluster.node(lost).cluster(local=True)["incarnation"]
    old_claim = cluster.pvcs()[claim]["metadata"]["uid"]
    mark = cluster.events_mark()
    t0 = time.monotonic()
    kube.kubectl("-n", cluster.ns, "delete", "pvc", claim, "--wait=false")
    kube.kubectl("-n", cluster.ns, "delete", "pod", pod, "--wait=true", timeout=150)
    wait_until(lambda: (cluster.pvcs().get(claim) or {}).get("metadata", {}).get("uid") != old_claim,
               timeout=60, what=f"{claim} deleted")
    # The pod may have come back on the PVC being deleted: once more, as a user would.
    if (cluster.pods().get(lost) or {}).get("status", {}).get("phase") == "Pending":
        kube.kubectl("-n", cluster.ns, "delete", "pod", pod, "--wait=true", timeout=150)
    came_back = wait_until(lambda: _incarnation(cluster, lost), timeout=120, interval=0.5,
                           what=f"{pod} answering again")
    if came_back == old:
        # The API emulator keeps a claim's data in a podman volume named after the claim and the
        # StatefulSet re-creates the claim at once, so the pod came back on its old data. Lose the
        # disk the way a node loss would, under the broker's feet.
        assert _empty_emulated_volume(cluster.ns, pod, claim), (
            f"{pod} came back with its old data and this is not the API emulator: the PVC was not replaced")

    def repaired():
        steps = [(e.reason, e.related) for e in cluster.step_events(mark) if e.reason in STEPS]
        return steps == [(s, pod) for s in STEPS] and cluster.converged(3)

    wait_until(repaired, timeout=180, interval=0.5, what=f"{pod} removed, re-added as a learner, promoted",
               describe=lambda: f"{cluster.describe()}\nsteps {[str(e) for e in cluster.step_events(mark)]}")
    report("empty volume -> member replaced and promoted", f"{time.monotonic() - t0:.1f}s")
    new = cluster.node(lost).cluster(local=True)["incarnation"]
    assert new != old, "the new volume has a new incarnation"
    view = cluster.node(leader).cluster(local=True)
    member = next(m for m in view["members"] if m["id"] == lost)
    assert member["incarnation"] == new and member["role"] == "voter", member
    cluster.assert_data(ledger, ordinals=range(3))

"""Scenario 6b: quorum lost for good, and backups.

Recovery: a JumpnetCluster `recover` of 3 brokers loses the volumes of two of them (their PVCs deleted: the
pods come back empty, and an empty volume never votes as the old member). With no quorum, the status says
`QuorumLost` and the operator does nothing by itself. A human names the most up-to-date survivor with the
annotation `jumpnet.io/force-new-cluster` (docs/runbooks.md, JumpnetNoLeader): the operator has it become
the only voter (etcd's --force-new-cluster), re-adds the others as fresh learners, promotes them, removes
the annotation; the same cluster (same id) serves every message again.

Backup/restore: a new JumpnetCluster `restored` with `spec.restore.fromUrl` pointing at the first one's
`GET /v1/admin/snapshot` starts from that data.

Waits on the broker: docs/broker-contract.md "Needed by the operator", parts 2-4 (incarnation,
force-new-cluster, snapshot). Without them each test skips, loudly, naming the part; the broker is asked
through the shared cluster first, so no cluster is created for a test that would skip."""

from __future__ import annotations

import time

import pytest
import yaml
from jntest.report import report
from jntest.wait import wait_until

from conftest import IMAGE, topic
from e2elib import contract
from e2elib.cluster import Cluster
from e2elib.kube import condition, jn_path
from e2elib.volume import empty_emulated_volume, incarnation

NAME = "recover"
ANNOTATION = "jumpnet.io/force-new-cluster"


def manifest(ns: str, name: str, replicas: int, restore: str | None = None) -> str:
    spec = {"replicas": replicas, "image": IMAGE, "imagePullPolicy": "IfNotPresent",
            "storage": {"size": "64Mi", "deleteClaimOnScaleDown": True}}
    if restore:
        spec["restore"] = {"fromUrl": restore}
    return yaml.safe_dump({"apiVersion": "jumpnet.io/v1alpha1", "kind": "JumpnetCluster",
                           "metadata": {"name": name, "namespace": ns}, "spec": spec})


@pytest.fixture(scope="module")
def recover(kube, access, namespace):
    kube.kubectl("apply", "-f", "-", input=manifest(namespace, NAME, 3))
    c = Cluster(kube, access, namespace, NAME)
    c.wait_converged(3, timeout=240)
    yield c
    kube.kubectl("-n", namespace, "delete", "jn", NAME, "--wait=true", "--timeout=120s", check=False, timeout=150)


@pytest.fixture(scope="module")
def messages() -> dict[str, list[str]]:
    return {}


def wipe(kube, c: Cluster, ordinal: int) -> None:
    """The pod's volume is gone for good: it comes back empty."""
    pod, claim = c.pod_name(ordinal), f"data-{c.pod_name(ordinal)}"
    old = incarnation(c, ordinal)
    uid = c.pvcs()[claim]["metadata"]["uid"]
    kube.kubectl("-n", c.ns, "delete", "pvc", claim, "--wait=false")
    kube.kubectl("-n", c.ns, "delete", "pod", pod, "--wait=true", timeout=150)
    wait_until(lambda: (c.pvcs().get(claim) or {}).get("metadata", {}).get("uid") != uid, timeout=60,
               what=f"{claim} deleted")
    if (c.pods().get(ordinal) or {}).get("status", {}).get("phase") == "Pending":
        kube.kubectl("-n", c.ns, "delete", "pod", pod, "--wait=true", timeout=150)
    came_back = wait_until(lambda: incarnation(c, ordinal), timeout=120, interval=0.5,
                           what=f"{pod} answering again")
    if came_back == old:
        # The API emulator re-created the claim on the same podman volume (e2elib/volume.py).
        assert empty_emulated_volume(c.ns, pod, claim), (
            f"{pod} came back with its old data and this is not the API emulator: the PVC was not replaced")


def running(cluster):
    """The shared cluster, whatever its size after scenario 6: only its brokers are asked what they offer."""
    return cluster.wait_converged(cluster.cr()["spec"]["replicas"])


def test_force_new_cluster_recovers_from_the_most_up_to_date_survivor(kube, cluster, messages, request):
    running(cluster)
    contract.require(cluster.node(0), "force-new-cluster")
    c = request.getfixturevalue("recover")
    cr = c.cr()
    cluster_id = cr["status"]["clusterId"]
    leader = c.ordinal(cr["status"]["leader"])
    t = topic("survive")
    _, node = c.via_service()
    values = [f"v-{i}" for i in range(20)]
    node.publish_ok(t, values)
    messages[t] = values
    c.assert_data(messages)
    mark = c.events_mark()
    for i in (i for i in range(3) if i != leader):
        wipe(kube, c, i)
    wait_until(lambda: condition(c.cr(), "Degraded").get("reason") == "QuorumLost", timeout=90, interval=0.5,
               what="QuorumLost", describe=c.describe)
    assert not [e for e in c.step_events(mark) if e.reason in ("AddLearner", "RemoveMember", "Bootstrap")], \
        "nothing is done without a human"

    t0 = time.monotonic()
    kube.kubectl("-n", c.ns, "annotate", "jn", NAME, f"{ANNOTATION}={c.pod_name(leader)}")
    c.wait_converged(3, timeout=240)
    report("force-new-cluster annotation -> 3 voters Ready", f"{time.monotonic() - t0:.1f}s")
    cr = c.cr()
    assert ANNOTATION not in (cr["metadata"].get("annotations") or {}), "the operator removes the annotation"
    assert cr["status"]["clusterId"] == cluster_id, "the same cluster, recovered"
    reasons = [e.reason for e in c.step_events(mark)]
    assert "ForceNewCluster" in reasons and "ForceNewClusterDone" in reasons, reasons
    c.assert_data(messages, ordinals=range(3))


def test_a_new_cluster_restores_a_snapshot_of_another(kube, access, namespace, cluster, messages, request):
    running(cluster)
    contract.require(cluster.node(0), "snapshot")
    src = request.getfixturevalue("recover")
    if not messages:
        _, node = src.via_service()
        values = [f"b-{i}" for i in range(10)]
        t = topic("backup")
        node.publish_ok(t, values)
        messages[t] = values
    src.assert_data(messages)
    url = f"http://{src.pod_name(0)}.{NAME}-headless.{namespace}.svc:9090/v1/admin/snapshot?consistency=strong"
    t0 = time.monotonic()
    kube.kubectl("apply", "-f", "-", input=manifest(namespace, "restored", 1, restore=url))
    try:
        dst = Cluster(kube, access, namespace, "restored")
        dst.wait_converged(1, timeout=240)
        report("restore from a snapshot URL -> Ready", f"{time.monotonic() - t0:.1f}s")
        assert dst.status()["clusterId"] != src.status()["clusterId"], "a new cluster, holding the old data"
        dst.assert_data(messages)
        assert [e for e in dst.step_events() if e.reason == "Bootstrap" and url in e.note]
    finally:
        kube.kubectl("-n", namespace, "delete", "jn", "restored", "--wait=true", "--timeout=120s", check=False,
                     timeout=150)
        wait_until(lambda: kube.get(jn_path(namespace, "restored")) is None, timeout=60, what="restored gone")

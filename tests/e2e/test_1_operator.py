"""Scenario 1: the operator installed by `helm install` runs: its Deployment is available, it holds
(and keeps renewing) its leader-election Lease, and `kubectl get jn` shows the printer columns."""

from __future__ import annotations

from jntest.wait import wait_until

from conftest import IMAGE
from e2elib.kube import condition, core, pod_ready


def test_operator_deployment_is_available(kube, operator):
    ns, name = operator["namespace"], operator["deployment"]
    # What a user runs after `helm install`.
    kube.kubectl("-n", ns, "rollout", "status", f"deployment/{name}", "--timeout=120s", timeout=150)
    dep = kube.kubectl_json("-n", ns, "get", "deployment", name)
    assert condition(dep, "Available").get("status") == "True", f"Deployment {name}: {dep.get('status')}"
    want = dep["spec"]["replicas"]
    assert want >= 1 and dep["status"].get("availableReplicas") == want, dep["status"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE, \
        "the chart must run the image built from the repo's Dockerfile"
    pods = kube.items(core(ns, "pods"), operator["selector"])
    running = [p for p in pods if pod_ready(p) and not p["metadata"].get("deletionTimestamp")]
    assert len(running) == want, [(p["metadata"]["name"], p.get("status", {}).get("phase")) for p in pods]


def test_leader_election_lease_is_held_and_renewed(kube, operator):
    ns, lease = operator["lease_namespace"], operator["lease"]
    first = kube.kubectl_json("-n", ns, "get", "lease", lease)
    holder = first["spec"].get("holderIdentity")
    pods = {p["metadata"]["name"] for p in kube.items(core(operator["namespace"], "pods"), operator["selector"])
            if pod_ready(p)}
    assert holder in pods, f"Lease {ns}/{lease} is held by {holder!r}, not by a running operator pod {sorted(pods)}"
    duration = int(first["spec"].get("leaseDurationSeconds") or 15)
    renewed = wait_until(
        lambda: (l := kube.kubectl_json("-n", ns, "get", "lease", lease))["spec"].get("renewTime")
        != first["spec"].get("renewTime") and l,
        timeout=2 * duration, interval=0.5, what=f"the holder to renew Lease {lease}")
    assert renewed["spec"]["holderIdentity"] == holder, "the only operator lost its own Lease"


def test_kubectl_get_jn_shows_the_printer_columns(kube, cluster):
    out = kube.kubectl("-n", cluster.ns, "get", "jn").stdout.splitlines()
    assert out[0].split() == ["NAME", "REPLICAS", "READY", "LEADER", "PHASE", "AGE"], out
    rows = [line.split() for line in out[1:]]
    row = next(r for r in rows if r[0] == cluster.name)
    s = cluster.status()
    assert row[1:5] == ["3", "3", s["leader"], "Running"], f"row {row} vs status {s}"
    assert s["leader"] in {cluster.pod_name(i) for i in range(3)}
    # the long name and the category work too
    assert cluster.name in kube.kubectl("-n", cluster.ns, "get", "jumpnetclusters.jumpnet.io").stdout
    assert cluster.name in kube.kubectl("-n", cluster.ns, "get", "jumpnet").stdout

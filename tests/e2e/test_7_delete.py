"""Scenario 7: `kubectl delete jn e2e`. Everything the JumpnetCluster owned (StatefulSet, Services, PDB,
ConfigMap, the auth Secret, and through the StatefulSet the pods) is garbage-collected. The PVCs are not
owned by the JumpnetCluster and stay, as a StatefulSet's do (operator/README.md: deletion is the garbage
collector's job, volumes are kept); the suite removes them with its namespace."""

from __future__ import annotations

import time

from jntest.report import report
from jntest.wait import wait_until

from e2elib.kube import core, group

KINDS = {  # what the operator may create in a cluster's namespace, and where to list it
    "StatefulSet": group("apps/v1", "{ns}", "statefulsets"),
    "Service": core("{ns}", "services"),
    "PodDisruptionBudget": group("policy/v1", "{ns}", "poddisruptionbudgets"),
    "ConfigMap": core("{ns}", "configmaps"),
    "Secret": core("{ns}", "secrets"),
}


def owned_by(kube, ns: str, uid: str) -> list[str]:
    out = []
    for kind, path in KINDS.items():
        for o in kube.items(path.format(ns=ns)):
            if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or []):
                out.append(f"{kind}/{o['metadata']['name']}")
    return sorted(out)


def test_deleting_the_cluster_garbage_collects_what_it_owned(kube, cluster):
    cr = cluster.cr()
    assert cr, "the shared cluster is gone already"
    uid, name, ns = cr["metadata"]["uid"], cluster.name, cluster.ns
    owned = owned_by(kube, ns, uid)
    want = sorted([f"StatefulSet/{name}", f"Service/{name}", f"Service/{name}-headless",
                   f"PodDisruptionBudget/{name}", f"ConfigMap/{name}-config"])
    # Secret NAME-auth exists once auth was on (scenario 5b) and is kept when it is turned off again.
    secrets = [o for o in owned if o.startswith("Secret/")]
    assert secrets in ([], [f"Secret/{name}-auth"]), f"owned Secrets before deletion: {secrets}"
    assert [o for o in owned if not o.startswith("Secret/")] == want, f"owned objects before deletion: {owned}"
    want += secrets
    pods = sorted(p["metadata"]["name"] for p in cluster.pods().values())
    assert pods, "no broker pods to collect"
    claims = sorted(cluster.pvcs())

    t0 = time.monotonic()
    kube.kubectl("-n", ns, "delete", "jn", name, "--wait=true", "--timeout=120s", timeout=150)
    assert cluster.cr() is None

    left: list[str] = []

    def nothing_left():
        nonlocal left
        left = owned_by(kube, ns, uid) + [f"Pod/{p['metadata']['name']}" for p in cluster.pods().values()]
        for kind, path in (("StatefulSet", group("apps/v1", ns, "statefulsets", name)),
                           ("Service", core(ns, "services", name)),
                           ("Service", core(ns, "services", f"{name}-headless")),
                           ("PodDisruptionBudget", group("policy/v1", ns, "poddisruptionbudgets", name)),
                           ("ConfigMap", core(ns, "configmaps", f"{name}-config")),
                           ("Secret", core(ns, "secrets", f"{name}-auth"))):
            if kube.get(path) is not None:
                left.append(f"{kind}/{path.rsplit('/', 1)[1]}")
        return not left

    wait_until(nothing_left, timeout=120, interval=0.5, what=f"everything {name} owned to be collected",
               describe=lambda: f"left: {left}")
    report(f"kubectl delete jn -> {len(want)} objects and {len(pods)} pods collected",
           f"{time.monotonic() - t0:.1f}s")
    assert sorted(cluster.pvcs()) == claims, "the PVCs are not the cluster's to delete"

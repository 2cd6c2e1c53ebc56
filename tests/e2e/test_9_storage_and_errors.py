"""Scenario 9: storage growth and reconcile errors, on a JumpnetCluster `grow` of its own (one broker).

Storage: raising `spec.storage.size` expands the PVC and re-creates the StatefulSet with the larger claim
template (deleted with `propagationPolicy: Orphan`: the broker pod keeps running, same uid, never
restarted), as Strimzi and CloudNativePG do; where the StorageClass cannot expand volumes (kind's
local-path) the status says so with the API server's words and everything else keeps working. Shrinking
is refused: by the CRD's CEL rule on an API server that evaluates it (kind), else by the operator
itself (the emulator), which keeps the volumes and says `StorageChangeRefused`.

Errors: with a rule taken out of the operator's RBAC (ConfigMaps may not be patched), the next reconcile
fails on a real 403 and the status says `ReconcileError` with the API server's message, within one
reconcile, with a Warning Event; with the rule back, it clears."""

from __future__ import annotations

import copy
import json
import time

import pytest
import yaml
from jntest.report import report
from jntest.wait import wait_until

from conftest import IMAGE
from e2elib.cluster import Cluster
from e2elib.kube import condition, core

NAME = "grow"


@pytest.fixture(scope="module")
def grow(kube, access, namespace):
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump({
        "apiVersion": "jumpnet.io/v1alpha1", "kind": "JumpnetCluster",
        "metadata": {"name": NAME, "namespace": namespace},
        "spec": {"replicas": 1, "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                 "storage": {"size": "64Mi", "deleteClaimOnScaleDown": True}}}))
    c = Cluster(kube, access, namespace, NAME)
    c.wait_converged(1, timeout=180)
    yield c
    kube.kubectl("-n", namespace, "delete", "jn", NAME, "--wait=true", "--timeout=120s", check=False, timeout=150)
    # Pods a StatefulSet orphaned for its re-creation are adopted by the new one on a real cluster; the
    # emulator does not adopt, so they would outlive their cluster.
    kube.kubectl("-n", namespace, "delete", "pod", "-l", c.selector, "--wait=false", check=False)


def patch(kube, c, spec: dict, check: bool = True):
    return kube.kubectl("-n", c.ns, "patch", "jn", c.name, "--type=merge", "-p", json.dumps({"spec": spec}),
                        check=check)


def sts_size(c: Cluster) -> str:
    return c.statefulset()["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]


def degraded(c: Cluster, reason: str):
    d = condition(c.cr(), "Degraded")
    return d if d.get("status") == "True" and d.get("reason") == reason else None


def test_raising_the_storage_size_expands_the_volume_and_keeps_the_pod(kube, grow):
    c = grow
    pod = c.pods()[0]
    sts_uid = c.statefulset()["metadata"]["uid"]
    claim = f"data-{c.pod_name(0)}"
    t0 = time.monotonic()
    patch(kube, c, {"storage": {"size": "128Mi"}})

    def outcome():
        if degraded(c, "StorageResizeFailed"):
            return "refused"
        sts = c.statefulset()
        pvc = c.pvcs().get(claim) or {}
        grown = (pvc.get("spec") or {}).get("resources", {}).get("requests", {}).get("storage") == "128Mi"
        if grown and sts and sts["metadata"]["uid"] != sts_uid and sts_size(c) == "128Mi":
            return "grown"
        return None

    how = wait_until(outcome, timeout=90, interval=0.5, what="the PVC expanded and the StatefulSet re-created",
                     describe=c.describe)
    report("storage 64Mi -> 128Mi", f"{how} in {time.monotonic() - t0:.1f}s")
    if how == "refused":
        d = degraded(c, "StorageResizeFailed")
        assert "refused" in d["message"] and claim in d["message"], d
        assert c.statefulset()["metadata"]["uid"] == sts_uid and sts_size(c) == "64Mi"
        patch(kube, c, {"storage": {"size": "64Mi"}})
        return
    now = c.pods()[0]
    assert now["metadata"]["uid"] == pod["metadata"]["uid"], "the broker pod must be kept, not restarted"
    cr = c.wait_converged(1, timeout=90)
    progress = condition(cr, "Progressing")
    # The emulator's volume binder never reports the larger capacity: the operator keeps saying it waits.
    assert progress.get("status") == "False" or progress.get("reason") == "StorageResizing", progress


def test_shrinking_the_storage_is_refused(kube, grow):
    c = grow
    size = sts_size(c)
    p = patch(kube, c, {"storage": {"size": "32Mi"}}, check=False)
    if p.returncode != 0:  # an API server that evaluates the CRD's CEL rules
        assert "can only grow" in p.stderr, p.stderr
        report("storage shrink", "refused by the API server (CEL)")
        return
    d = wait_until(lambda: degraded(c, "StorageChangeRefused"), timeout=60, interval=0.5,
                   what="StorageChangeRefused", describe=c.describe)
    assert "cannot shrink" in d["message"], d
    assert sts_size(c) == size, "the volumes keep their size"
    events = [e for e in c.step_events() if e.reason == "StorageChangeRefused"]
    assert events, "a Warning Event"
    report("storage shrink", "refused by the operator (no CEL here)")
    patch(kube, c, {"storage": {"size": size}})
    wait_until(lambda: not degraded(c, "StorageChangeRefused"), timeout=60, what="the refusal to clear")


def test_an_rbac_refusal_shows_up_as_reconcile_error_with_the_api_servers_words(kube, grow, operator):
    c = grow
    role = kube.kubectl_json("get", "clusterrole", operator["deployment"])
    saved = copy.deepcopy(role)
    for rule in role["rules"]:
        if "configmaps" in rule["resources"]:
            rule["resources"] = [r for r in rule["resources"] if r != "configmaps"]
    role["rules"] = [r for r in role["rules"] if r["resources"]]
    role["rules"].append({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]})
    for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
        role["metadata"].pop(key, None)
        saved["metadata"].pop(key, None)
    mark = c.events_mark()
    kube.kubectl("replace", "-f", "-", input=json.dumps(role))
    try:
        t0 = time.monotonic()
        patch(kube, c, {"config": {"maxMessageBytes": 524288}})  # the ConfigMap must change now
        d = wait_until(lambda: degraded(c, "ReconcileError"), timeout=45, interval=0.3, what="ReconcileError",
                       describe=c.describe)
        report("RBAC 403 -> ReconcileError in the status", f"{time.monotonic() - t0:.1f}s")
        assert "forbidden" in d["message"] and "configmaps" in d["message"], d
        assert condition(c.cr(), "Ready").get("status") == "False"
        assert [e for e in c.step_events(mark) if e.reason == "ReconcileError"], "a Warning Event"
    finally:
        kube.kubectl("replace", "-f", "-", input=json.dumps(saved))
    patch(kube, c, {"config": {"maxMessageBytes": 1048576}})
    wait_until(lambda: condition(c.cr(), "Degraded").get("status") == "False", timeout=90, interval=0.5,
               what="the error to clear", describe=c.describe)
    cm = kube.get(core(c.ns, "configmaps", f"{NAME}-config"))
    assert "--max-message-bytes=1048576" in json.dumps(cm["data"]), "applied once allowed again"

"""scripts/lib/kubelet_tombstones.py: the fix the e2e suite runs ../shared/kube-emu's kubelet with.

Without it a pod deleted by the kubelet's own final DELETE could come back into the kubelet's cache as a ghost
(the write-through of the DELETE's answer handled after the watch's DELETED event), and a StatefulSet never
recreated that pod: a JumpnetCluster stuck at "waiting for e2e-0 to restart" in CI. Two tests: the cache
rule itself, event by event, and the emulator with its `--fake` kubelet, where the unpatched kubelet loses a pod
within a few rounds of deleting two pods of a Parallel StatefulSet together."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KUBE_EMU = os.environ.get("KUBE_EMU_DIR", os.path.join(ROOT, "..", "shared", "kube-emu"))
SHIM = os.path.join(ROOT, "scripts", "lib", "kubelet_tombstones.py")
KUBECTL = os.environ.get("KUBECTL", "kubectl")

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(KUBE_EMU, "podman_kubelet.py")),
                                reason=f"no kube-emu at {KUBE_EMU}")


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pod(uid, rv, deleting=False):
    meta = {"namespace": "ns", "name": "s-0", "uid": uid, "resourceVersion": str(rv)}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-05T00:00:00Z"
    return {"metadata": meta}


def test_a_deleted_pod_is_not_brought_back_by_the_answer_to_its_own_delete():
    sys.path.insert(0, KUBE_EMU)
    pk = load(os.path.join(KUBE_EMU, "podman_kubelet.py"), "podman_kubelet_under_test")
    load(SHIM, "kubelet_tombstones").patch(pk)
    inf = pk.Informer(kube=None, path="/api/v1/pods", on_change=lambda: None, name="pods")

    inf.apply("MODIFIED", pod("a", 10, deleting=True))
    inf.apply("DELETED", pod("a", 11, deleting=True))   # the watch is read first ...
    inf.put(pod("a", 11, deleting=True))                # ... then the DELETE's answer
    assert ("ns", "s-0") not in inf.items, "the deleted pod came back into the cache"

    inf.put(pod("b", 12))                               # the StatefulSet's new pod of the same name
    assert inf.items[("ns", "s-0")]["metadata"]["uid"] == "b"
    inf.apply("MODIFIED", pod("b", 13))
    assert inf.items[("ns", "s-0")]["metadata"]["resourceVersion"] == "13"

    inf.put(pod("c", 20, deleting=True))                # answer first, watch second: still deleted once
    inf.apply("DELETED", pod("c", 20, deleting=True))
    assert ("ns", "s-0") not in inf.items


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STS = """\
apiVersion: v1
kind: Namespace
metadata: {name: tomb}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: s, namespace: tomb}
spec:
  replicas: 3
  serviceName: s
  podManagementPolicy: Parallel
  updateStrategy: {type: OnDelete}
  selector: {matchLabels: {app: s}}
  template:
    metadata: {labels: {app: s}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: c, image: busybox}]
"""


def test_a_parallel_statefulset_gets_back_every_pod_deleted_together():
    """The emulator with the patched `--fake` kubelet: 15 rounds of deleting two of three pods at once; each
    round, all three must be running again (the unpatched kubelet lost one within two rounds here)."""
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        kubeconfig = os.path.join(d, "kubeconfig")
        env = dict(os.environ, KUBECONFIG=kubeconfig)
        procs = [subprocess.Popen([sys.executable, os.path.join(KUBE_EMU, "kube_emu.py"), "--port", str(port),
                                   "--kubeconfig-out", kubeconfig, "--state-dir", os.path.join(d, "state")],
                                  stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "emu.log"), "w"))]
        try:
            def kubectl(*args, check=True):
                return subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True, check=check,
                                      timeout=30).stdout

            wait(lambda: os.path.exists(kubeconfig) and
                 subprocess.run([KUBECTL, "get", "--raw", "/readyz"], env=env, capture_output=True).returncode == 0,
                 60, "the emulator's API")
            procs.append(subprocess.Popen([sys.executable, SHIM, KUBE_EMU, "--kubeconfig", kubeconfig,
                                           "--node-name", "n1", "--fake", "--state-dir", os.path.join(d, "kubelet")],
                                          stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "kubelet.log"), "w")))
            subprocess.run([KUBECTL, "apply", "-f", "-"], input=STS, env=env, text=True, check=True,
                           capture_output=True, timeout=30)

            def running():
                """{pod: uid} of the running pods that are not being deleted."""
                out = kubectl("-n", "tomb", "get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name} "
                              "{.metadata.uid} {.status.phase} {.metadata.deletionTimestamp}{'\\n'}{end}",
                              check=False)
                rows = [line.split() for line in out.splitlines()]
                return {r[0]: r[1] for r in rows if len(r) == 3 and r[2] == "Running"}

            before = wait(lambda: len(running()) == 3 and running(), 30, "s-0, s-1, s-2 running")
            for rnd in range(15):
                kubectl("-n", "tomb", "delete", "pod", "s-0", "s-1", "--wait=false")

                def replaced(before=before):
                    now = running()
                    return len(now) == 3 and now["s-0"] != before["s-0"] and now["s-1"] != before["s-1"] and now

                before = wait(replaced, 30, f"round {rnd}: s-0 and s-1 replaced by new running pods "
                              f"(running now: {sorted(running())})")
        finally:
            for p in reversed(procs):
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


def wait(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
    return value

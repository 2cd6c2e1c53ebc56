"""The chart's own JumpnetCluster and its `helm test` hook, as the chart README tells users:
`helm upgrade --reuse-values --set cluster.enabled=true` (here: one small replica), wait for it, `helm test`
(a pod that publishes and reads a message through the cluster's client Service, by its DNS name, from
inside the cluster), then `--set cluster.enabled=false` removes the cluster again.

The test pod's image is E2E_TEST_IMAGE when set (run.sh: scripts/build-test-images.sh makes a local busybox,
since nothing can be pulled here), else the chart's default (busybox from Docker Hub, e.g. on kind)."""

from __future__ import annotations

import os
import subprocess
import time

from jntest.report import report
from jntest.wait import wait_until

from conftest import OPERATOR_NS, RELEASE, ROOT
from e2elib.cluster import Cluster
from e2elib.kube import group, jn_path

HELM = os.environ.get("HELM", "helm")
CHART = os.path.join(ROOT, "charts", "jumpnet-operator")
NAME = "chart-cluster"


def helm(*args: str, timeout: float = 240) -> str:
    p = subprocess.run([HELM, *args], capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"helm {' '.join(args)} -> exit {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p.stdout


def test_helm_test_publishes_and_reads_through_the_chart_cluster(kube, access, operator):
    t0 = time.monotonic()
    helm("upgrade", RELEASE, CHART, "-n", OPERATOR_NS, "--reuse-values", "--wait", "--timeout=180s",
         "--set", "cluster.enabled=true", "--set", f"cluster.name={NAME}", "--set", "cluster.replicas=1",
         "--set", "cluster.storage.size=64Mi", "--set", "cluster.storage.deleteClaimOnScaleDown=true")
    try:
        c = Cluster(kube, access, OPERATOR_NS, NAME)
        c.wait_converged(1, timeout=180)
        report("helm upgrade --set cluster.enabled=true -> Ready", f"{time.monotonic() - t0:.1f}s")
        t1 = time.monotonic()
        out = helm("test", RELEASE, "-n", OPERATOR_NS, "--logs", "--timeout=180s")
        assert "Succeeded" in out, out
        assert "ok: published and read back" in out, out
        report("helm test (publish + read through the client Service)", f"{time.monotonic() - t1:.1f}s")
    finally:
        helm("upgrade", RELEASE, CHART, "-n", OPERATOR_NS, "--reuse-values", "--wait", "--timeout=180s",
             "--set", "cluster.enabled=false")
    wait_until(lambda: kube.get(jn_path(OPERATOR_NS, NAME)) is None
               and kube.get(group("apps/v1", OPERATOR_NS, "statefulsets", NAME)) is None,
               timeout=120, what=f"the chart's cluster {NAME} removed with cluster.enabled=false")

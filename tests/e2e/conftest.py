"""Fixtures of the end-to-end suite: the operator `tests/e2e/run.sh` helm-installed, a namespace, and one
3-replica JumpnetCluster `e2e` shared by the scenarios (files run in name order: test_1 ... test_8).

Sharing is honest here because every scenario starts from "Running with N ready voters" (it waits for
that first) and checks, besides its own topic, that every message acknowledged by an earlier scenario is
still served by every pod (the `ledger`). A scenario that breaks the cluster makes the next ones fail at
that first wait, with the cluster's state in the message.

Environment (run.sh sets it): KUBECONFIG, JUMPNET_IMAGE, JUMPNET_IMAGE2 (the same image under a second
name, for the rolling update), E2E_OPERATOR_NAMESPACE and E2E_RELEASE (the helm release to test),
E2E_ACCESS (auto|direct|port-forward), E2E_KEEP=1 (leave the namespace for inspection).
"""

from __future__ import annotations

import os
import sys
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, HERE)

from jntest.report import print_report, report  # noqa: E402

from e2elib.access import Access  # noqa: E402
from e2elib.cluster import Cluster  # noqa: E402
from e2elib.dump import dump  # noqa: E402
from e2elib.kube import Kube, group  # noqa: E402

IMAGE = os.environ.get("JUMPNET_IMAGE", "localhost/jumpnet:dev")
IMAGE2 = os.environ.get("JUMPNET_IMAGE2", "")
OPERATOR_NS = os.environ.get("E2E_OPERATOR_NAMESPACE", "jumpnet-e2e")
RELEASE = os.environ.get("E2E_RELEASE", "jn-e2e")
KEEP = os.environ.get("E2E_KEEP", "") not in ("", "0")
CLUSTER = "e2e"

# What the failure hook dumps: filled in by the fixtures as they come up.
STATE: dict = {"kube": None, "access": None, "namespaces": [], "operator": None}


def cluster_manifest(ns: str, name: str = CLUSTER, replicas: int = 3, image: str = IMAGE) -> str:
    return f"""\
apiVersion: jumpnet.io/v1alpha1
kind: JumpnetCluster
metadata:
  name: {name}
  namespace: {ns}
spec:
  replicas: {replicas}
  image: {image}
  imagePullPolicy: IfNotPresent
  storage:
    size: 64Mi
    deleteClaimOnScaleDown: true
"""


def topic(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


# -- reporting ---------------------------------------------------------------------------------
def pytest_terminal_summary(terminalreporter):
    print_report(terminalreporter, "e2e measurements")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed scenario (or fixture) carries the cluster's state: CR status, events, objects, every
    broker's view and last log lines, the operator's logs."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call") and STATE["kube"] is not None:
        try:
            text = dump(STATE["kube"], STATE["access"], list(STATE["namespaces"]), STATE["operator"])
        except Exception as exc:  # noqa: BLE001 - never hide the real failure
            text = f"(dump failed: {exc!r})"
        rep.sections.append(("e2e state at failure", text))
        path = os.environ.get("E2E_DUMP_DIR")
        if path:
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, f"{item.name}.txt"), "w") as f:
                f.write(text)


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def kube():
    if not os.environ.get("KUBECONFIG"):
        pytest.exit("KUBECONFIG is not set: run tests/e2e/run.sh (or point KUBECONFIG at a cluster)", 2)
    k = Kube()
    p = k.kubectl("get", "--raw", "/readyz", check=False, timeout=20)
    if p.returncode != 0:
        pytest.exit(f"the cluster in KUBECONFIG={os.environ['KUBECONFIG']} does not answer: {p.stderr.strip()}", 2)
    k.start_proxy()
    STATE["kube"] = k
    yield k
    k.stop_proxy()


@pytest.fixture(scope="session")
def access(kube):
    a = Access(kube)
    STATE["access"] = a
    yield a
    a.close()


@pytest.fixture(scope="session")
def operator(kube) -> dict:
    """The helm-installed operator: its Deployment, pod selector and leader-election Lease."""
    sel = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=operator"
    deps = kube.items(group("apps/v1", OPERATOR_NS, "deployments"), sel)
    if len(deps) != 1:
        pytest.fail(f"want one operator Deployment with labels {sel} in namespace {OPERATOR_NS}, found "
                    f"{len(deps)}: tests/e2e/run.sh helm-installs it (release {RELEASE})")
    dep = deps[0]
    labels = dict(dep["spec"]["selector"]["matchLabels"])
    # The Deployment's selector (name + instance) also matches the chart's `helm test` pod: narrow it to
    # the operator's own pods by the component label of the pod template.
    component = dep["spec"]["template"]["metadata"].get("labels", {}).get("app.kubernetes.io/component")
    if component:
        labels["app.kubernetes.io/component"] = component
    args = dep["spec"]["template"]["spec"]["containers"][0].get("args") or []
    opt = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in args if a.startswith("--") and "=" in a}
    info = {
        "namespace": OPERATOR_NS,
        "deployment": dep["metadata"]["name"],
        "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "lease": opt.get("--lease-name", "jumpnet-operator"),
        "lease_namespace": opt.get("--lease-namespace", OPERATOR_NS),
    }
    STATE["operator"] = info
    return info


@pytest.fixture(scope="session")
def namespace(kube):
    ns = f"jn-e2e-{uuid.uuid4().hex[:5]}"
    kube.kubectl("create", "namespace", ns)
    kube.kubectl("label", "namespace", ns, "jumpnet-e2e=true")
    STATE["namespaces"].append(ns)
    yield ns
    if not KEEP:
        kube.kubectl("delete", "namespace", ns, "--wait=true", "--timeout=180s", check=False, timeout=200)


@pytest.fixture(scope="session")
def ledger() -> dict[str, list[str]]:
    """topic -> every message acknowledged to the scenarios so far, in order."""
    return {}


@pytest.fixture(scope="session")
def cluster(kube, access, operator, namespace) -> Cluster:
    """The shared JumpnetCluster `e2e`: 3 replicas, applied with kubectl, Running with 3 ready voters."""
    t0 = time.monotonic()
    kube.kubectl("apply", "-f", "-", input=cluster_manifest(namespace))
    c = Cluster(kube, access, namespace, CLUSTER)
    c.wait_converged(3, timeout=240)
    report("3-replica cluster: kubectl apply -> Ready", f"{time.monotonic() - t0:.1f}s")
    pod0 = c.pods()[0]
    report("broker access from the test host", access.resolve_mode(pod0["status"]["podIP"]))
    return c

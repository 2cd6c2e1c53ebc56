"""Scenario 8 (issue 8: "and, in one scenario, `kubectl apply -f deploy/`"): the plain manifests instead of
the chart. The helm-installed operator is scaled to 0 for the duration (two operators would both
reconcile every JumpnetCluster) and restored afterwards.

`kubectl apply -f deploy/` (deploy/crd.yaml and deploy/operator.yaml), then `kubectl set image` to the
image under test (the manifests name the released image, which a test cluster cannot pull); the operator
Deployment becomes available and holds its Lease; the dev example (deploy/examples/jumpnetcluster-dev.yaml,
in the suite's namespace with the image under test) becomes Ready and answers deploy/README.md's curl calls
(`PUT /`, `GET /greetings`) through its client Service; the cluster is deleted (and collected), then `kubectl delete -f deploy/ --ignore-not-found` removes
the CRD, the operator's namespace and its cluster-wide RBAC. Runs last: it deletes the CRD, which this
test re-applies from the chart afterwards (helm never re-creates a CRD) before restoring the chart's
operator."""

from __future__ import annotations

import os
import time

import yaml
from jntest.report import report
from jntest.wait import wait_until

from conftest import IMAGE, ROOT, topic
from e2elib.cluster import Cluster
from e2elib.kube import core, group, pod_ready

DEPLOY = os.path.join(ROOT, "deploy")
CRD = "jumpnetclusters.jumpnet.io"


def manifests(kind: str) -> list[dict]:
    docs = []
    for f in sorted(os.listdir(DEPLOY)):
        if f.endswith((".yaml", ".yml")):
            with open(os.path.join(DEPLOY, f)) as fh:
                docs += [d for d in yaml.safe_load_all(fh) if d and d.get("kind") == kind]
    return docs


def test_kubectl_apply_deploy_runs_the_operator_and_delete_removes_it(kube, access, operator, namespace):
    (dep,) = manifests("Deployment")
    op_ns, op_name = dep["metadata"]["namespace"], dep["metadata"]["name"]
    container = dep["spec"]["template"]["spec"]["containers"][0]["name"]
    lease = next((a.split("=", 1)[1] for a in dep["spec"]["template"]["spec"]["containers"][0].get("args", [])
                  if a.startswith("--lease-name=")), "jumpnet-operator")
    helm_ns, helm_dep = operator["namespace"], operator["deployment"]
    helm_replicas = kube.kubectl_json("-n", helm_ns, "get", "deployment", helm_dep)["spec"]["replicas"]

    kube.kubectl("-n", helm_ns, "scale", f"deployment/{helm_dep}", "--replicas=0")
    try:
        wait_until(lambda: not kube.items(core(helm_ns, "pods"), operator["selector"]), timeout=90,
                   what="the helm-installed operator to stop")
        t0 = time.monotonic()
        kube.kubectl("apply", "-f", DEPLOY)
        kube.kubectl("-n", op_ns, "set", "image", f"deployment/{op_name}", f"{container}={IMAGE}")
        kube.kubectl("-n", op_ns, "rollout", "status", f"deployment/{op_name}", "--timeout=120s", timeout=150)
        report("kubectl apply -f deploy/ -> operator available", f"{time.monotonic() - t0:.1f}s")
        pods = [p["metadata"]["name"] for p in kube.items(core(op_ns, "pods")) if pod_ready(p)
                and p["spec"]["containers"][0]["image"] == IMAGE]
        wait_until(lambda: (kube.get(group("coordination.k8s.io/v1", op_ns, "leases", lease)) or {})
                   .get("spec", {}).get("holderIdentity") in pods, timeout=60,
                   what=f"the operator of deploy/ to hold Lease {op_ns}/{lease}")

        # The dev example, as shipped, in the suite's namespace with the image under test.
        with open(os.path.join(DEPLOY, "examples", "jumpnetcluster-dev.yaml")) as f:
            dev = yaml.safe_load(f)
        dev["metadata"]["namespace"] = namespace
        dev["spec"]["image"] = IMAGE
        kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(dev))
        c = Cluster(kube, access, namespace, dev["metadata"]["name"])
        c.wait_converged(dev["spec"]["replicas"], timeout=180)
        report("deploy/examples/jumpnetcluster-dev.yaml -> Ready", f"{time.monotonic() - t0:.1f}s")
        # deploy/README.md's two curl calls (the seed's API), through the client Service
        backend, node = c.via_service()
        t = topic("greetings")
        r = node.request("PUT", "/", json={"Key": t, "Value": "hello"})
        assert r.status_code == 200, f"PUT / via {backend}: {r.status_code} {r.text}"
        assert node.get_json(f"/{t}") == ["hello"]
        c.assert_data({t: ["hello"]})

        # Removal in the order a user must follow: the clusters first, while the operator and the CRD
        # still exist (once the CRD is gone, the garbage collector cannot resolve the owner references of
        # what a JumpnetCluster owned, and leaves those objects behind), then the manifests.
        kube.kubectl("-n", namespace, "delete", "jn", c.name, "--wait=true", "--timeout=120s", timeout=150)
        wait_until(lambda: kube.get(group("apps/v1", namespace, "statefulsets", c.name)) is None
                   and not c.pods(), timeout=120, what=f"{c.name}'s StatefulSet and pods collected")
        # --ignore-not-found: deploy/operator.yaml lists its Namespace first, and deleting it takes the
        # namespaced objects after it along (at once on the emulator), so their own deletes find nothing.
        kube.kubectl("delete", "-f", DEPLOY, "--ignore-not-found", "--wait=true", "--timeout=180s", timeout=200)
        left: list[str] = []

        def gone():
            left.clear()
            if kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD}") is not None:
                left.append(f"CRD {CRD}")
            if kube.get(f"/api/v1/namespaces/{op_ns}") is not None:
                left.append(f"Namespace {op_ns}")
            for kind, plural in (("ClusterRole", "clusterroles"), ("ClusterRoleBinding", "clusterrolebindings")):
                for o in manifests(kind):
                    if kube.get(f"/apis/rbac.authorization.k8s.io/v1/{plural}/{o['metadata']['name']}"):
                        left.append(f"{kind} {o['metadata']['name']}")
            return not left

        wait_until(gone, timeout=180, interval=0.5, what="kubectl delete -f deploy/ to remove everything",
                   describe=lambda: f"left: {left}")
        report("kubectl delete -f deploy/ -> all gone", f"{time.monotonic() - t0:.1f}s")
    finally:
        # Back to what the chart installed: its CRD (helm never re-creates one) and its operator.
        kube.kubectl("apply", "--server-side", "-f", os.path.join(ROOT, "charts", "jumpnet-operator", "crds"),
                     check=False)
        kube.kubectl("-n", helm_ns, "scale", f"deployment/{helm_dep}", f"--replicas={helm_replicas}", check=False)

"""Scenario 3b: disruption budgets during scale-ups, with the API a node drain or a cluster autoscaler
uses (`POST pods/NAME/eviction`, answered 429 while the PodDisruptionBudget allows no disruption).

A JumpnetCluster `pdb` of its own starts with 1 broker and scales 1 → 3, then 3 → 5, while an evictor keeps
trying to evict its brokers. The budget follows the Raft voters, not `spec.replicas`: with 1 or 2 voters
nothing may go, with 3 one pod, with 5 two. A sampler checks, sample by sample, that a majority of the
voters is always up and that the budget never allowed more than (voters - 1) / 2; the evictions that
did go through show the budget is not simply always closed.

The same cluster carries the pod settings a user passes through `spec.podTemplate` (a ServiceAccount,
pull secrets, extra env, a grace period) and gets the default anti-affinity and zone spread; with a
ServiceMonitor CRD installed, its ServiceMonitor carries the user's labels and the job the alerts select."""

from __future__ import annotations

import random
import threading
import time

import yaml
from jntest.cluster import voters
from jntest.report import report
from jntest.wait import wait_until

from conftest import IMAGE
from e2elib.cluster import Cluster
from e2elib.kube import group, pod_ready
from e2elib.monitor import Monitor

NAME = "pdb"
MAX_EVICTIONS = 2  # successful evictions per phase: enough to prove the budget opens, and bounded in time
SM_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
             "names": {"kind": "ServiceMonitor", "listKind": "ServiceMonitorList", "plural": "servicemonitors",
                       "singular": "servicemonitor"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
}


def manifest(ns: str) -> str:
    return yaml.safe_dump({
        "apiVersion": "jumpnet.io/v1alpha1", "kind": "JumpnetCluster",
        "metadata": {"name": NAME, "namespace": ns},
        "spec": {
            "replicas": 1, "image": IMAGE, "imagePullPolicy": "IfNotPresent",
            "storage": {"size": "64Mi", "deleteClaimOnScaleDown": True},
            "rollout": {"drainSeconds": 2},
            "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}}},
            "podTemplate": {
                "serviceAccountName": "jumpnet-broker",
                "imagePullSecrets": [{"name": "regcred"}],
                "env": [{"name": "JUMPNET_CACHE_MB", "value": "24"}],
                "terminationGracePeriodSeconds": 40,
            },
        },
    })


class Evictor:
    """Tries to evict the cluster's broker pods, one at a time in random order, recording each answer with
    the budget and the voters of that moment."""

    def __init__(self, kube, cluster: Cluster):
        self.kube, self.cluster = kube, cluster
        self.records: list[dict] = []
        self.evicted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="evictor", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)
        if self.error:
            raise AssertionError(f"evictor failed: {self.error!r}")

    @staticmethod
    def _voters(c: Cluster, pods) -> int | None:
        """Voters in the Raft configuration right now (the leader's view through any broker), or None."""
        for p in pods:
            try:
                view = c.node(c.ordinal(p["metadata"]["name"]), timeout=(0.5, 1.5)).cluster()
            except Exception:  # noqa: BLE001 - another broker may answer
                continue
            if view.get("leader_id") is not None:
                return len(voters(view))
        return None

    def _run(self):
        try:
            c = self.cluster
            while not self._stop.is_set():
                pods = [p for p in c.pods().values() if pod_ready(p) and not p["metadata"].get("deletionTimestamp")]
                if pods and self.evicted < MAX_EVICTIONS:
                    pdb = self.kube.get(group("policy/v1", c.ns, "poddisruptionbudgets", NAME)) or {}
                    n_voters = self._voters(c, pods)
                    choice = random.choice(pods)
                    pod, uid = choice["metadata"]["name"], choice["metadata"]["uid"]
                    t = time.monotonic()
                    code, message = self.kube.evict(c.ns, pod)
                    self.records.append({"t": t, "pod": pod, "uid": uid, "code": code, "message": message,
                                         "max_unavailable": (pdb.get("spec") or {}).get("maxUnavailable"),
                                         "voters": n_voters})
                    if code == 201:
                        self.evicted += 1
                self._stop.wait(0.4)
        except BaseException as exc:  # noqa: BLE001 - reported on exit
            self.error = exc


def check_quorum(mon: Monitor, ev: "Evictor") -> None:
    """Sample by sample: the voters the evictions took down (evicted and not Ready again since) are never
    more than a minority of the voters of that moment, so a majority is always left. (A voter that is not
    ready for another reason, e.g. a learner promoted before its readiness probe passed, is not the
    budget's doing and acknowledges the log anyway.)"""
    samples = mon.with_view()
    assert len(samples) >= 10, f"too few samples with a Raft view ({len(samples)})"
    evictions = sorted((r for r in ev.records if r["code"] == 201), key=lambda r: r["t"])
    down: dict[int, str] = {}  # ordinal -> uid of the pod evicted, until a new pod of it is Ready
    for s in samples:
        while evictions and evictions[0]["t"] <= s.t:
            r = evictions.pop(0)
            down[int(r["pod"].rsplit("-", 1)[1])] = r["uid"]
        for i, uid in list(down.items()):
            p = s.pods.get(i)
            if p is not None and p.uid != uid and p.ready and not p.terminating:
                del down[i]
        vs = s.voters()
        taken = {v for v in vs if v in down}
        assert len(vs) - len(taken) >= len(vs) // 2 + 1, \
            f"evictions took voters {sorted(taken)} of {sorted(vs)}\nsample {s}\ntimeline:\n{mon.timeline()}"
        assert s.leader() is None or len(taken) <= (len(vs) - 1) // 2


def scale_with_evictions(kube, c: Cluster, replicas: int) -> Evictor:
    with Monitor(c) as mon, Evictor(kube, c) as ev:
        kube.kubectl("-n", c.ns, "scale", f"jn/{NAME}", f"--replicas={replicas}")
        c.wait_converged(replicas, timeout=300)
    check_quorum(mon, ev)
    for r in ev.records:
        # the budget read just before the voters: it may lag a promotion (lower), never run ahead
        if r["max_unavailable"] is not None and r["voters"] is not None:
            assert r["max_unavailable"] <= max(r["voters"] - 1, 0) // 2, f"budget above the voters': {r}"
        if r["code"] not in (201, 429):
            raise AssertionError(f"eviction answered {r}")
    return ev


def drain(kube, c: Cluster, voters: int) -> None:
    """Converged with ``voters`` voters: exactly (voters - 1) / 2 brokers may be evicted at once, not one more
    (the budget opens as far as the quorum allows, and no further); then back to Ready."""
    allowed = (voters - 1) // 2
    wait_until(lambda: (p := kube.get(group("policy/v1", c.ns, "poddisruptionbudgets", NAME)))
               and p["spec"]["maxUnavailable"] == allowed and (p.get("status") or {}).get("disruptionsAllowed")
               == allowed, timeout=90, what=f"the budget of {voters} voters", describe=c.describe)
    codes = [kube.evict(c.ns, c.pod_name(i))[0] for i in range(voters - 1, voters - 2 - allowed, -1)]
    assert codes == [201] * allowed + [429], f"{voters} voters: evictions answered {codes}"
    c.wait_converged(voters, timeout=180)


def test_evictions_never_take_a_quorum_while_scaling_1_to_3_to_5(kube, access, namespace):
    kube.kubectl("-n", namespace, "create", "serviceaccount", "jumpnet-broker")
    created_crd = kube.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/servicemonitors.monitoring.coreos.com") is None
    if created_crd:
        kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(SM_CRD))
    c = Cluster(kube, access, namespace, NAME)
    try:
        kube.kubectl("apply", "-f", "-", input=manifest(namespace))
        c.wait_converged(1, timeout=180)
        pdb = kube.get(group("policy/v1", namespace, "poddisruptionbudgets", NAME))
        assert pdb["spec"]["maxUnavailable"] == 0 and pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
        code, message = kube.evict(namespace, c.pod_name(0))
        assert code == 429, f"the only voter was evicted: {code} {message}"

        t0 = time.monotonic()
        up3 = scale_with_evictions(kube, c, 3)
        report("scale 1 -> 3 under evictions", f"{time.monotonic() - t0:.1f}s, answers "
               f"{sorted({r['code'] for r in up3.records})}, {up3.evicted} evicted")
        early = [r for r in up3.records if r["voters"] is not None and r["voters"] < 3 and r["code"] == 201]
        assert not early, f"evicted with fewer than 3 voters: {early}"
        assert any(r["code"] == 429 for r in up3.records), "the budget never refused during 1 -> 3"
        drain(kube, c, 3)

        t0 = time.monotonic()
        up5 = scale_with_evictions(kube, c, 5)
        report("scale 3 -> 5 under evictions", f"{time.monotonic() - t0:.1f}s, answers "
               f"{sorted({r['code'] for r in up5.records})}, {up5.evicted} evicted")
        drain(kube, c, 5)

        # -- spec.podTemplate reached the pods; scheduling defaults are there ----------------------------
        for p in c.pods().values():
            spec = p["spec"]
            assert spec.get("serviceAccountName") == "jumpnet-broker", spec.get("serviceAccountName")
            assert spec.get("imagePullSecrets") == [{"name": "regcred"}]
            assert spec.get("terminationGracePeriodSeconds") == 40
            env = {e["name"]: e.get("value") for e in spec["containers"][0].get("env") or []}
            assert env.get("JUMPNET_CACHE_MB") == "24", env
            anti = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
            assert anti["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
            assert spec["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
            assert "--shutdown-grace-ms=2000" in spec["containers"][0]["args"]
        # -- the ServiceMonitor: the user's labels, the brokers' job --------------------------------------
        sm = wait_until(lambda: kube.get(group("monitoring.coreos.com/v1", namespace, "servicemonitors", NAME)),
                        timeout=60, what="the brokers' ServiceMonitor")
        assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack", sm["metadata"]
        assert sm["spec"]["endpoints"][0]["relabelings"] == [
            {"action": "replace", "targetLabel": "job", "replacement": "jumpnet-broker"}]
    finally:
        kube.kubectl("-n", namespace, "delete", "jn", NAME, "--wait=true", "--timeout=120s", check=False,
                     timeout=150)
        if created_crd:
            kube.kubectl("delete", "crd", "servicemonitors.monitoring.coreos.com", "--wait=false", check=False)

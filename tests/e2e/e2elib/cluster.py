"""One JumpnetCluster as a user sees it: its status (kubectl get jn), its pods, its brokers' views
(curl /v1/cluster on each pod) and the Events the operator records for each membership step."""

from __future__ import annotations

import re
from dataclasses import dataclass

from jntest.cluster import summarize
from jntest.http import Node
from jntest.wait import wait_until

from .access import Access
from .kube import Kube, condition, core, group, jn_path

SELECTOR = "app.kubernetes.io/name=jumpnet,app.kubernetes.io/instance={name}"


@dataclass
class StepEvent:
    time: str  # eventTime (RFC 3339, microseconds): sortable as a string within one writer
    reason: str
    note: str
    related: str | None  # the pod (or PVC) the step was about

    def __str__(self) -> str:
        return f"{self.time} {self.reason} {self.related}: {self.note}"


class Cluster:
    def __init__(self, kube: Kube, access: Access, ns: str, name: str):
        self.kube, self.access, self.ns, self.name = kube, access, ns, name
        self.selector = SELECTOR.format(name=name)

    def __repr__(self) -> str:
        return f"JumpnetCluster {self.ns}/{self.name}"

    # -- Kubernetes objects --------------------------------------------------------------------
    def cr(self) -> dict | None:
        return self.kube.get(jn_path(self.ns, self.name))

    def status(self) -> dict:
        return (self.cr() or {}).get("status") or {}

    def pods(self) -> dict[int, dict]:
        """Broker pods by ordinal."""
        out = {}
        for p in self.kube.items(core(self.ns, "pods"), self.selector):
            m = re.fullmatch(rf"{re.escape(self.name)}-(\d+)", p["metadata"]["name"])
            if m:
                out[int(m.group(1))] = p
        return out

    def statefulset(self) -> dict | None:
        return self.kube.get(group("apps/v1", self.ns, "statefulsets", self.name))

    def pvcs(self) -> dict[str, dict]:
        return {p["metadata"]["name"]: p for p in self.kube.items(core(self.ns, "persistentvolumeclaims"))
                if p["metadata"]["name"].startswith(f"data-{self.name}-")}

    def pod_name(self, ordinal: int) -> str:
        return f"{self.name}-{ordinal}"

    def ordinal(self, pod_name: str) -> int:
        return int(pod_name.rsplit("-", 1)[1])

    # -- brokers -------------------------------------------------------------------------------
    def node(self, ordinal: int, timeout=None) -> Node:
        kw = {"timeout": timeout} if timeout else {}
        return self.access.pod(self.ns, self.pod_name(ordinal), **kw)

    def via_service(self, timeout=None) -> tuple[str, Node]:
        kw = {"timeout": timeout} if timeout else {}
        return self.access.service(self.ns, self.name, **kw)

    def local_views(self, ordinals=None, timeout=(1.0, 3.0)) -> dict[int, dict | str]:
        """Each broker's own view (`GET /v1/cluster?local=true`), or the error that prevented it."""
        out: dict[int, dict | str] = {}
        for i in sorted(ordinals if ordinals is not None else self.pods()):
            try:
                out[i] = self.node(i, timeout=timeout).cluster(local=True)
            except Exception as exc:  # noqa: BLE001 - a view that cannot be had is reported as such
                out[i] = f"unreachable: {exc!r:.160}"
        return out

    def describe(self) -> str:
        s = self.status()
        lines = [f"status: phase={s.get('phase')} ready={s.get('readyReplicas')}/{s.get('replicas')} "
                 f"leader={s.get('leader')} members={s.get('members')} clusterId={s.get('clusterId')}"]
        for c in s.get("conditions") or []:
            lines.append(f"  {c.get('type')}={c.get('status')} {c.get('reason')}: {c.get('message')}")
        for i, v in self.local_views().items():
            lines.append(f"  pod {i}: {summarize(v) if isinstance(v, dict) else v}")
        return "\n".join(lines)

    def agreed_leader(self, ordinals) -> int | None:
        """The ordinal every listed broker names as leader (from its own view), or None."""
        views = self.local_views(ordinals)
        ids = {v.get("leader_id") if isinstance(v, dict) else "?" for v in views.values()}
        if len(ids) == 1:
            (lid,) = ids
            if isinstance(lid, int) and lid in ordinals:
                return lid
        return None

    # -- waiting -------------------------------------------------------------------------------
    def converged(self, replicas: int) -> dict | None:
        """The CR when it is Ready with ``replicas`` voters, every pod up and in the client Service's
        endpoints, else None."""
        cr = self.cr() or {}
        s = cr.get("status") or {}
        members = s.get("members") or []
        ok = (s.get("phase") == "Running"
              and s.get("observedGeneration") == cr["metadata"].get("generation")
              and s.get("readyReplicas") == replicas and s.get("replicas") == replicas
              and len(members) == replicas and all(m.get("role") == "voter" for m in members)
              and condition(cr, "Ready").get("status") == "True"
              and (self.statefulset() or {}).get("spec", {}).get("replicas") == replicas
              and len(self.pods()) == replicas
              # and the client Service routes to all of them (its Endpoints follow pod readiness)
              and len(self.access.service_addresses(self.ns, self.name)) == replicas)
        return cr if ok else None

    def wait_converged(self, replicas: int, timeout: float = 180) -> dict:
        return wait_until(lambda: self.converged(replicas), timeout=timeout, interval=0.5,
                          what=f"{self} Running with {replicas} ready voters", describe=self.describe)

    # -- the operator's Events -----------------------------------------------------------------
    def _events(self) -> list[dict]:
        return [e for e in self.kube.items(group("events.k8s.io/v1", self.ns, "events"))
                if (e.get("regarding") or {}).get("kind") == "JumpnetCluster"
                and (e.get("regarding") or {}).get("name") == self.name]

    def events_mark(self) -> dict[str, int]:
        """A mark to list only the Events recorded after it (clock-free: uid and series count)."""
        return {e["metadata"]["uid"]: ((e.get("series") or {}).get("count") or 1) for e in self._events()}

    def step_events(self, since: dict[str, int] | None = None) -> list[StepEvent]:
        """The operator's Events on this cluster recorded after ``since``, oldest first."""
        out = []
        for e in self._events():
            count = (e.get("series") or {}).get("count") or 1
            if since is not None and since.get(e["metadata"]["uid"], 0) >= count:
                continue
            t = (e.get("series") or {}).get("lastObservedTime") or e.get("eventTime") or \
                e.get("deprecatedLastTimestamp") or e["metadata"].get("creationTimestamp") or ""
            out.append(StepEvent(time=t, reason=e.get("reason", ""), note=e.get("note", ""),
                                 related=(e.get("related") or {}).get("name")))
        return sorted(out, key=lambda x: x.time)

    # -- data ------------------------------------------------------------------------------------
    def assert_data(self, ledger: dict[str, list[str]], ordinals=None, timeout: float = 60) -> None:
        """Every broker serves exactly the acknowledged messages of every topic in ``ledger``."""
        for i in sorted(ordinals if ordinals is not None else self.pods()):
            for topic, values in ledger.items():
                wait_until(lambda i=i, t=topic, v=values: self.node(i).read_all_values(t) == v,
                           timeout=timeout, interval=0.3,
                           what=f"{self.pod_name(i)} to serve the {len(values)} acknowledged messages of {topic}",
                           describe=lambda i=i, t=topic: _have(self, i, t, ledger[t]))


def _have(c: Cluster, i: int, topic: str, want: list[str]) -> str:
    try:
        got = c.node(i).read_all_values(topic)
    except Exception as exc:  # noqa: BLE001
        return f"cannot read: {exc!r:.200}"
    missing = [v for v in want if v not in set(got)]
    return (f"{len(got)} values, {len(missing)} acknowledged missing (first: {missing[:5]}), "
            f"{len(got) - len(set(got))} duplicates; view: {summarize(c.node(i).cluster(local=True))}")

"""A background sampler: several times a second it records, in this order, the broker pods (from the
API), the StatefulSet's size, the JumpnetCluster status and the Raft view of the cluster (what
`GET /v1/cluster` answers on a running pod: the leader's view when a leader is reachable).

The order matters for the invariants the scenarios check afterwards: a pod seen gone or terminating
*before* the Raft view was fetched must already be out of that view (removed from Raft before the pod
goes), and a StatefulSet size read before the view must cover every member of it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from jntest.cluster import members_by_id, voters

from .cluster import Cluster
from .kube import pod_ready


@dataclass
class PodState:
    uid: str
    ready: bool
    terminating: bool
    image: str
    ip: str | None


@dataclass
class Sample:
    t: float
    pods: dict[int, PodState]
    sts_replicas: int | None
    status: dict
    view: dict | None
    view_from: int | None
    errors: list[str] = field(default_factory=list)

    def up(self, ordinal: int) -> bool:
        p = self.pods.get(ordinal)
        return bool(p and p.ready and not p.terminating)

    def members(self) -> dict[int, dict]:
        return members_by_id(self.view) if self.view else {}

    def voters(self) -> set[int]:
        return voters(self.view) if self.view else set()

    def leader(self) -> int | None:
        return self.view.get("leader_id") if self.view else None

    def __str__(self) -> str:
        pods = " ".join(f"{i}:{'R' if p.ready else '-'}{'T' if p.terminating else ''}:{p.uid[:5]}"
                        for i, p in sorted(self.pods.items()))
        ms = ",".join(f"{i}{'v' if m.get('role') == 'voter' else 'l'}" for i, m in sorted(self.members().items()))
        return (f"t={self.t:.2f} pods[{pods}] sts={self.sts_replicas} phase={self.status.get('phase')} "
                f"leader={self.leader()} term={(self.view or {}).get('term')} members[{ms}]"
                + (f" errors={self.errors}" if self.errors else ""))


class Monitor:
    def __init__(self, cluster: Cluster, interval: float = 0.15):
        self.cluster = cluster
        self.interval = interval
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="monitor", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> "Monitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        if self.error:
            raise AssertionError(f"monitor failed: {self.error!r}")

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.samples.append(self.sample())
                self._stop.wait(self.interval)
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc

    def sample(self) -> Sample:
        c = self.cluster
        errors = []
        t = time.monotonic()
        pods: dict[int, PodState] = {}
        try:
            for i, p in c.pods().items():
                pods[i] = PodState(uid=p["metadata"]["uid"], ready=pod_ready(p),
                                   terminating=bool(p["metadata"].get("deletionTimestamp")),
                                   image=p["spec"]["containers"][0]["image"],
                                   ip=(p.get("status") or {}).get("podIP"))
        except Exception as exc:  # noqa: BLE001
            errors.append(f"pods: {exc!r:.120}")
        try:
            sts = c.statefulset()
            sts_replicas = (sts or {}).get("spec", {}).get("replicas")
        except Exception as exc:  # noqa: BLE001
            sts_replicas = None
            errors.append(f"sts: {exc!r:.120}")
        try:
            status = c.status()
        except Exception as exc:  # noqa: BLE001
            status = {}
            errors.append(f"status: {exc!r:.120}")
        view, view_from = None, None
        # The status' leader first (it answers first-hand), then any running pod.
        leader = status.get("leader")
        order = sorted(pods, key=lambda i: (c.pod_name(i) != leader, i))
        for i in order:
            if pods[i].terminating or not pods[i].ip:
                continue
            try:
                view = c.node(i, timeout=(0.5, 1.5)).cluster()
                view_from = i
                break
            except Exception as exc:  # noqa: BLE001
                errors.append(f"view {i}: {type(exc).__name__}")
        return Sample(t, pods, sts_replicas, status, view, view_from, errors)

    # -- helpers for the invariants ------------------------------------------------------------
    def with_view(self) -> list[Sample]:
        return [s for s in self.samples if s.view is not None]

    def timeline(self, limit: int = 60, around: float | None = None, window: float = 3.0) -> str:
        """The samples where something changed (for failure messages); ``around``: only those within
        ``window`` seconds of that monotonic time."""
        out, last = [], None
        for s in self.samples:
            if around is not None and abs(s.t - around) > window:
                continue
            key = str(s).split(" ", 1)[1]
            if key != last:
                out.append(str(s))
                last = key
        return "\n".join(out[-limit:])

"""The API server's own request log, where the suite has one: ``E2E_APISERVER_LOG`` (scripts/test.sh points
it at kube-emu's ``-v`` log). It shows *how* the operator acted, which its results cannot: a pod restarted
through the eviction API (``POST pods/NAME/eviction``, arbitrated by the PodDisruptionBudget) or by a plain
``DELETE``. In-cluster clients (the operator) are the only ones on HTTPS there; kubectl, helm and the
kubelet use plain HTTP. Without the log (kind) the callers say so and skip only that check."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

LOG = os.environ.get("E2E_APISERVER_LOG", "")
# kube_emu.py -v: "METHOD PATH?QUERY -> STATUS (12.3 ms) [user agent] https"
LINE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (\S+) -> (\d{3}) \([0-9.]+ ms\) \[[^\]]*\]( https)?")


@dataclass
class Request:
    method: str
    path: str
    status: int
    https: bool


def available() -> bool:
    return bool(LOG) and os.path.exists(LOG)


def mark() -> int:
    """A position in the log: only requests after it are read."""
    return os.path.getsize(LOG) if available() else 0


def requests_since(position: int) -> list[Request]:
    if not available():
        return []
    with open(LOG, errors="replace") as f:
        f.seek(position)
        text = f.read()
    out = []
    for m in LINE.finditer(text):
        out.append(Request(m.group(1), m.group(2).split("?", 1)[0], int(m.group(3)), bool(m.group(4))))
    return out


def operator_pod_writes(position: int, ns: str) -> list[Request]:
    """The in-cluster (HTTPS) requests that deleted or evicted pods of namespace ``ns`` since ``position``."""
    prefix = f"/api/v1/namespaces/{ns}/pods/"
    return [r for r in requests_since(position) if r.https and r.path.startswith(prefix)
            and (r.method == "DELETE" or (r.method == "POST" and r.path.endswith("/eviction")))]

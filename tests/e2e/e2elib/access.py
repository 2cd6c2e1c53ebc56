"""How the test host reaches the brokers, the way `curl` would.

There is no way to use the client Service's *name* from the host (it resolves only inside the
cluster). Two ways stand in for it:

* ``direct`` (the emulator, and any cluster whose pod network the host routes to): a request "through
  the client Service" goes to one of the addresses in the Service's Endpoints (its ready pods, the
  set kube-proxy balances over), rotating between them; a request to one pod goes to its pod IP.
* ``port-forward`` (kind on a laptop: pod IPs are not routed to the host): ``kubectl port-forward
  svc/NAME`` and ``kubectl port-forward pod/NAME``, which is what a user of kind does with curl.

``E2E_ACCESS=auto`` (default) picks ``direct`` when a ready pod's IP answers from the host, else
``port-forward``. Only ``direct`` could be exercised where this suite was written (the emulator has
no port-forward).
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import subprocess
import threading

from jntest.http import Node

from .kube import Kube, core

API_PORT = 9090
# Connect fast, answer within 10 s: a publish is answered once a quorum stored it, or 503/504.
TIMEOUT = (1.0, 10.0)


class Access:
    def __init__(self, kube: Kube, mode: str | None = None):
        self.kube = kube
        self.mode = mode or os.environ.get("E2E_ACCESS", "auto")
        self._rr = itertools.count()
        self._forwards: dict[tuple, tuple[subprocess.Popen, int, str]] = {}
        self._lock = threading.Lock()

    # -- mode --------------------------------------------------------------------------------
    def resolve_mode(self, sample_ip: str) -> str:
        if self.mode == "auto":
            try:
                with socket.create_connection((sample_ip, API_PORT), timeout=2):
                    self.mode = "direct"
            except OSError:
                self.mode = "port-forward"
        return self.mode

    # -- one pod -----------------------------------------------------------------------------
    def pod(self, ns: str, name: str, timeout=TIMEOUT) -> Node:
        pod = self.kube.get(core(ns, "pods", name))
        if pod is None:
            raise ConnectionError(f"pod {ns}/{name} does not exist")
        if self.mode == "port-forward":
            return Node(f"http://127.0.0.1:{self._forward(ns, f'pod/{name}', pod['metadata']['uid'])}",
                        timeout=timeout)
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            raise ConnectionError(f"pod {ns}/{name} has no IP yet")
        return Node(f"http://{ip}:{API_PORT}", timeout=timeout)

    # -- the client Service --------------------------------------------------------------------
    def service_addresses(self, ns: str, svc: str) -> list[tuple[str, str]]:
        """(pod name, ip) of the Service's ready endpoints."""
        ep = self.kube.get(core(ns, "endpoints", svc)) or {}
        out = []
        for subset in ep.get("subsets") or []:
            for a in subset.get("addresses") or []:
                out.append(((a.get("targetRef") or {}).get("name", "?"), a["ip"]))
        return sorted(out)

    def service(self, ns: str, svc: str, timeout=TIMEOUT) -> tuple[str, Node]:
        """(which backend, Node) for one request through the client Service."""
        if self.mode == "port-forward":
            return f"svc/{svc}", Node(f"http://127.0.0.1:{self._forward(ns, f'svc/{svc}', '')}",
                                      timeout=timeout)
        addrs = self.service_addresses(ns, svc)
        if not addrs:
            raise ConnectionError(f"Service {ns}/{svc} has no ready endpoints")
        name, ip = addrs[next(self._rr) % len(addrs)]
        return name, Node(f"http://{ip}:{API_PORT}", timeout=timeout)

    # -- port-forward --------------------------------------------------------------------------
    def _forward(self, ns: str, target: str, uid: str) -> int:
        key = (ns, target)
        with self._lock:
            fwd = self._forwards.get(key)
            if fwd and fwd[0].poll() is None and (not uid or fwd[2] == uid):
                return fwd[1]
            if fwd:
                fwd[0].kill()
            p = subprocess.Popen([self.kube.kubectl_bin, "-n", ns, "port-forward", target, f":{API_PORT}"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            line = p.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 9090"
            m = re.search(r"127\.0\.0\.1:(\d+)", line)
            if not m:
                p.kill()
                raise ConnectionError(f"kubectl port-forward {target}: {line.strip()!r}")
            threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
            self._forwards[key] = (p, int(m.group(1)), uid)
            return int(m.group(1))

    def close(self) -> None:
        with self._lock:
            for p, *_ in self._forwards.values():
                p.kill()
            self._forwards.clear()

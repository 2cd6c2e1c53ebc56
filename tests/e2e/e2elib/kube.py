"""The Kubernetes API, two ways.

* ``Kube.kubectl(...)``: the commands a user types (apply, scale, patch, delete, get). Every action a
  scenario takes on the cluster goes through kubectl, against whatever ``KUBECONFIG`` points at.
* ``Kube.get(path)``: plain JSON reads through a ``kubectl proxy`` started for the session, so the
  background samplers can read pods and status several times a second without a process per read
  (and without handling the kubeconfig's credentials themselves: the proxy does, for kind as for the
  emulator).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from typing import Any

import requests

KUBECTL = os.environ.get("KUBECTL", "kubectl")


class KubectlError(AssertionError):
    pass


class Kube:
    def __init__(self, kubectl: str = KUBECTL):
        self.kubectl_bin = kubectl
        self.proxy: subprocess.Popen | None = None
        self.base = ""
        self._local = threading.local()

    # -- kubectl -----------------------------------------------------------------------------
    def kubectl(self, *args: str, check: bool = True, timeout: float = 120,
                input: str | None = None) -> subprocess.CompletedProcess:
        cmd = [self.kubectl_bin, *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)} -> exit {p.returncode}\n{p.stderr.strip()}"
                               f"\n{p.stdout.strip()[:2000]}")
        return p

    def kubectl_json(self, *args: str, timeout: float = 60) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json", timeout=timeout).stdout)

    # -- the proxy ---------------------------------------------------------------------------
    def start_proxy(self) -> None:
        # --port=0: any free port; the proxy prints it. --reject-paths='' keeps the default
        # filter irrelevant (we only read).
        self.proxy = subprocess.Popen([self.kubectl_bin, "proxy", "--port=0"], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
        line = self.proxy.stdout.readline()  # "Starting to serve on 127.0.0.1:PORT"
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proxy.kill()
            raise KubectlError(f"kubectl proxy did not start: {line!r}")
        self.base = f"http://127.0.0.1:{m.group(1)}"
        # Keep draining its output so it never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proxy.stdout], daemon=True).start()

    def stop_proxy(self) -> None:
        if self.proxy and self.proxy.poll() is None:
            self.proxy.terminate()
            try:
                self.proxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proxy.kill()

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def get(self, path: str, params: dict | None = None, timeout: float = 10) -> dict | None:
        """GET an API path through the proxy: the object, or None when it does not exist (404)."""
        r = self._session().get(self.base + path, params=params, timeout=timeout)
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise KubectlError(f"GET {path}: {r.status_code} {r.text[:500]}")
        return r.json()

    def evict(self, ns: str, pod: str, timeout: float = 10) -> tuple[int, str]:
        """`POST pods/NAME/eviction`, what `kubectl drain` and cluster autoscalers do: (HTTP status, message).
        201: evicted; 429: the pod's PodDisruptionBudget allows no disruption now."""
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": ns}}
        r = self._session().post(f"{self.base}/api/v1/namespaces/{ns}/pods/{pod}/eviction", json=body,
                                 timeout=timeout)
        try:
            message = r.json().get("message", "")
        except ValueError:
            message = r.text[:300]
        return r.status_code, message

    def items(self, path: str, selector: str | None = None) -> list[dict]:
        body = self.get(path, params={"labelSelector": selector} if selector else None)
        return (body or {}).get("items") or []


# -- paths -----------------------------------------------------------------------------------
def core(ns: str, plural: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/{plural}" + (f"/{name}" if name else "")


def group(g: str, ns: str | None, plural: str, name: str = "") -> str:
    where = f"/namespaces/{ns}" if ns else ""
    return f"/apis/{g}{where}/{plural}" + (f"/{name}" if name else "")


def jn_path(ns: str, name: str = "") -> str:
    return group("jumpnet.io/v1alpha1", ns, "jumpnetclusters", name)


def condition(obj: dict | None, type_: str) -> dict:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return c
    return {}


def pod_ready(pod: dict) -> bool:
    return condition(pod, "Ready").get("status") == "True"

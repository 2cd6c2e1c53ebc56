"""Kubernetes manifests without a cluster: rendering, finding objects, schema checks."""

from __future__ import annotations

import os
import subprocess
from typing import Iterable

import jsonschema
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HELM = os.environ.get("HELM", "/opt/k8stools/helm")
KUBERNETES_VALIDATE = os.environ.get(
    "KUBERNETES_VALIDATE", os.path.join(os.environ.get("JUMPNET_VENV", "/opt/jumpnet-venv"), "bin",
                                        "kubernetes-validate"))


def load_all(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def load_file(path: str) -> list[dict]:
    with open(path) as f:
        return load_all(f.read())


def find(docs: Iterable[dict], kind: str, name: str | None = None) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: Iterable[dict], kind: str, name: str | None = None) -> dict:
    found = find(docs, kind, name)
    assert len(found) == 1, f"want exactly one {kind} {name or ''}, found {len(found)}"
    return found[0]


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([HELM, *args], capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} -> exit {p.returncode}\n{p.stderr}")
    return p


def kubernetes_validate(path: str, *versions: str) -> None:
    """`kubernetes-validate --strict` on ``path`` for each Kubernetes version (unknown kinds only warn)."""
    for v in versions or (None,):
        cmd = [KUBERNETES_VALIDATE, "--strict", "--quiet"] + (["-k", v] if v else []) + [path]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"{' '.join(cmd)}:\n{p.stdout}{p.stderr}"


def crd_validator(crd: dict, version: str) -> jsonschema.protocols.Validator:
    """A JSON-schema validator for the custom resources of ``crd`` at ``version``.

    The structural openAPIV3Schema is close enough to JSON schema for checking example resources:
    unknown fields are rejected (as a strict apply would), ``x-kubernetes-*`` keywords are ignored.
    """
    v = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    schema = _strict(v["schema"]["openAPIV3Schema"])
    return jsonschema.Draft7Validator(schema)


def _strict(s):
    if isinstance(s, dict):
        s = {k: _strict(v) for k, v in s.items()}
        if s.get("x-kubernetes-int-or-string"):
            s.pop("type", None)
            s["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if s.get("type") == "object" and "properties" in s and "additionalProperties" not in s \
                and not s.get("x-kubernetes-preserve-unknown-fields") and not s.get("x-kubernetes-embedded-resource"):
            s["additionalProperties"] = False
        if s.get("nullable") and "type" in s:
            s["type"] = [s["type"], "null"]
        return s
    if isinstance(s, list):
        return [_strict(x) for x in s]
    return s


def validate_cr(crd: dict, obj: dict) -> None:
    version = obj["apiVersion"].split("/")[1]
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    errors = sorted(crd_validator(crd, version).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{obj['kind']} {obj['metadata'].get('name')}: " + "; ".join(
        f"{'.'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors)


def pod_specs(docs: Iterable[dict]) -> list[tuple[str, dict]]:
    """(object description, pod spec) of every Pod and pod template in ``docs``."""
    out = []
    for d in docs:
        if d["kind"] == "Pod":
            out.append((f"Pod {d['metadata']['name']}", d["spec"]))
        elif d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
            out.append((f"{d['kind']} {d['metadata']['name']}", d["spec"]["template"]["spec"]))
    return out


def assert_restricted(what: str, pod: dict) -> None:
    """The restricted Pod Security Standard, as far as a manifest can show it."""
    psc = pod.get("securityContext") or {}
    for c in (pod.get("initContainers") or []) + pod["containers"]:
        sc = c.get("securityContext") or {}
        where = f"{what} container {c['name']}"
        assert sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation must be false"
        assert (sc.get("runAsNonRoot", psc.get("runAsNonRoot"))) is True, f"{where}: runAsNonRoot"
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        assert uid is None or uid != 0, f"{where}: runs as root"
        assert "ALL" in ((sc.get("capabilities") or {}).get("drop") or []), f"{where}: must drop ALL capabilities"
        assert not (sc.get("capabilities") or {}).get("add"), f"{where}: adds capabilities"
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        assert seccomp in ("RuntimeDefault", "Localhost"), f"{where}: seccompProfile {seccomp}"
        assert not sc.get("privileged"), f"{where}: privileged"
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), what

"""How a broker pod is started: the container spec of the operator's StatefulSet, made runnable by podman.

``from_render`` takes the StatefulSet that ``jumpnet-operator render -f CLUSTER.yaml`` prints (what the
operator applies); ``PodSpec.podman_args`` then does the kubelet's part for one ordinal: ``$(VAR)``
expansion, the downward-API env the broker reads (pod name, namespace), ConfigMap and Secret volumes as
read-only bind mounts (files owned by root and the pod's fsGroup, with the volume's defaultMode, as the
kubelet writes them), the PVC template as a named volume, emptyDir, runAsUser/runAsGroup, a read-only
root filesystem.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from dataclasses import dataclass, field

import yaml

VAR_RE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


class UnsupportedSpec(AssertionError):
    """The rendered pod uses something these container tests cannot reproduce: extend podspec.py."""


@dataclass
class PodSpec:
    cluster: str
    namespace: str
    container: dict
    pod_spec: dict
    claim_templates: list[dict]
    objects: list[dict] = field(default_factory=list)  # the other rendered objects (ConfigMaps, Secrets)

    @property
    def headless_service(self) -> str:
        return f"{self.cluster}-headless"

    def pod_name(self, ordinal: int) -> str:
        return f"{self.cluster}-{ordinal}"

    def fqdn(self, ordinal: int) -> str:
        return f"{self.pod_name(ordinal)}.{self.headless_service}.{self.namespace}.svc.cluster.local"

    def container_port(self, name: str, default: int) -> int:
        for p in self.container.get("ports") or []:
            if p.get("name") == name:
                return int(p["containerPort"])
        return default

    # -- the kubelet's part ------------------------------------------------------------------
    def env(self, ordinal: int) -> dict[str, str]:
        pod = self.pod_name(ordinal)
        fields = {"metadata.name": pod, "metadata.namespace": self.namespace, "spec.nodeName": "podman",
                  "spec.serviceAccountName": self.pod_spec.get("serviceAccountName", "default")}
        out: dict[str, str] = {}
        for e in self.container.get("env") or []:
            if "value" in e:
                out[e["name"]] = VAR_RE.sub(lambda m: out.get(m.group(1), m.group(0)), str(e["value"]))
            elif "valueFrom" in e:
                vf = e["valueFrom"]
                if "fieldRef" in vf and vf["fieldRef"]["fieldPath"] in fields:
                    out[e["name"]] = fields[vf["fieldRef"]["fieldPath"]]
                elif "configMapKeyRef" in vf or "secretKeyRef" in vf:
                    ref = vf.get("configMapKeyRef") or vf["secretKeyRef"]
                    kind = "ConfigMap" if "configMapKeyRef" in vf else "Secret"
                    data = self.object_data(kind, ref["name"])
                    if ref["key"] not in data:
                        if ref.get("optional"):
                            continue
                        raise UnsupportedSpec(f"env {e['name']}: {kind} {ref['name']} has no key {ref['key']}")
                    out[e["name"]] = data[ref["key"]].decode()
                else:
                    raise UnsupportedSpec(f"env {e['name']}: valueFrom {vf} is not emulated")
            else:
                out[e["name"]] = ""
        return out

    def argv(self, ordinal: int) -> tuple[list[str] | None, list[str]]:
        """(command or None for the image's entrypoint, args) with $(VAR) expanded."""
        env = self.env(ordinal)

        def expand(s: str) -> str:
            return VAR_RE.sub(lambda m: env.get(m.group(1), m.group(0)), s)

        cmd = self.container.get("command")
        return ([expand(c) for c in cmd] if cmd else None), [expand(a) for a in self.container.get("args") or []]

    def object_data(self, kind: str, name: str) -> dict[str, bytes]:
        for o in self.objects:
            if o.get("kind") == kind and o["metadata"]["name"] == name:
                data = {k: v.encode() for k, v in (o.get("data") or {}).items()} if kind == "ConfigMap" else \
                    {k: base64.b64decode(v) for k, v in (o.get("data") or {}).items()}
                data.update({k: v.encode() for k, v in (o.get("stringData") or {}).items()})
                return data
        raise UnsupportedSpec(f"{kind} {name} is referenced by the pod but not rendered")

    def podman_args(self, ordinal: int, *, volume_prefix: str, files_dir: str) -> list[str]:
        """``podman run`` options (no name/network/image) that reproduce the pod's container."""
        opts: list[str] = ["--hostname", self.pod_name(ordinal)]
        for k, v in self.env(ordinal).items():
            opts += ["--env", f"{k}={v}"]
        cmd, _ = self.argv(ordinal)
        if cmd:
            opts += ["--entrypoint", cmd[0]]
        sc = {**(self.pod_spec.get("securityContext") or {}), **(self.container.get("securityContext") or {})}
        if "runAsUser" in sc:
            opts += ["--user", f"{sc['runAsUser']}:{sc.get('runAsGroup', sc['runAsUser'])}"]
        if sc.get("readOnlyRootFilesystem"):
            opts += ["--read-only"]
        volumes = {v["name"]: v for v in self.pod_spec.get("volumes") or []}
        claims = {c["metadata"]["name"] for c in self.claim_templates}
        for vm in self.container.get("volumeMounts") or []:
            name, path = vm["name"], vm["mountPath"]
            if name in claims:
                opts += ["--volume", f"{volume_prefix}{name}-{self.pod_name(ordinal)}:{path}"]
                continue
            vol = volumes.get(name)
            if vol is None:
                raise UnsupportedSpec(f"volumeMount {name} has no volume")
            if "emptyDir" in vol:
                opts += ["--tmpfs", path] if (vol["emptyDir"] or {}).get("medium") == "Memory" else \
                    ["--volume", path]
            elif "configMap" in vol or "secret" in vol:
                kind = "ConfigMap" if "configMap" in vol else "Secret"
                src = vol.get("configMap") or vol["secret"]
                ref = src.get("name") or src.get("secretName")
                d = os.path.join(files_dir, f"{self.pod_name(ordinal)}-{name}")
                os.makedirs(d, exist_ok=True)
                try:
                    data = self.object_data(kind, ref)
                except UnsupportedSpec:
                    if not src.get("optional"):
                        raise
                    data, src = {}, {**src, "items": []}  # as the kubelet: an empty directory
                items = src.get("items") if "items" in src else [{"key": k, "path": k} for k in data]
                fs_group = (self.pod_spec.get("securityContext") or {}).get("fsGroup")
                for it in items:
                    p = os.path.join(d, it["path"])
                    os.makedirs(os.path.dirname(p), exist_ok=True)
                    with open(p, "wb") as f:
                        f.write(data[it["key"]])
                    os.chmod(p, it.get("mode", src.get("defaultMode", 0o644)))
                    if fs_group is not None:
                        os.chown(p, 0, int(fs_group))
                os.chmod(d, 0o755)
                if vm.get("subPath"):
                    opts += ["--volume", f"{os.path.join(d, vm['subPath'])}:{path}:ro"]
                else:
                    opts += ["--volume", f"{d}:{path}:ro"]
            else:
                raise UnsupportedSpec(f"volume {name}: {sorted(vol)} is not emulated")
        return opts


def from_render(operator_bin: str, cluster_yaml: str, workdir: str) -> PodSpec:
    """The broker pod spec of the StatefulSet ``jumpnet-operator render -f`` prints for ``cluster_yaml``."""
    path = os.path.join(workdir, "cluster.yaml")
    with open(path, "w") as f:
        f.write(cluster_yaml)
    p = subprocess.run([operator_bin, "render", "-f", path], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"{operator_bin} render -f {path}: exit {p.returncode}: {p.stderr.strip()[:500]}")
    docs = [d for d in yaml.safe_load_all(p.stdout) if d]
    sts = [d for d in docs if d.get("kind") == "StatefulSet"]
    if len(sts) != 1:
        raise RuntimeError(f"render printed {len(sts)} StatefulSets, want 1")
    sts = sts[0]
    pod_spec = sts["spec"]["template"]["spec"]
    containers = [c for c in pod_spec["containers"] if c["name"] in ("jumpnet", "broker")] or pod_spec["containers"][:1]
    return PodSpec(
        cluster=sts["metadata"]["name"],
        namespace=sts["metadata"].get("namespace", "default"),
        container=containers[0],
        pod_spec=pod_spec,
        claim_templates=sts["spec"].get("volumeClaimTemplates") or [],
        objects=[d for d in docs if d.get("kind") in ("ConfigMap", "Secret")],
    )


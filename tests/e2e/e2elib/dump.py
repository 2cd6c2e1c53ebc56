"""What a developer needs when a scenario fails: the JumpnetCluster's status, the namespace's Events,
the objects, every broker's own Raft view and last log lines, and the operator's logs. Each piece is
collected on its own: a dump never fails, it says what it could not get."""

from __future__ import annotations

from jntest.cluster import summarize

from .kube import Kube


def _kubectl(kube: Kube, *args: str, timeout: float = 30) -> str:
    try:
        p = kube.kubectl(*args, check=False, timeout=timeout)
        return (p.stdout + (f"\n[stderr] {p.stderr.strip()}" if p.returncode else "")).rstrip()
    except Exception as exc:  # noqa: BLE001
        return f"(kubectl {' '.join(args)} failed: {exc!r})"


def dump(kube: Kube, access, namespaces: list[str], operator: dict | None, tail: int = 40) -> str:
    out: list[str] = []

    def section(title: str, body: str) -> None:
        out.append(f"----- {title}\n{body}")

    for ns in namespaces:
        section(f"kubectl -n {ns} get jn", _kubectl(kube, "-n", ns, "get", "jn", "-o", "wide"))
        section(f"JumpnetCluster status in {ns}",
                _kubectl(kube, "-n", ns, "get", "jn", "-o",
                         "jsonpath={range .items[*]}{.metadata.name} generation={.metadata.generation} "
                         "spec={.spec}{'\\n'}status={.status}{'\\n\\n'}{end}"))
        section(f"objects in {ns}", _kubectl(kube, "-n", ns, "get", "sts,pods,svc,endpoints,pvc,pdb,cm",
                                             "-o", "wide"))
        section(f"events in {ns} (oldest first)",
                "\n".join(_kubectl(kube, "-n", ns, "get", "events", "--sort-by=.metadata.creationTimestamp")
                          .splitlines()[-80:]))
        try:
            pods = kube.items(f"/api/v1/namespaces/{ns}/pods", "app.kubernetes.io/name=jumpnet")
        except Exception as exc:  # noqa: BLE001
            pods = []
            section(f"broker pods in {ns}", f"(cannot list: {exc!r})")
        for p in sorted(pods, key=lambda p: p["metadata"]["name"]):
            name = p["metadata"]["name"]
            try:
                view = summarize(access.pod(ns, name, timeout=(1, 3)).cluster(local=True))
            except Exception as exc:  # noqa: BLE001
                view = f"(no view: {exc!r:.200})"
            section(f"broker {ns}/{name} ({(p.get('status') or {}).get('phase')}, "
                    f"uid {p['metadata']['uid'][:8]}): {view}",
                    _kubectl(kube, "-n", ns, "logs", name, f"--tail={tail}"))
    if operator:
        ns, sel = operator["namespace"], operator["selector"]
        section(f"operator pods ({ns}, {sel})", _kubectl(kube, "-n", ns, "get", "pods,lease", "-o", "wide"))
        section("operator logs (last 150 lines of each operator pod)",
                _kubectl(kube, "-n", ns, "logs", "-l", sel, "--tail=150", "--prefix", "--max-log-requests=10"))
    return "\n".join(out)

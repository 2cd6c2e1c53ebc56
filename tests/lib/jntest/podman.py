"""A thin wrapper over the podman CLI with this machine's settings.

Every call runs ``podman --runtime $PODMAN_RUNTIME`` (runc: crun fails in this sandbox) with
``CONTAINERS_CONF`` (``default_ulimits = []``) from the environment scripts/lib/common.sh sets up.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from .wait import GiveUp


class PodmanError(RuntimeError):
    pass


def _env() -> dict:
    env = dict(os.environ)
    if "CONTAINERS_CONF" not in env:
        root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
        env["CONTAINERS_CONF"] = os.path.join(root, "target", "containers.conf")
    return env


def available() -> bool:
    return shutil.which("podman") is not None


def podman(*args: str, check: bool = True, timeout: float = 120) -> str:
    cmd = ["podman", "--runtime", os.environ.get("PODMAN_RUNTIME", "runc"), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=timeout)
    if check and p.returncode != 0:
        raise PodmanError(f"{' '.join(cmd)} -> exit {p.returncode}: {p.stderr.strip() or p.stdout.strip()}")
    return p.stdout.strip()


def inspect(kind: str, name: str) -> dict:
    return json.loads(podman(kind, "inspect", name))[0]


def container_ip(name: str, network: str) -> str | None:
    nets = inspect("container", name)["NetworkSettings"].get("Networks") or {}
    ip = (nets.get(network) or {}).get("IPAddress")
    return ip if ip and ip != "none" else None


def ensure_running(name: str) -> None:
    """Raises ``GiveUp`` (stop waiting) with the container's last log lines when it is not running."""
    state = inspect("container", name)["State"]
    if state["Status"] != "running":
        raise GiveUp(f"container {name} is {state['Status']} (exit code {state.get('ExitCode')}); "
                     f"last log lines:\n{logs(name, 30)}")


def image_exists(image: str) -> bool:
    return subprocess.run(["podman", "image", "exists", image], env=_env()).returncode == 0


def logs(name: str, tail: int = 60) -> str:
    p = subprocess.run(["podman", "logs", "--tail", str(tail), name], capture_output=True, text=True, env=_env())
    return p.stdout + p.stderr


def remove_containers(*names: str) -> None:
    if names:
        podman("rm", "-f", "-v", "-t", "0", *names, check=False)  # -v: their anonymous volumes too


def remove_volumes(*names: str) -> None:
    if names:
        podman("volume", "rm", "-f", *names, check=False)


def remove_networks(*names: str) -> None:
    if names:
        podman("network", "rm", "-f", *names, check=False)

"""Losing a broker's volume for good in the API emulator: kube-emu keeps a claim's data in a podman volume
named after the namespace and the claim, and the StatefulSet re-creates a deleted claim at once, so a pod
whose PVC was deleted may come back on its old data. These helpers empty that volume under the broker's
feet, the way a node loss would (scenarios 4b and 6b)."""

from __future__ import annotations

import os
import shutil
import subprocess

from jntest.wait import wait_until


def incarnation(cluster, ordinal: int) -> str | None:
    try:
        return cluster.node(ordinal).cluster(local=True).get("incarnation")
    except Exception:  # noqa: BLE001 - not answering yet
        return None


def _podman(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=60)


def _running(container: str) -> bool:
    return _state(container)[0]


def _state(container: str) -> tuple[bool, str]:
    """(running, when it last started): a restart shows as a new start time."""
    r = _podman("inspect", container, "--format", "{{.State.Running}} {{.State.StartedAt}}")
    if r.returncode != 0:
        return False, ""
    running, _, started = r.stdout.strip().partition(" ")
    return running == "true", started


def _kill_once(container: str) -> None:
    """Kill the running broker container and wait until it is down or has been restarted (the
    kubelet may restart it within one poll: then the new start time shows it). A kill that did not
    take (a container between states) is repeated."""
    wait_until(lambda: _running(container), timeout=90, interval=0.2, what=f"{container} running")
    started = _state(container)[1]

    def gone() -> bool:
        running, now = _state(container)
        if running and now == started:
            _podman("kill", container)
            return False
        return True

    wait_until(gone, timeout=30, interval=0.1, what=f"{container} killed")


def empty_emulated_volume(ns: str, pod: str, claim: str) -> bool:
    """Empty the emulator's podman volume of ``claim`` while the broker container is down. The
    kubelet restarts a killed container at once the first time and after a 10 s back-off after
    that: the volume is emptied in such a pause (only once the container is seen down after a
    repeated kill), and the broker starts on an empty state dir."""
    if shutil.which("podman") is None:
        return False
    mountpoint = _podman("volume", "inspect", f"{ns}-{claim}", "--format", "{{.Mountpoint}}")
    if mountpoint.returncode != 0:
        return False
    root = mountpoint.stdout.strip()
    container = f"k8s_{ns}_{pod}_jumpnet"
    kills = 0
    while kills < 2 or _running(container):
        assert kills < 6, f"{container} never stayed down after {kills} kills"
        _kill_once(container)
        kills += 1
    for entry in os.listdir(root):
        path = os.path.join(root, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    return True

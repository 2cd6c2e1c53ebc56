"""A ``jnf-faultfs`` mount (tests/faultfs): a node's state dir that can lose power.

Power loss, step by step (``power_loss``): freeze the filesystem at the chosen instant (``freeze``)
or right after a chosen operation (``arm``: e.g. the first ``create`` of ``raft/*.wal``, a WAL
rotation), kill the node, then ``crash`` — everything not fsynced is gone (``torn``: a random prefix
of it survives, the last write cut mid-way) — and start the node again on what is left.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess

from jntest.wait import GiveUp, wait_until

from .cluster import ROOT

FAULTFS_BIN = os.environ.get("JNF_FAULTFS_BIN",
                             os.path.join(ROOT, "target/x86_64-unknown-linux-musl/release/jnf-faultfs"))
MOUNT_TIMEOUT_S = 10.0
CONTROL_TIMEOUT_S = 30.0


class FaultFs:
    def __init__(self, mount: str, control: str, log: str, metadata: str = "strict"):
        """``metadata``: ``strict`` (a name is durable once its directory is fsynced) or ``journaled``
        (once anything is fsynced, as on ext4/XFS); see tests/faultfs."""
        self.mount, self.control = mount, control
        os.makedirs(mount, exist_ok=True)
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([FAULTFS_BIN, "--mount", mount, "--control", control,
                                          "--metadata", metadata],
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

        def mounted():
            if self.proc.poll() is not None:
                raise GiveUp(f"jnf-faultfs exited with {self.proc.returncode}; see {log}")
            return os.path.ismount(mount) and self.status()["ok"]

        wait_until(mounted, timeout=MOUNT_TIMEOUT_S, what=f"jnf-faultfs mounted at {mount}")

    def cmd(self, line: str) -> dict:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(CONTROL_TIMEOUT_S)
            s.connect(self.control)
            s.sendall(line.encode() + b"\n")
            answer = json.loads(s.makefile().readline())
        if not answer.get("ok"):
            raise RuntimeError(f"jnf-faultfs {line!r}: {answer}")
        return answer

    def status(self) -> dict:
        return self.cmd("status")

    def arm(self, op: str, glob: str, count: int = 1) -> None:
        self.cmd(f"arm {op} {glob} {count}")

    def freeze(self) -> None:
        self.cmd("freeze")

    def drain(self) -> int:
        """Answers parked requests EIO (the FS stays frozen): call after SIGKILL so the process can exit."""
        return self.cmd("drain")["answered"]

    def sync(self) -> None:
        self.cmd("sync")

    def crash(self, torn_seed: int | None = None, data_only: bool = False) -> dict:
        """Power loss. ``torn_seed``: keep a random prefix of what was not synced; with ``data_only``
        keep every directory change and tear each file inside one of its unsynced writes."""
        if torn_seed is None:
            return self.cmd("crash")["report"]
        return self.cmd(f"crash {'torn-data' if data_only else 'torn'} {torn_seed}")["report"]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.cmd("unmount")
                self.proc.wait(timeout=MOUNT_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - fall back to the blunt way out
                pass
        if os.path.ismount(self.mount):
            subprocess.run(["umount", "-l", self.mount], check=False)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

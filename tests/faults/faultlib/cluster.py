"""Real ``jumpnet`` processes, one per network namespace, formed into a cluster the operator's way.

Each node listens on its own namespace address (10.77.0.N, ports ``RAFT_PORT``/``API_PORT``: the
namespace is private, so no port is shared with anything else on the machine), runs ``--managed
--node-id N`` and is joined by :func:`jntest.cluster.form_cluster`. Logs go to ``<dir>/nN.log``
(appended across restarts, each start marked).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from jntest.cluster import Member, form_cluster, summarize
from jntest.http import Node
from jntest.wait import GiveUp, wait_until

from .netns import Net

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
JUMPNET_BIN = os.environ.get("JUMPNET_BIN", os.path.join(ROOT, "target/x86_64-unknown-linux-musl/release/jumpnet"))
RAFT_PORT = 7080
API_PORT = 7090
ELECTION_TIMEOUT_MS = 100  # jumpnet's default, stated so the recovery bound is derived from it
START_TIMEOUT_S = 30.0
CONVERGE_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
# connect, read: a node that is partitioned or frozen must not hang the test's own calls
ADMIN_TIMEOUT = (1.0, 5.0)


class NsNode(Node):
    """A node's API, reachable only from inside the clients' namespace (checked on every call)."""

    def __init__(self, net: Net, base_url: str):
        super().__init__(base_url, timeout=ADMIN_TIMEOUT)
        self.net = net

    def request(self, method, path, **kw):
        self.net.assert_inside()
        return super().request(method, path, **kw)


class JumpnetNode:
    def __init__(self, net: Net, n: int, state_dir: str, log_dir: str, args: list[str] | None = None):
        self.net, self.n, self.state_dir, self.log_dir = net, n, state_dir, log_dir
        self.args = list(args or [])
        self.proc: subprocess.Popen | None = None
        self.ip = net.ip(n)
        self.api = NsNode(net, f"http://{self.ip}:{API_PORT}")
        self.starts = 0

    @property
    def log_path(self) -> str:
        return os.path.join(self.log_dir, f"n{self.n}.log")

    def command(self) -> list[str]:
        return self.net.exec_prefix(self.n) + [
            JUMPNET_BIN, "serve",
            "--state-dir", self.state_dir,
            "--raft", f"{self.ip}:{RAFT_PORT}", "--api", f"{self.ip}:{API_PORT}",
            "--advertise-raft", f"{self.ip}:{RAFT_PORT}", "--advertise-api", f"{self.ip}:{API_PORT}",
            "--managed", "--node-id", str(self.n),
            "--election-timeout-ms", str(ELECTION_TIMEOUT_MS),
        ] + self.args

    def start(self) -> None:
        assert not self.alive(), f"node {self.n} is already running"
        os.makedirs(self.state_dir, exist_ok=True)
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== jnf: start #{self.starts} of node {self.n} at {time.time():.3f} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def wait_listening(self, timeout: float = START_TIMEOUT_S) -> None:
        def up():
            if not self.alive():
                raise GiveUp(f"node {self.n} exited with {self.exit_code()}; log tail:\n{self.log_tail()}")
            return self.api.livez()

        wait_until(up, timeout=timeout, what=f"node {self.n} to listen")

    def kill(self, unblock=None) -> None:
        """SIGKILL (a crash that keeps the page cache; power loss is the filesystem's part).

        ``unblock``: called until the process is gone (a frozen jnf-faultfs's ``drain``: a process
        waiting on a FUSE request cannot die before the request is answered).
        """
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is None:
            return
        if unblock is not None:
            def gone():
                unblock()
                return self.proc.poll() is not None

            wait_until(gone, timeout=STOP_TIMEOUT_S, interval=0.02, what=f"node {self.n} to die")
        self.proc.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-lines:]).decode(errors="replace")
        except OSError:
            return "(no log)"

    def view(self) -> dict:
        return self.api.get_json("/v1/cluster", params={"local": "true"})


class Cluster:
    def __init__(self, net: Net, state_dirs: dict[int, str], log_dir: str, args: list[str] | None = None):
        self.net = net
        self.nodes = {n: JumpnetNode(net, n, state_dirs[n], log_dir, args) for n in net.nodes}

    def __getitem__(self, n: int) -> JumpnetNode:
        return self.nodes[n]

    def start(self) -> None:
        for node in self.nodes.values():
            node.start()
        for node in self.nodes.values():
            node.wait_listening()

    def member(self, n: int) -> Member:
        x = self.nodes[n]
        return Member(n, f"{x.ip}:{RAFT_PORT}", f"{x.ip}:{API_PORT}", x.api)

    def form(self, ids: list[int] | None = None) -> dict:
        """Forms the cluster of ``ids`` (default: every node) the operator's way."""
        return form_cluster([self.member(n) for n in (ids or self.nodes)], timeout=START_TIMEOUT_S)

    def describe(self) -> str:
        out = []
        for n, x in self.nodes.items():
            try:
                out.append(summarize(x.view()))
            except Exception as e:  # noqa: BLE001 - a node that is down is part of the picture
                out.append(f"node {n}: {type(e).__name__} (alive={x.alive()})")
        return " | ".join(out)

    def leader(self, among: list[int] | None = None, timeout: float = START_TIMEOUT_S) -> int:
        """The leader that the nodes ``among`` (default all) agree on."""
        ids = among or list(self.nodes)

        def agreed():
            seen = {self.nodes[n].view().get("leader_id") for n in ids}
            return len(seen) == 1 and None not in seen and seen.pop()

        return int(wait_until(agreed, timeout=timeout, what=f"nodes {ids} to agree on a leader",
                              describe=self.describe))

    def wait_converged(self, ids: list[int] | None = None, timeout: float = CONVERGE_TIMEOUT_S) -> dict:
        """Every node in ``ids`` knows the same leader and applied up to that leader's commit index.
        (A follower's own ``commit_index`` is a hint that can lag its applied index after a restart
        until the next write, so the leader's is the one compared.)"""
        ids = ids or list(self.nodes)

        def same():
            views = {n: self.nodes[n].view() for n in ids}
            leaders = {v.get("leader_id") for v in views.values()}
            if len(leaders) != 1 or None in leaders:
                return False
            leader = leaders.pop()
            commit = (views[leader] if leader in views else self.nodes[leader].view())["commit_index"]
            applied = {v.get("applied_index") for v in views.values()}
            return applied == {commit} and views

        return wait_until(same, timeout=timeout, what=f"nodes {ids} to converge", describe=self.describe)

    def read_log(self, n: int, topic: str) -> list[tuple[int, str]]:
        """Node n's whole log of ``topic`` from its own applied state, as (offset, value)."""
        node = self.nodes[n].api
        out: list[tuple[int, str]] = []
        offset = 0
        while True:
            r = node.request("GET", f"/v1/topics/{topic}/messages",
                             params={"offset": offset, "limit": 1000}, timeout=(2.0, 30.0))
            if r.status_code == 404:
                return out
            r.raise_for_status()
            page = r.json()
            msgs = page.get("messages", [])
            out.extend((int(m["offset"]), m["value"]) for m in msgs)
            if not msgs or page["next_offset"] >= page["high_watermark"]:
                return out
            offset = page["next_offset"]

    def close(self) -> None:
        for node in self.nodes.values():
            try:
                node.kill()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass

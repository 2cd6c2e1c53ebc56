"""A real Jumpnet cluster of `jumpnet serve` processes on free loopback ports, for tests.

Node 1 bootstraps (empty state dir, no --join); the others start with ``--join`` to node 1's raft address
and become learners, then voters. Start-up waits on conditions — ``/readyz`` of every node and
``GET /v1/cluster`` listing every node as a voter — never on fixed sleeps.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, List, Optional, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[3]
T = TypeVar("T")


class NodeExited(RuntimeError):
    """A node process ended while a test waited on it: no point waiting longer."""


def broker_binary() -> Path:
    """``$JUMPNET_BIN``, else the release musl build, else the debug build (both under the repo's target/)."""
    env = os.environ.get("JUMPNET_BIN")
    if env:
        path = Path(env)
        if not path.is_absolute() and not path.exists():
            path = REPO_ROOT / path  # relative to the repository, when not to the working directory
        path = path.resolve()
        if not os.access(path, os.X_OK):
            raise FileNotFoundError(f"JUMPNET_BIN={env} is not an executable file")
        return path
    candidates = [
        REPO_ROOT / "target/x86_64-unknown-linux-musl/release/jumpnet",
        REPO_ROOT / "target/debug/jumpnet",
    ]
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(
        "no jumpnet binary: build it (cargo build -p jumpnet-broker) or set JUMPNET_BIN; looked at "
        + ", ".join(str(c) for c in candidates)
    )


def free_ports(n: int) -> List[int]:
    """``n`` distinct free loopback ports (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(cond: Callable[[], Optional[T]], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``cond`` until it returns something truthy; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    last_exc: Optional[BaseException] = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except NodeExited:
            raise
        except Exception as e:  # noqa: BLE001 - the condition is probing a starting process
            last_exc = e
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def http_get(port: int, path: str, timeout: float = 2.0, token: Optional[str] = None):
    """(status, parsed JSON or raw text) of a GET on 127.0.0.1:port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(body) if body else None
    except ValueError:
        return resp.status, body.decode("utf-8", "replace")


class Node:
    """One ``jumpnet serve`` process and its state directory."""

    def __init__(self, index: int, binary: Path, root: Path, raft_port: int, api_port: int, extra_args=(), token=None):
        self.index = index
        self.binary = binary
        self.state_dir = root / f"node{index}"
        self.log_path = root / f"node{index}.log"
        self.raft_port = raft_port
        self.api_port = api_port
        self.extra_args = list(extra_args)
        self.token = token  # for the harness's own calls when the node runs with --auth-file
        self.proc: Optional[subprocess.Popen] = None
        self.join: Optional[str] = None

    @property
    def raft_addr(self) -> str:
        return f"127.0.0.1:{self.raft_port}"

    @property
    def api_addr(self) -> str:
        return f"127.0.0.1:{self.api_port}"

    @property
    def url(self) -> str:
        return f"http://{self.api_addr}"

    def args(self) -> List[str]:
        args = [
            str(self.binary),
            "serve",
            "--state-dir",
            str(self.state_dir),
            "--raft",
            self.raft_addr,
            "--api",
            self.api_addr,
        ]
        if self.join:
            args += ["--join", self.join]
        return args + self.extra_args

    def start(self, join: Optional[str] = None) -> "Node":
        if join is not None:
            self.join = join
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        log.write(f"\n=== start: {' '.join(self.args())}\n".encode())
        log.flush()
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        self.proc = subprocess.Popen(
            self.args(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        log.close()
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed or handed over."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait for a graceful exit; SIGKILL after ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def ready(self) -> bool:
        if not self.running:
            raise NodeExited(f"node {self.index} exited with {self.proc.returncode if self.proc else None}")
        try:
            status, _ = http_get(self.api_port, "/readyz", timeout=1.0)
        except OSError:
            return False
        return status == 200

    def cluster_view(self, local: bool = False) -> dict:
        path = "/v1/cluster?local=true" if local else "/v1/cluster"
        status, doc = http_get(self.api_port, path, token=self.token)
        if status != 200:
            raise RuntimeError(f"GET /v1/cluster on node {self.index}: {status} {doc}")
        return doc

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])


class LocalCluster:
    """``size`` nodes on loopback; ``start()`` returns once all are ready voters."""

    def __init__(
        self, root: Path, size: int = 3, binary: Optional[Path] = None, extra_args=(), token: Optional[str] = None
    ):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.binary = binary or broker_binary()
        ports = free_ports(2 * size)
        self.nodes = [
            Node(i + 1, self.binary, self.root, ports[2 * i], ports[2 * i + 1], extra_args, token) for i in range(size)
        ]

    @property
    def urls(self) -> List[str]:
        return [n.url for n in self.nodes]

    def running_nodes(self) -> List[Node]:
        return [n for n in self.nodes if n.running]

    def start(self, timeout: float = 60.0) -> "LocalCluster":
        first = self.nodes[0].start()
        self.wait_ready([first], timeout)
        for node in self.nodes[1:]:
            node.start(join=first.raft_addr)
        self.wait_ready(self.nodes, timeout)
        self.wait_voters(len(self.nodes), timeout)
        return self

    def wait_ready(self, nodes: List[Node], timeout: float = 30.0) -> None:
        for node in nodes:
            self._wait(node.ready, timeout, f"node {node.index} /readyz 200")

    def wait_voters(self, count: int, timeout: float = 30.0) -> dict:
        """Every running node reports the same leader and ``count`` voters."""

        def settled():
            views = [n.cluster_view() for n in self.running_nodes()]
            leaders = {v.get("leader_id") for v in views}
            if len(leaders) != 1 or None in leaders:
                return None
            voters = [m for m in views[0]["members"] if m.get("role") == "voter"]
            return views[0] if len(voters) == count else None

        return self._wait(settled, timeout, f"{count} voters and one agreed leader")

    def node_by_member_id(self, member_id: int) -> Node:
        view = self.running_nodes()[0].cluster_view()
        for m in view["members"]:
            if m["id"] == member_id:
                for n in self.nodes:
                    if m.get("api_addr") == n.api_addr or m.get("raft_addr") == n.raft_addr:
                        return n
        raise KeyError(f"no local node for member {member_id}: {view}")

    def member_id(self, node: Node) -> int:
        """The Raft node id the cluster gave ``node``."""
        view = self.running_nodes()[0].cluster_view()
        for m in view["members"]:
            if m.get("api_addr") == node.api_addr or m.get("raft_addr") == node.raft_addr:
                return m["id"]
        raise KeyError(f"node {node.index} is not a member: {view}")

    def leader(self, timeout: float = 30.0) -> Node:
        """The running node that leads, once every running node names it."""

        def find() -> Optional[Node]:
            views = [n.cluster_view() for n in self.running_nodes()]
            leaders = {v.get("leader_id") for v in views}
            if len(leaders) != 1 or None in leaders:
                return None
            node = self.node_by_member_id(leaders.pop())
            return node if node.running else None

        return self._wait(find, timeout, "a running leader every running node agrees on")

    def followers(self) -> List[Node]:
        leader = self.leader()
        return [n for n in self.running_nodes() if n is not leader]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop(timeout=5)

    def logs(self) -> str:
        return "\n".join(f"--- node {n.index} ({n.log_path}) ---\n{n.log_tail()}" for n in self.nodes)

    def _wait(self, cond: Callable[[], Optional[T]], timeout: float, what: str) -> T:
        try:
            return wait_until(cond, timeout, what)
        except (TimeoutError, RuntimeError) as e:
            raise RuntimeError(f"{e}\n{self.logs()}") from e

"""A private network per test: one network namespace per node plus one for the clients.

```
   client ns  jnf-<run>-c: bridge jnf<run>br 10.77.0.254/24 ──┬── veth ── ns jnf-<run>-n1: eth0 10.77.0.1
   (this test process enters it: every socket it opens is   ├── veth ── ns jnf-<run>-n2: eth0 10.77.0.2
    in there, so clients reach every node)                  └── veth ── ns jnf-<run>-n3: eth0 10.77.0.3
```

Peer links are cut with iptables DROP inside the node namespaces (``INPUT -s PEER``, ``OUTPUT -d
PEER``): connections hang as on a real partition, while the clients at 10.77.0.254 still reach every
node. Nothing is routed outside these namespaces; everything is removed by :meth:`Net.close`, also
after a failure (and ``cleanup_stale`` removes what a killed run left, by this run's prefix only).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import uuid

SUBNET = "10.77.0"
CLIENT_IP = f"{SUBNET}.254"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(list(args), capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def cleanup_stale(prefix: str = "jnf-") -> list[str]:
    """Deletes namespaces named ``prefix...`` (a killed run's leftovers); returns their names."""
    out = sh("ip", "netns", "list", check=False).stdout.split("\n")
    names = [line.split()[0] for line in out if line.startswith(prefix)]
    for n in names:
        sh("ip", "netns", "del", n, check=False)
    return names


def current_netns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


def netns_id(name: str) -> str:
    return f"net:[{os.stat(f'/run/netns/{name}').st_ino}]"


class Net:
    def __init__(self, nodes: int, run: str | None = None):
        self.run = run or uuid.uuid4().hex[:5]
        self.prefix = f"jnf-{self.run}"
        self.client_ns = f"{self.prefix}-c"
        self.bridge = f"jnf{self.run}br"
        self.nodes = list(range(1, nodes + 1))
        self.cuts: set[tuple[int, int]] = set()
        self._made: list[str] = []
        try:
            self._build()
        except Exception:
            self.close()
            raise

    def ns(self, n: int) -> str:
        return f"{self.prefix}-n{n}"

    @staticmethod
    def ip(n: int) -> str:
        return f"{SUBNET}.{n}"

    def _add_ns(self, name: str) -> None:
        sh("ip", "netns", "add", name)
        self._made.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def _build(self) -> None:
        self._add_ns(self.client_ns)
        c = self.client_ns
        sh("ip", "-n", c, "link", "add", self.bridge, "type", "bridge")
        sh("ip", "-n", c, "addr", "add", f"{CLIENT_IP}/24", "dev", self.bridge)
        sh("ip", "-n", c, "link", "set", self.bridge, "up")
        for n in self.nodes:
            self._add_ns(self.ns(n))
            veth = f"jnf{self.run}v{n}"
            sh("ip", "-n", c, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", self.ns(n))
            sh("ip", "-n", c, "link", "set", veth, "master", self.bridge)
            sh("ip", "-n", c, "link", "set", veth, "up")
            sh("ip", "-n", self.ns(n), "addr", "add", f"{self.ip(n)}/24", "dev", "eth0")
            sh("ip", "-n", self.ns(n), "link", "set", "eth0", "up")

    def assert_inside(self) -> None:
        """Refuses to send test traffic from anywhere but the clients' namespace (it would leave
        through the machine's own routes)."""
        here, want = current_netns(), netns_id(self.client_ns)
        if here != want:
            raise RuntimeError(f"test traffic outside the client namespace {self.client_ns} ({here} != {want})")

    def exec_prefix(self, n: int) -> list[str]:
        return ["ip", "netns", "exec", self.ns(n)]

    @contextlib.contextmanager
    def entered(self):
        """Runs the block (and threads it starts) inside the client namespace."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _setns(f"/run/netns/{self.client_ns}")
            yield self
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the test's own namespace")
            os.close(own)

    # -- partitions ------------------------------------------------------------------------
    def cut(self, a: int, b: int) -> None:
        """Drops all traffic between nodes a and b (both directions, both namespaces)."""
        for x, y in ((a, b), (b, a)):
            ipt = self.exec_prefix(x) + ["iptables", "-w"]
            sh(*ipt, "-A", "INPUT", "-s", self.ip(y), "-j", "DROP")
            sh(*ipt, "-A", "OUTPUT", "-d", self.ip(y), "-j", "DROP")
        self.cuts.add((min(a, b), max(a, b)))

    def isolate(self, n: int) -> None:
        for m in self.nodes:
            if m != n:
                self.cut(n, m)

    def split(self, side: list[int]) -> None:
        """Cuts every link between ``side`` and the other nodes."""
        for a in side:
            for b in self.nodes:
                if b not in side:
                    self.cut(a, b)

    def heal(self) -> None:
        for n in self.nodes:
            sh(*self.exec_prefix(n), "iptables", "-w", "-F", check=False)
        self.cuts.clear()

    def close(self) -> None:
        for name in reversed(self._made):
            sh("ip", "netns", "del", name, check=False)
        self._made.clear()

"""A live scenario for the observability checks: a real 3-node cluster, real traffic, a real Prometheus.

The scenario drives the cluster through the states the dashboards are meant to show and records two
instants for queries:

* ``t1`` — healthy and busy: publishes, reads (long-poll, SSE, seed), client errors (400/404/413), a forced
  leader change, and one follower killed so the leader reports peer RPC failures and replication lag;
* ``t2`` — degraded: the leader killed too, the last node cut off (no leader, ``/readyz`` 503) and answering
  publishes with 5xx.

It scrapes every node's ``/metrics`` along the way. Waits are on conditions (HTTP answers, Prometheus query
results), never fixed sleeps.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set

import known_metrics as km

sys.path.insert(0, str(km.REPO / "examples/python/src"))
sys.path.insert(0, str(km.REPO / "examples/python/tests"))

import jumpnet  # noqa: E402
from cluster import LocalCluster, free_ports, http_get, wait_until  # noqa: E402

NAMESPACE = "obs"
CLUSTER = "jn"
RATE_INTERVAL = "10s"

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*')


@dataclass
class Page:
    """One parsed /metrics page."""

    text: str
    types: Dict[str, str] = field(default_factory=dict)
    samples: List[tuple] = field(default_factory=list)  # (name, {labels}, value)

    @classmethod
    def parse(cls, text: str) -> "Page":
        page = cls(text)
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(None, 3)
                page.types[name] = kind.strip()
            elif line and not line.startswith("#"):
                m = _SAMPLE.match(line)
                if not m:
                    raise ValueError(f"unparsable /metrics line: {line!r}")
                labels = dict(_LABEL.findall(m.group(3) or ""))
                page.samples.append((m.group(1), labels, float(m.group(4))))
        return page

    def names(self) -> Set[str]:
        return {s[0] for s in self.samples}

    def labels_of(self, name: str) -> Set[str]:
        return {k for n, labels, _ in self.samples if n == name for k in labels}

    def total(self, name: str, **match) -> float:
        return sum(
            v for n, labels, v in self.samples if n == name and all(labels.get(k) == x for k, x in match.items())
        )


def scrape(node) -> Page:
    status, body = http_get(node.api_port, "/metrics", timeout=5)
    assert status == 200, f"/metrics on node {node.index}: {status}"
    return Page.parse(body if isinstance(body, str) else json.dumps(body))


OPERATOR_NAMESPACE = "jumpnet-system"
OPERATOR_POD = "jumpnet-operator-0"


def operator_binary() -> Optional[Path]:
    """``$JUMPNET_OPERATOR_BIN``, else the release musl build, else the debug build; None when none exists."""
    env = os.environ.get("JUMPNET_OPERATOR_BIN")
    candidates = [Path(env)] if env else []
    candidates += [
        km.REPO / "target/x86_64-unknown-linux-musl/release/jumpnet-operator",
        km.REPO / "target/debug/jumpnet-operator",
    ]
    for path in candidates:
        path = path if path.is_absolute() else km.REPO / path
        if os.access(path, os.X_OK):
            return path
    return None


class Operator:
    """``jumpnet-operator run`` with a kubeconfig whose API server does not answer: it keeps retrying its
    leader election and serves its real /metrics meanwhile, which is all this test needs of it."""

    def __init__(self, root: Path, binary: Path) -> None:
        self.port = free_ports(1)[0]
        self.addr = f"127.0.0.1:{self.port}"
        dead = free_ports(1)[0]
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "none", "cluster": {"server": f"http://127.0.0.1:{dead}"}}],
            "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none", "namespace": "default"}}],
            "current-context": "none",
            "users": [{"name": "none", "user": {}}],
        }
        (root / "kubeconfig").write_text(json.dumps(kubeconfig))
        self.log_path = root / "operator.log"
        log = open(self.log_path, "wb")
        env = dict(os.environ, KUBECONFIG=str(root / "kubeconfig"), POD_NAMESPACE=OPERATOR_NAMESPACE)
        self.proc = subprocess.Popen(
            [str(binary), "run", "--metrics-addr", self.addr], stdout=log, stderr=subprocess.STDOUT, env=env
        )
        log.close()
        wait_until(self._serving, 30, "jumpnet-operator /metrics")

    def _serving(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"jumpnet-operator exited: {self.log_path.read_text()[-2000:]}")
        try:
            return http_get(self.port, "/metrics")[0] == 200
        except OSError:
            return False

    def scrape(self) -> "Page":
        status, body = http_get(self.port, "/metrics", timeout=5)
        assert status == 200
        return Page.parse(body)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Prometheus:
    """A Prometheus server scraping the cluster every second, with jumpnet-rules.yaml loaded."""

    def __init__(self, root: Path, cluster: LocalCluster, operator: Optional[Operator] = None) -> None:
        self.root = root
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        targets = [
            {"targets": [n.api_addr], "labels": {"namespace": NAMESPACE, "pod": f"{CLUSTER}-{n.index - 1}"}}
            for n in cluster.nodes
        ]
        if operator is not None:
            targets.append(
                {"targets": [operator.addr], "labels": {"namespace": OPERATOR_NAMESPACE, "pod": OPERATOR_POD}}
            )
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
            "rule_files": [str(km.REPO / "deploy/prometheus/jumpnet-rules.yaml")],
            "scrape_configs": [{"job_name": "jumpnet", "static_configs": targets}],
        }
        (root / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.log = open(root / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._ready, 60, "Prometheus /-/ready")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"prometheus exited: {(self.root / 'prometheus.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def api(self, path: str, **params) -> dict:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:  # 400/422: a bad query; the body says why
            return json.loads(e.read())

    def query(self, expr: str, at: Optional[float] = None) -> dict:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self.api("query", **params)

    def has(self, expr: str) -> bool:
        doc = self.query(expr)
        return doc.get("status") == "success" and bool(doc["data"]["result"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@dataclass
class Scenario:
    cluster: LocalCluster
    prometheus: Prometheus
    pages: Dict[str, Page]  # "<when> node<i>" -> page
    operator: Optional[Operator] = None
    operator_page: Optional[Page] = None
    t0: float = 0.0
    t1: float = 0.0
    t2: float = 0.0
    published_before: float = 0.0
    published_after: float = 0.0
    published_count: int = 0
    leader_changes_before: float = 0.0
    leader_changes_after: float = 0.0
    isolated_readyz: Optional[int] = None
    degraded_errors: List[str] = field(default_factory=list)

    def all_pages(self) -> List[Page]:
        return list(self.pages.values())

    def exported_names(self) -> Set[str]:
        """Series names the brokers exported (and the operator, when it ran)."""
        names = set().union(*(p.names() for p in self.all_pages()))
        return names | (self.operator_page.names() if self.operator_page else set())

    def exported_types(self) -> Dict[str, str]:
        out: Dict[str, str] = {}
        for p in self.all_pages():
            out.update(p.types)
        return out

    def labels_of(self, name: str) -> Set[str]:
        pages = self.all_pages() + ([self.operator_page] if self.operator_page else [])
        return set().union(*(p.labels_of(name) for p in pages))

    def stop(self) -> None:
        self.prometheus.stop()
        if self.operator is not None:
            self.operator.stop()
        self.cluster.stop()


def _post(node, path: str, body: dict, timeout: float = 30.0):
    conn = http.client.HTTPConnection("127.0.0.1", node.api_port, timeout=timeout)
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _traffic(client: jumpnet.Client, topic: str, n: int) -> int:
    """Publishes and reads of every kind the dashboards count; returns how many messages it published."""
    producer = jumpnet.Producer(client=client)
    published = 0
    for i in range(n):
        published += len(producer.send_batch(topic, [f"m{i}-a", f"m{i}-b"]).offsets)
    client.put(topic, "seed")
    published += 1
    consumer = jumpnet.Consumer(topic, client=client, name="obs-reader", offset="earliest")
    consumer.read_all()
    consumer.commit()
    client.history(topic)
    client.latest(topic, consumer="obs-seed")
    for _ in itertools.islice(client.stream(topic, 0, duration=5), 3):
        pass
    # Client errors: 404, 400, 413.
    for call in (
        lambda: client.fetch("no-such-topic-obs", 0),
        lambda: client.transport.request("POST", f"/v1/topics/{topic}/messages", body={"messages": "x"}),
        lambda: client.publish(topic, ["x" * (1024 * 1024 + 10)]),
    ):
        try:
            call()
        except jumpnet.JumpnetError:
            pass
    return published


def run(root: Path) -> Scenario:
    cluster = LocalCluster(root / "cluster", size=3)
    cluster.start()
    prom = None
    operator = None
    try:
        op_bin = operator_binary()
        operator = Operator(root, op_bin) if op_bin else None
        prom = Prometheus(root, cluster, operator)
        sc = Scenario(cluster, prom, {}, operator)
        targets = 3 + (1 if operator else 0)
        wait_until(lambda: prom.has(f"count(up == 1) == {targets}"), 60, f"Prometheus scraping all {targets} targets")
        sc.t0 = time.time()
        if operator:
            sc.operator_page = operator.scrape()

        client = jumpnet.Client(cluster.urls, timeout=5, retry_timeout=30)
        for n in cluster.nodes:
            sc.pages[f"start node{n.index}"] = scrape(n)
        sc.published_before = sum(p.total("jumpnet_messages_published_total") for p in sc.all_pages())
        sc.published_count = _traffic(client, "obs", 10)
        for n in cluster.nodes:
            sc.pages[f"traffic node{n.index}"] = scrape(n)
        sc.published_after = sum(
            sc.pages[f"traffic node{n.index}"].total("jumpnet_messages_published_total") for n in cluster.nodes
        )

        # A forced leader change, seen by every node.
        leader = cluster.leader()
        sc.leader_changes_before = min(
            sc.pages[f"traffic node{n.index}"].total("jumpnet_raft_leader_changes_total") for n in cluster.nodes
        )
        target = next(n for n in cluster.nodes if n is not leader)
        status, body = _post(leader, "/v1/cluster/transfer-leader", {"to": cluster.member_id(target)})
        assert status == 200, f"transfer-leader: {status} {body!r}"
        assert cluster.leader() is target

        def changes_seen():
            pages = [scrape(n) for n in cluster.nodes]
            low = min(p.total("jumpnet_raft_leader_changes_total") for p in pages)
            return low if low > sc.leader_changes_before else None

        sc.leader_changes_after = wait_until(changes_seen, 30, "every node counting the leader change")

        # Kill a follower: the leader reports RPC failures and lag for it.
        leader = cluster.leader()
        victim = next(n for n in cluster.nodes if n is not leader)
        sc.pages[f"before-kill node{victim.index}"] = scrape(victim)
        victim.kill()
        wait_until(
            lambda: scrape(leader).total("jumpnet_raft_peer_rpc_failures_total") > 0,
            60,
            "peer RPC failures on the leader after a follower died",
        )
        _traffic(client, "obs", 5)
        sc.pages[f"degraded node{leader.index}"] = scrape(leader)
        wait_until(
            lambda: (
                prom.has(f"sum(increase(jumpnet_messages_published_total[{RATE_INTERVAL}])) > 0")
                and prom.has("jumpnet_raft_peer_rpc_failures_total")
            ),
            60,
            "Prometheus to see the traffic and the RPC failures",
        )
        sc.t1 = time.time()

        # Kill the leader too: the last node is cut off from any leader.
        survivor = next(n for n in cluster.running_nodes() if n is not leader)
        leader.kill()

        def isolated():
            status, _ = http_get(survivor.api_port, "/readyz")
            return status if status == 503 else None

        try:
            sc.isolated_readyz = wait_until(isolated, 60, "/readyz 503 on the node cut off from the leader")
        except TimeoutError:
            sc.isolated_readyz = http_get(survivor.api_port, "/readyz")[0]
        lonely = jumpnet.Client(survivor.url, timeout=20, retry_timeout=0)
        for i in range(3):
            try:
                lonely.publish("obs", [f"lost-{i}"])
            except jumpnet.JumpnetError as e:
                sc.degraded_errors.append(f"{type(e).__name__}: {e}")
        sc.pages[f"isolated node{survivor.index}"] = scrape(survivor)
        wait_until(
            lambda: prom.has(f'sum(increase(jumpnet_http_requests_total{{code=~"5.."}}[{RATE_INTERVAL}])) > 0'),
            60,
            "Prometheus to see the 5xx answers",
        )
        sc.t2 = time.time()
        return sc
    except BaseException:
        if prom is not None:
            prom.stop()
        if operator is not None:
            operator.stop()
        cluster.stop()
        raise

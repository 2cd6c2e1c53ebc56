"""Kafka clients nobody here wrote (kcat/librdkafka, confluent-kafka, kafka-python, KafkaJS) against
Jumpnet's Kafka listener.

`start_server()` is the one place that decides what the clients talk to: a 3-node jumpnet cluster
(the release binary, `--kafka 127.0.0.1:<port>` on every node, `--auth-file` when asked), whose
bootstrap list names every node. `JUMPNET_KAFKA_SERVER` may instead name a one-process server
command that prints `KAFKA_LISTENING HOST:PORT` and takes `--listen ADDR [--auth-file F]` — e.g. the
listener over its in-memory backend, `target/x86_64-unknown-linux-musl/release/examples/kafka-memory-server`
(tests that kill nodes skip there).
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import urllib.request
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))

from jntest.wait import GiveUp, wait_until  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
JUMPNET = os.environ.get("JUMPNET_BIN", os.path.join(ROOT, "target/x86_64-unknown-linux-musl/release/jumpnet"))
OTHER_SERVER = os.environ.get("JUMPNET_KAFKA_SERVER")
NODE_MODULES = os.environ.get("JUMPNET_KAFKA_NODE_MODULES", os.path.join(ROOT, "target/kafka-node/node_modules"))
# Generous: the machine is shared with compiles; every wait ends as soon as its condition holds.
PATIENCE = 90.0

TOKEN = "kafka-test-token"
READ_ONLY_TOKEN = "kafka-reader-token"
CLUSTER_SECRET = "kafka-test-cluster-secret"
NODES = 3


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Pki:
    """A throwaway CA and a certificate for 127.0.0.1/localhost signed by it (openssl). With `client_certs`
    the nodes also require client certificates from that CA (`--tls-client-ca`), and a client certificate
    (`client_cert`, `client_key`) is made for the clients."""

    def __init__(self, root: str, client_certs: bool = False):
        os.makedirs(root, exist_ok=True)
        self.ca, self.cert, self.key = (os.path.join(root, n) for n in ("ca.pem", "cert.pem", "key.pem"))
        ca_key, csr, ext = (os.path.join(root, n) for n in ("ca-key.pem", "cert.csr", "ext.cnf"))
        self.client_ca = self.ca if client_certs else None
        self.client_cert, self.client_key = (os.path.join(root, n) for n in ("client.pem", "client-key.pem"))

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key,
                "-out", self.ca, "-days", "2", "-subj", "/CN=jumpnet kafka test CA")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key,
                "-out", csr, "-subj", "/CN=localhost")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-CAcreateserial", "-out", self.cert,
                "-days", "2", "-extfile", ext)
        if client_certs:
            openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    self.client_key, "-out", csr, "-subj", "/CN=kafka test client")
            with open(ext, "w") as f:
                f.write("extendedKeyUsage=clientAuth\n")
            openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-CAcreateserial", "-out",
                    self.client_cert, "-days", "2", "-extfile", ext)

    def context(self) -> ssl.SSLContext:
        """What the tests' own HTTPS calls use: trusting the CA, presenting the client certificate if asked."""
        ctx = ssl.create_default_context(cafile=self.ca)
        if self.client_ca:
            ctx.load_cert_chain(self.client_cert, self.client_key)
        return ctx


class Node:
    """One `jumpnet serve` process of the test cluster."""

    def __init__(self, index: int, root: str, ports: tuple[int, int, int], auth_file: str | None, token: str | None,
                 tls: Pki | None = None):
        self.index = index
        self.tls = tls
        self.raft_port, self.api_port, self.kafka_port = ports
        self.state_dir = os.path.join(root, f"node{index}")
        self.log_path = os.path.join(root, f"node{index}.log")
        self.auth_file = auth_file
        self.token = token
        self.join: str | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def args(self) -> list[str]:
        args = [JUMPNET, "serve", "--state-dir", self.state_dir, "--raft", f"127.0.0.1:{self.raft_port}",
                "--api", f"127.0.0.1:{self.api_port}", "--kafka", self.kafka, "--log-format", "text"]
        if self.join:
            args += ["--join", self.join]
        if self.auth_file:
            args += ["--auth-file", self.auth_file, "--cluster-secret", CLUSTER_SECRET]
        if self.tls:
            args += ["--tls-cert", self.tls.cert, "--tls-key", self.tls.key]
            if self.tls.client_ca:
                args += ["--tls-client-ca", self.tls.client_ca]
        return args

    def _open(self, path: str, timeout: float, token: str | None = None):
        scheme = "https" if self.tls else "http"
        req = urllib.request.Request(f"{scheme}://127.0.0.1:{self.api_port}{path}")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        ctx = self.tls.context() if self.tls else None
        return urllib.request.urlopen(req, timeout=timeout, context=ctx)

    def start(self) -> None:
        env = dict(os.environ, RUST_LOG="jumpnet_broker=info,jumpnet_broker::kafka::conn=trace")
        self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log_path, "a"), env=env)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """`kill -9`: no hand-over, no flush."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.running():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def get(self, path: str):
        with self._open(path, 3, self.token) as r:
            return json.loads(r.read() or b"null")

    def ready(self) -> bool:
        if not self.running():
            raise GiveUp(f"node {self.index} exited: {self.log_tail()}")
        try:
            with self._open("/readyz", 2) as r:
                return r.status == 200
        except OSError:
            return False

    def log_tail(self, n: int = 30) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Server:
    """A running Kafka endpoint: `bootstrap` is what clients get; `stop()` ends it. `nodes` is empty
    for a one-process `JUMPNET_KAFKA_SERVER`."""

    def __init__(self, bootstrap: str, log_paths: list[str], nodes: list[Node] | None = None,
                 proc: subprocess.Popen | None = None):
        self.bootstrap = bootstrap
        self.log_paths = log_paths
        self.nodes = nodes or []
        self.proc = proc

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self) -> bool:
        """Every process of the endpoint still runs."""
        if self.proc is not None:
            return self.proc.poll() is None
        return all(n.running() for n in self.nodes)

    def view(self) -> dict:
        """/v1/cluster from any running node."""
        for n in self.nodes:
            if n.running():
                try:
                    return n.get("/v1/cluster")
                except OSError:
                    continue
        raise AssertionError("no node answers /v1/cluster")

    def leader(self) -> Node:
        """The node that leads now (waits until one does)."""
        def find():
            lid = self.view().get("leader_id")
            for n in self.nodes:
                if n.running() and n.get("/v1/cluster?local=true").get("node_id") == lid:
                    return n
            return None
        return wait_until(find, timeout=PATIENCE, what="a leader")

    def node_id(self, node: Node) -> int:
        return node.get("/v1/cluster?local=true")["node_id"]

    def negotiated(self) -> dict[str, dict[str, int]]:
        """client id -> API -> highest version it used (from the listeners' request traces)."""
        seen: dict[str, dict[str, int]] = collections.defaultdict(dict)
        for path in self.log_paths:
            try:
                text = open(path, errors="replace").read()
            except OSError:
                continue
            for m in re.finditer(r'api="(\w+)" version=(\d+) client="([^"]*)"', text):
                api, v, client = m.group(1), int(m.group(2)), m.group(3)
                seen[client][api] = max(v, seen[client].get(api, -1))
        return seen


def start_server(tmp_dir: str, auth_file: str | None = None, tls: Pki | None = None) -> Server:
    """Starts what the Kafka clients talk to and returns it once it accepts connections; with `tls`,
    the nodes serve the API and Kafka over TLS with its certificate."""
    if OTHER_SERVER:
        return _start_other(tmp_dir, auth_file)
    if not os.path.exists(JUMPNET):
        pytest.fail(f"{JUMPNET} is missing: cargo build --release --locked --target x86_64-unknown-linux-musl "
                    "-p jumpnet-broker --bins (scripts/test.sh build does)")
    os.makedirs(tmp_dir, exist_ok=True)
    ports = free_ports(3 * NODES)
    token = TOKEN if auth_file else None
    nodes = [Node(i + 1, tmp_dir, tuple(ports[3 * i:3 * i + 3]), auth_file, token, tls) for i in range(NODES)]
    server = Server(",".join(n.kafka for n in nodes), [n.log_path for n in nodes], nodes)
    try:
        # Node 1 bootstraps; the others join it, one at a time (ids 1, 2, 3).
        first = nodes[0]
        first.start()
        wait_until(first.ready, timeout=PATIENCE, what="node 1 ready", describe=first.log_tail)
        for n in nodes[1:]:
            n.join = f"127.0.0.1:{first.raft_port}"
            n.start()
            wait_until(n.ready, timeout=PATIENCE, what=f"node {n.index} ready", describe=n.log_tail)

        def settled():
            members = server.view()["members"]
            return len([m for m in members if m["role"] == "voter"]) == NODES
        wait_until(settled, timeout=PATIENCE, what=f"{NODES} voters", describe=lambda: str(server.view()))
        for n in nodes:
            wait_until(n.ready, timeout=PATIENCE, what=f"node {n.index} ready", describe=n.log_tail)
    except BaseException:
        server.stop()
        raise
    return server


def _start_other(tmp_dir: str, auth_file: str | None) -> Server:
    log_path = os.path.join(tmp_dir, "server.log")
    args = [OTHER_SERVER, "--listen", "127.0.0.1:0"]
    if auth_file:
        args += ["--auth-file", auth_file]
    env = dict(os.environ, RUST_LOG="jumpnet_broker=info,jumpnet_broker::kafka::conn=trace")
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(log_path, "w"),
                            text=True, env=env)
    line = proc.stdout.readline()
    m = re.match(r"KAFKA_LISTENING (\S+)", line)
    if not m:
        proc.kill()
        pytest.fail(f"kafka server did not start: {line!r}; log: {open(log_path).read()[-2000:]}")
    return Server(m.group(1), [log_path], proc=proc)


STARTED: list[Server] = []


def pytest_sessionfinish(session, exitstatus):
    """Writes the versions every client negotiated (from every server of the run)."""
    merged: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for server in STARTED:
        for client, apis in server.negotiated().items():
            for api, v in apis.items():
                merged[client][api] = max(v, merged[client].get(api, -1))
    if merged:
        with open(os.path.join(ROOT, "target", "kafka-negotiated-versions.txt"), "w") as f:
            for client, apis in sorted(merged.items()):
                f.write(f"{client}: " + ", ".join(f"{a} v{v}" for a, v in sorted(apis.items())) + "\n")


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    server = start_server(str(tmp_path_factory.mktemp("kafka")))
    STARTED.append(server)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kafka_auth(tmp_path_factory):
    d = tmp_path_factory.mktemp("kafka-auth")
    auth = d / "tokens"
    auth.write_text(f"{TOKEN} app publish,consume,admin\n{READ_ONLY_TOKEN} reader consume\n")
    server = start_server(str(d), str(auth))
    STARTED.append(server)
    yield server
    server.stop()


@pytest.fixture
def topic_name():
    return f"t-{uuid.uuid4().hex[:10]}"


def create_topic(bootstrap: str, name: str, partitions: int = 1, **conf) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, **conf})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=-1)])
    futures[name].result(timeout=PATIENCE)


class Lines:
    """Collects a child process's stdout lines on a thread, for waiting on what it printed."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def snapshot(self) -> list[str]:
        with self.lock:
            return list(self.lines)


__all__ = ["PATIENCE", "TOKEN", "READ_ONLY_TOKEN", "NODE_MODULES", "create_topic", "wait_until", "Lines", "Pki", "start_server"]

"""Kafka clients nobody here wrote (kcat/librdkafka, confluent-kafka, kafka-python, KafkaJS) against
Jumpnet's Kafka listener.

`start_server()` is the one place that decides what the clients talk to. Today it runs the listener
over the in-memory backend (`kafka-memory-server`, built from tests/kafka/memory_server.rs); once
partitions land in the broker it starts a 3-node jumpnet cluster with `--kafka` instead, and every
test below runs unchanged against it. `JUMPNET_KAFKA_SERVER` may also name another server command
that prints `KAFKA_LISTENING HOST:PORT` (same flags).
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import threading
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))

from jntest.wait import wait_until  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MEMORY_SERVER = os.environ.get(
    "JUMPNET_KAFKA_SERVER",
    os.path.join(ROOT, "target/x86_64-unknown-linux-musl/release/examples/kafka-memory-server"),
)
NODE_MODULES = os.environ.get("JUMPNET_KAFKA_NODE_MODULES", os.path.join(ROOT, "target/kafka-node/node_modules"))
# Generous: the machine is shared with compiles; every wait ends as soon as its condition holds.
PATIENCE = 90.0

TOKEN = "kafka-test-token"
READ_ONLY_TOKEN = "kafka-reader-token"


class Server:
    """A running Kafka endpoint: `bootstrap` is what clients get; `stop()` ends it."""

    def __init__(self, proc: subprocess.Popen, bootstrap: str, log_path: str):
        self.proc = proc
        self.bootstrap = bootstrap
        self.log_path = log_path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def negotiated(self) -> dict[str, dict[str, int]]:
        """client id -> API -> highest version it used (from the listener's request trace)."""
        seen: dict[str, dict[str, int]] = collections.defaultdict(dict)
        with open(self.log_path, errors="replace") as f:
            for m in re.finditer(r'api="(\w+)" version=(\d+) client="([^"]*)"', f.read()):
                api, v, client = m.group(1), int(m.group(2)), m.group(3)
                seen[client][api] = max(v, seen[client].get(api, -1))
        return seen


def start_server(tmp_dir: str, auth_file: str | None = None) -> Server:
    """Starts what the Kafka clients talk to and returns it once it accepts connections."""
    if not os.path.exists(MEMORY_SERVER):
        pytest.fail(f"{MEMORY_SERVER} is missing: cargo build --release --target x86_64-unknown-linux-musl "
                    "-p jumpnet-broker --example kafka-memory-server (scripts/test.sh build does)")
    log_path = os.path.join(tmp_dir, "server.log")
    args = [MEMORY_SERVER, "--listen", "127.0.0.1:0"]
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
    return Server(proc, m.group(1), log_path)


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


__all__ = ["PATIENCE", "TOKEN", "READ_ONLY_TOKEN", "NODE_MODULES", "create_topic", "wait_until", "Lines"]

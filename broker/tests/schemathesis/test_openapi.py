"""schemathesis against live clusters of the real `jumpnet` binary: every operation of
/openapi.json is called with generated requests (examples, boundary values, fuzzing, and stateful
sequences), and every answer must be documented — its status, content type, headers and body
schema — and never a 5xx the document does not declare.

Two clusters, so that fuzzing the membership admin calls cannot take the data cluster's quorum
away: the data, read and health operations run against a follower-or-leader of a 3-node cluster
(writes are forwarded), the admin operations (`/v1/cluster/init`, `/members`, `/transfer-leader`)
against a 1-node cluster, where removing the last voter is refused and added learners are never
voters. A fixed seed keeps the run reproducible; `--max-time` bounds it.
"""

import os
import pathlib
import re
import subprocess
import sys
import time

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[3]
BIN = os.environ.get("JUMPNET_BIN") or str(
    ROOT / "target/x86_64-unknown-linux-musl/release/jumpnet"
)
ST = str(pathlib.Path(sys.executable).parent / "st")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)
ADMIN = r"^/v1/cluster/(init|members|transfer-leader)"
SEED = "20240612"
# Per run; the two runs together stay within a couple of minutes.
MAX_SECONDS = 45
READY_WITHIN = 60


class Node:
    """A `jumpnet` process on ports the OS picked (read back from its `listening` log line)."""

    def __init__(self, tmp: pathlib.Path, n: int, join: str | None):
        self.log = tmp / f"node{n}.log"
        args = [BIN, f"-state_dir={tmp / f'node{n}'}", "-raft", ":0", "-api", ":0", "--election-timeout-ms", "1000"]
        if join:
            args += ["-join", join]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"), env={**os.environ, "RUST_LOG": "info"}
        )
        deadline = time.monotonic() + READY_WITHIN
        while True:
            m = re.search(r"listening raft=(\S+) api=(\S+)", self.log.read_text())
            if m:
                self.raft, self.api = m.group(1), f"http://{m.group(2)}"
                break
            assert self.proc.poll() is None and time.monotonic() < deadline, self.log.read_text()[-2000:]
            time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_cluster(tmp: pathlib.Path, size: int) -> list[Node]:
    nodes = [Node(tmp, 0, None)]
    nodes += [Node(tmp, i, nodes[0].raft) for i in range(1, size)]
    deadline = time.monotonic() + READY_WITHIN
    while True:
        try:
            if all(requests.get(f"{n.api}/readyz", timeout=2).status_code == 200 for n in nodes):
                view = requests.get(f"{nodes[0].api}/v1/cluster?local=true", timeout=2).json()
                if sum(m["role"] == "voter" for m in view["members"]) == size:
                    return nodes
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "the cluster did not form:\n" + "\n".join(
            n.log.read_text()[-1500:] for n in nodes
        )
        time.sleep(0.1)


@pytest.fixture
def cluster(tmp_path):
    started: list[Node] = []

    def start(size):
        nodes = start_cluster(tmp_path, size)
        started.extend(nodes)
        return nodes

    yield start
    for n in started:
        n.stop()


def schemathesis(api: str, workdir: pathlib.Path, *selection: str) -> None:
    cmd = [
        ST, "run", f"{api}/openapi.json", "--checks", CHECKS, "--seed", SEED,
        "--max-examples", "30", "--max-time", str(MAX_SECONDS), "--workers", "1",
        "--request-timeout", "30", "--no-color", *selection,
    ]
    # In the test's own directory: schemathesis keeps reports and a cache under ./.schemathesis.
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=MAX_SECONDS * 4, cwd=workdir)
    print(out.stdout[-5000:])
    assert out.returncode == 0, f"schemathesis found problems:\n{out.stdout[-20000:]}\n{out.stderr[-3000:]}"
    # It ran: every selected operation was tested.
    tested = re.search(r"Tested: (\d+)", out.stdout)
    assert tested and int(tested.group(1)) > 0, out.stdout[-3000:]


def test_data_read_and_health_operations_answer_only_what_the_document_declares(cluster, tmp_path):
    nodes = cluster(3)
    schemathesis(nodes[1].api, tmp_path, "--exclude-path-regex", ADMIN)


def test_admin_operations_answer_only_what_the_document_declares(cluster, tmp_path):
    nodes = cluster(1)
    schemathesis(nodes[0].api, tmp_path, "--include-path-regex", ADMIN)

"""The examples run as written: the producer/consumer pair and every curl call of examples/curl.md.

curl.md is written for `jumpnet dev` (APIs on 9090-9092); here its node addresses are mapped onto the test
cluster's ports, each command runs as a shell command, and every expected answer shown in the document as
JSON (lines starting with ``# {`` or ``# [`` without ``...``) must match what the cluster answers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

from cluster import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"
PY = EXAMPLES / "python"


def curl_commands(doc: Path) -> List[Tuple[str, List[str]]]:
    """(command, expected output lines) for every curl command in the document's ```sh blocks."""
    out: List[Tuple[str, List[str]]] = []
    in_block = False
    pending = ""
    for line in doc.read_text().splitlines():
        if line.startswith("```"):
            in_block = line.strip() == "```sh" and not in_block
            continue
        if not in_block:
            continue
        if pending:
            pending += " " + line.strip()
        elif line.startswith("curl "):
            pending = line.strip()
        elif line.startswith("# ") and out:
            out[-1][1].append(line[2:])
            continue
        else:
            continue
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        out.append((pending, []))
        pending = ""
    return out


def _matches(expected, actual) -> bool:
    """Expected JSON shown in the doc: objects may leave keys out; everything shown must be equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(map(_matches, expected, actual))
    return expected == actual


def test_curl_session_runs_as_written(cluster):
    ports = {str(9090 + i): str(n.api_port) for i, n in enumerate(cluster.nodes)}
    commands = curl_commands(EXAMPLES / "curl.md")
    assert len(commands) >= 20, "curl.md lost its commands?"
    for command, expected in commands:
        mapped = re.sub(r"localhost:(909[0-2])", lambda m: f"127.0.0.1:{ports[m.group(1)]}", command)
        expect_error = any(e.startswith("HTTP/1.1 4") for e in expected)
        if "|" in mapped:
            shell = "set -o pipefail; " + mapped.replace("curl ", "curl -sS ", 1)
        else:
            shell = mapped + " -sS -w '\\n%{http_code}'"
        proc = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=30)
        streaming = "--max-time" in command
        assert proc.returncode == (28 if streaming else 0), f"{command}\nexit {proc.returncode}: {proc.stderr}"
        body = proc.stdout
        if "|" not in mapped and not streaming:
            body, _, status = body.rpartition("\n")
            assert status.startswith("4") if expect_error else status.startswith("2"), (
                f"{command}\nanswered {status}: {body}"
            )
        for line in expected:
            if "..." in line or line[:1].isspace():  # abbreviated, or the rest of a wrapped answer
                continue
            if line[:1] in "{[":
                got = json.loads(body.strip().splitlines()[-1])
                assert _matches(json.loads(line), got), f"{command}\nexpected {line}\ngot      {body}"
            else:
                assert line in body, f"{command}\nexpected the line {line!r} in:\n{body}"


def _run(args, **kw):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=60, **kw)


def test_python_producer_and_consumer_examples_talk_through_the_cluster(cluster, topic):
    servers = ",".join(cluster.urls)
    prod = _run([PY / "producer.py", topic, "one", "two", "--servers", servers])
    assert prod.returncode == 0, prod.stderr
    assert [line.split("\t")[1] for line in prod.stdout.splitlines()] == ["one", "two"]

    piped = _run([PY / "producer.py", topic, "--batch", "2", "--servers", servers], input="three\nfour\nfive\n")
    assert piped.returncode == 0, piped.stderr

    cons = _run([PY / "consumer.py", topic, "--from-beginning", "--servers", servers])
    assert cons.returncode == 0, cons.stderr
    assert [line.split("\t")[1] for line in cons.stdout.splitlines()] == ["one", "two", "three", "four", "five"]

    named = _run([PY / "consumer.py", topic, "--name", "example", "--output", "json", "--servers", servers])
    assert [json.loads(x)["value"] for x in named.stdout.splitlines()] == ["one", "two", "three", "four", "five"]
    again = _run([PY / "consumer.py", topic, "--name", "example", "--servers", servers])
    assert again.returncode == 0 and again.stdout == ""


def test_python_consumer_follow_prints_messages_published_later(cluster, topic):
    servers = ",".join(cluster.urls)
    follower = subprocess.Popen(
        [sys.executable, str(PY / "consumer.py"), topic, "--follow", "--from-beginning", "--servers", servers],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _run([PY / "producer.py", topic, "first", "--servers", servers]).returncode == 0
        assert follower.stdout.readline().rstrip("\n").split("\t")[1] == "first"
        assert _run([PY / "producer.py", topic, "later", "--servers", servers]).returncode == 0
        assert follower.stdout.readline().rstrip("\n").split("\t")[1] == "later"
    finally:
        follower.terminate()
        follower.wait(timeout=10)


def test_examples_work_without_installing_the_package(cluster, topic):
    """`python3 examples/python/producer.py` in a bare checkout falls back to the package's src/ directory."""
    servers = ",".join(cluster.urls)
    # -S: no site-packages, so an installed jumpnet is invisible.
    proc = subprocess.run(
        ["python3", "-S", str(PY / "producer.py"), topic, "bare", "--servers", servers],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\t")[1].strip() == "bare"

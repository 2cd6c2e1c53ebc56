"""KafkaJS 2.2 (a pure JavaScript implementation): codecs it ships (none, gzip, and snappy through
kafkajs-snappy), a consumer group, admin calls, transactions refused, SASL/PLAIN."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from conftest import NODE_MODULES, PATIENCE, TOKEN

SCENARIOS = os.path.join(os.path.dirname(__file__), "js", "scenarios.js")


def run(scenario: str, bootstrap: str, *args: str) -> dict:
    if not shutil.which("node"):
        pytest.fail("node is not installed")
    if not os.path.isdir(os.path.join(NODE_MODULES, "kafkajs")):
        pytest.fail(f"kafkajs is not in {NODE_MODULES}: run scripts/install-deps.sh")
    env = dict(os.environ, NODE_PATH=NODE_MODULES)
    r = subprocess.run(["node", SCENARIOS, scenario, bootstrap, *args], capture_output=True, text=True,
                       timeout=PATIENCE * 2, env=env)
    assert r.returncode == 0, f"kafkajs {scenario} failed:\n{r.stdout}\n{r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("codec", ["None", "GZIP", "Snappy"])
def test_produce_consume_round_trip(kafka, topic_name, codec):
    got = run("roundtrip", kafka.bootstrap, topic_name, codec)["got"]
    assert sorted((m["key"], m["value"]) for m in got) == sorted((f"k{i}", f"v{i}-" * 10) for i in range(100))
    assert all(m["headers"] == {"h": "js"} for m in got)
    for p in (0, 1):
        assert sorted(m["offset"] for m in got if m["partition"] == p) == list(range(50))


def test_consumer_group_shares_and_commits(kafka, topic_name):
    r = run("group", kafka.bootstrap, topic_name)
    assert r["seen"] == 200
    assert r["offsets"] == [50, 50, 50, 50], r
    assert f"g-{topic_name}" in r["groups"]


def test_admin_calls(kafka, topic_name):
    r = run("admin", kafka.bootstrap, topic_name)
    brokers = r.pop("brokers")
    assert brokers >= 1
    assert r == {"created": True, "again": False, "partitions": 3, "retention": "120000", "offsets": 3, "deleted": True}


def test_transactions_are_refused(kafka):
    r = run("transaction", kafka.bootstrap)
    assert r["refused"] is True, r
    assert r["type"] == "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", r


def test_sasl_plain(kafka_auth, topic_name):
    assert run("sasl", kafka_auth.bootstrap, topic_name, TOKEN) == {"ok": True, "value": "authed"}
    refused = run("sasl", kafka_auth.bootstrap, topic_name, "wrong-token")
    assert refused["ok"] is False and "SASL" in refused["type"].upper(), refused

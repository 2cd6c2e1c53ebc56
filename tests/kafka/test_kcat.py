"""kcat (librdkafka 2.x from Debian): metadata, and produce/consume round trips in every codec."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import PATIENCE, create_topic

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def kcat(*args: str, input: str | None = None) -> str:
    if not shutil.which("kcat"):
        pytest.fail("kcat is not installed: run scripts/install-deps.sh")
    r = subprocess.run(["kcat", *args], input=input, capture_output=True, text=True, timeout=PATIENCE)
    assert r.returncode == 0, f"kcat {' '.join(args)} failed: {r.stderr}"
    return r.stdout


def test_metadata_lists_brokers_and_topics(kafka, topic_name):
    create_topic(kafka.bootstrap, topic_name, partitions=3)
    md = json.loads(kcat("-b", kafka.bootstrap, "-L", "-J", "-t", topic_name))
    names = {b["name"] for b in md["brokers"]}
    assert set(kafka.bootstrap.split(",")) <= names, md["brokers"]
    [t] = md["topics"]
    assert t["topic"] == topic_name
    assert sorted(p["partition"] for p in t["partitions"]) == [0, 1, 2]
    assert all(p["leader"] == md["controllerid"] for p in t["partitions"])


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_round_trip(kafka, topic_name, codec):
    create_topic(kafka.bootstrap, topic_name)
    lines = [f"key{i}:value {i} {codec}" for i in range(50)]
    kcat("-b", kafka.bootstrap, "-P", "-t", topic_name, "-K:", "-z", codec, "-H", "origin=kcat",
         input="\n".join(lines) + "\n")
    out = kcat("-b", kafka.bootstrap, "-C", "-t", topic_name, "-o", "beginning", "-e", "-f", "%k|%s|%h|%o\n")
    got = [line.split("|") for line in out.splitlines()]
    assert [(k, v) for k, v, _, _ in got] == [tuple(line.split(":", 1)) for line in lines]
    assert all(h == "origin=kcat" for _, _, h, _ in got)
    assert [int(o) for *_, o in got] == list(range(50))


def test_producing_to_a_new_topic_creates_it(kafka, topic_name):
    kcat("-b", kafka.bootstrap, "-P", "-t", topic_name, input="first\n")
    out = kcat("-b", kafka.bootstrap, "-C", "-t", topic_name, "-o", "beginning", "-e", "-f", "%s\n")
    assert out.splitlines() == ["first"]

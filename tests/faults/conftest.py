"""Fixtures for the fault campaign: private networks, output directories, the results table.

Needs root (network namespaces, iptables, mounts, FUSE): ``tests/faults/run.sh`` or
``scripts/test.sh faults`` run it so. Everything made here is named ``jnf-...`` and removed
afterwards, also when a test fails.
"""

from __future__ import annotations

import os
import re
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)

from faultlib import results  # noqa: E402
from faultlib.netns import Net, cleanup_stale  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT = os.environ.get("JNF_OUT", os.path.join(ROOT, "target", "faults"))
SOAK = os.environ.get("JNF_SOAK") == "1"


def pytest_configure(config):
    if os.geteuid() != 0:
        raise pytest.UsageError("the fault campaign needs root (netns, iptables, mounts, FUSE)")


@pytest.fixture(scope="session", autouse=True)
def _no_leftovers():
    cleanup_stale("jnf-")
    yield
    left = cleanup_stale("jnf-")
    assert not left, f"namespaces left behind: {left}"


@pytest.fixture
def outdir(request) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


@pytest.fixture
def net3():
    net = Net(3)
    try:
        yield net
    finally:
        net.close()


@pytest.fixture
def net1():
    net = Net(1)
    try:
        yield net
    finally:
        net.close()


def pytest_terminal_summary(terminalreporter):
    if not results.ROWS:
        return
    results.write(os.path.join(OUT, "results.json"))
    terminalreporter.section("fault campaign: every check of every scenario")
    for line in results.table():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"(also in {os.path.join(OUT, 'results.json')})")

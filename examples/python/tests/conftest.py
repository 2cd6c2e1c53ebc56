"""Fixtures: a shared 3-node cluster, a fresh one for tests that kill nodes, unique topic names.

The cluster's node logs are attached to the report of every failing test that used it.
"""

from __future__ import annotations

import re
import sys
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import jumpnet  # the installed package (run-tests.sh installs the working tree's)
except ImportError:  # plain `pytest examples/python/tests` in a checkout
    sys.path.insert(0, str(HERE.parent / "src"))
    import jumpnet

from cluster import LocalCluster  # noqa: E402

_LIVE = []  # clusters running right now, for failure reports


def _start(root: Path, **kw) -> LocalCluster:
    c = LocalCluster(root, **kw)
    _LIVE.append(c)
    try:
        c.start()
    except BaseException:
        c.stop()
        _LIVE.remove(c)
        raise
    return c


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """Three voters shared by the tests that leave every node running."""
    c = _start(tmp_path_factory.mktemp("shared-cluster"))
    yield c
    c.stop()
    _LIVE.remove(c)


@pytest.fixture
def fresh_cluster(tmp_path_factory):
    """Three new voters for one test that may kill or restart nodes."""
    c = _start(tmp_path_factory.mktemp("fresh-cluster"))
    yield c
    c.stop()
    _LIVE.remove(c)


@pytest.fixture
def client(cluster):
    return jumpnet.Client(cluster.urls, timeout=5, retry_timeout=20)


@pytest.fixture
def topic(request):
    """A topic name no other test uses."""
    name = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name).strip("-")[:40]
    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _LIVE:
        for i, c in enumerate(_LIVE):
            report.sections.append((f"jumpnet cluster {i} logs", c.logs()))

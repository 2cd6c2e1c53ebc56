"""What the running broker offers of docs/broker-contract.md's section "Needed by the operator (not yet
implemented in the broker)". Scenarios that depend on a part of it run only where the broker has it, and
skip (loudly, naming the part) where it does not: the probes ask the broker itself, so the scenarios
start running, unchanged, the day the broker ships the part."""

from __future__ import annotations

import pytest
import requests

from jntest.http import Node


def _route_exists(node: Node, path: str) -> bool:
    """True when the broker serves ``path`` for some method (a wrong method is 405, an unknown path 404)."""
    r = requests.request("OPTIONS", node.base_url + path, timeout=(1, 5))
    return r.status_code != 404


def has_incarnation(node: Node) -> bool:
    return "incarnation" in node.cluster(local=True)


def require(node: Node, part: str) -> None:
    """Skips the calling scenario unless the broker implements contract ``part``."""
    checks = {
        "incarnation": lambda: has_incarnation(node),
        "force-new-cluster": lambda: has_incarnation(node) and _route_exists(node, "/v1/cluster/force-new-cluster"),
        "snapshot": lambda: _route_exists(node, "/v1/admin/snapshot"),
    }
    if not checks[part]():
        pytest.skip(f"waits on the broker: docs/broker-contract.md 'Needed by the operator', part {part!r} "
                    "is not implemented by this image yet")

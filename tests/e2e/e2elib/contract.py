"""What the running broker offers of docs/broker-contract.md's section "Needed by the operator (not yet
implemented in the broker)". Scenarios that depend on a part of it run only where the broker has it, and
skip (loudly, naming the part) where it does not: the probes ask the broker itself, so the scenarios
start running, unchanged, the day the broker ships the part.

How each part is detected (the contract's own words, nothing that changes state):
- part 2, incarnation: `GET /v1/cluster?local=true` carries the node's `"incarnation"`;
- part 3, force-new-cluster: part 2, and the route `POST /v1/cluster/force-new-cluster` exists;
- part 4, snapshot (backup and restore): the route `GET /v1/admin/snapshot` exists.
A route exists when the broker answers anything but 404 to `OPTIONS` on it (405 for a route without that
method, the router's answer before any handler or auth check runs). The probe is checked against a route
every broker has (`POST /v1/cluster/init`) before it may call a route absent: a probe that could never
say "present" would turn the scenarios into skips for good."""

from __future__ import annotations

import pytest
import requests

from jntest.http import Node

# A route every broker serves (POST only): the control for the route probe.
KNOWN_ROUTE = "/v1/cluster/init"


def _status(node: Node, path: str) -> int:
    return requests.request("OPTIONS", node.base_url + path, timeout=(1, 5)).status_code


def _route_exists(node: Node, path: str) -> bool:
    """True when the broker serves ``path`` for some method (a wrong method is 405, an unknown path 404)."""
    if _status(node, path) != 404:
        return True
    known = _status(node, KNOWN_ROUTE)
    if known == 404:
        raise AssertionError(f"the route probe is broken: OPTIONS {KNOWN_ROUTE} answered 404, so 404 on "
                             f"{path} says nothing about it (fix e2elib/contract.py)")
    return False


def has_incarnation(node: Node) -> bool:
    return "incarnation" in node.cluster(local=True)


CHECKS = {
    "incarnation": lambda node: has_incarnation(node),
    "force-new-cluster": lambda node: has_incarnation(node)
    and _route_exists(node, "/v1/cluster/force-new-cluster"),
    "snapshot": lambda node: _route_exists(node, "/v1/admin/snapshot"),
}
# The contract's part numbers, for the skip message.
PARTS = {"incarnation": 2, "force-new-cluster": 3, "snapshot": 4}


def require(node: Node, part: str) -> None:
    """Skips the calling scenario unless the broker implements contract ``part``."""
    if not CHECKS[part](node):
        pytest.skip(f"WAITS ON THE BROKER: docs/broker-contract.md 'Needed by the operator', part "
                    f"{PARTS[part]} ({part}) is not implemented by this image yet")

"""Cluster views and membership, through the admin API (docs/broker-contract.md).

``form_cluster`` does what the operator's membership logic does for a StatefulSet of N pods:
bootstrap on pod 0 (``POST /v1/cluster/init``, ``409 already_initialized`` is success), then, one pod
at a time in ordinal order, add it as a learner (``POST /v1/cluster/members``), wait until it has caught
up with the leader's commit index, and promote it (``POST /v1/cluster/members/{id}/promote``, retried on
``409 learner_lagging``). Every step is idempotent, so calling it again on a formed cluster is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass

from .http import Node
from .wait import wait_until


@dataclass
class Member:
    """How one broker is addressed: by peers (advertised names) and by the test (``node``)."""

    id: int
    raft_addr: str
    api_addr: str
    node: Node


def members_by_id(view: dict) -> dict[int, dict]:
    return {int(m["id"]): m for m in view.get("members", [])}


def voters(view: dict) -> set[int]:
    return {i for i, m in members_by_id(view).items() if m.get("role") == "voter"}


def learners(view: dict) -> set[int]:
    return {i for i, m in members_by_id(view).items() if m.get("role") == "learner"}


def summarize(view: dict) -> str:
    ms = ", ".join(
        f"{m['id']}:{m.get('role')}@{m.get('matched_index')}" for m in view.get("members", [])
    )
    return (
        f"node={view.get('node_id')} leader={view.get('leader_id')} term={view.get('term')} "
        f"commit={view.get('commit_index')} applied={view.get('applied_index')} members=[{ms}]"
    )


def error_code(resp) -> str | None:
    try:
        return resp.json()["error"]["code"]
    except Exception:  # noqa: BLE001 - not an error body
        return None


def caught_up(view: dict, member_id: int) -> bool:
    m = members_by_id(view).get(member_id)
    if m is None or m.get("matched_index") is None:
        return False
    return int(m["matched_index"]) >= int(view.get("commit_index") or 0)


def form_cluster(members: list[Member], *, timeout: float = 90.0) -> dict:
    """Forms the cluster of ``members`` (ordinal order, the first bootstraps); returns the final view."""
    first = members[0]
    r = first.node.request("POST", "/v1/cluster/init")
    assert r.status_code == 200 or (r.status_code == 409 and error_code(r) == "already_initialized"), (
        f"init on {first.node}: {r.status_code} {r.text}"
    )
    wait_until(lambda: first.node.cluster().get("leader_id") is not None, timeout=timeout,
               what=f"a leader after init on {first.node}", describe=lambda: summarize(first.node.cluster()))

    for m in members[1:]:
        body = {"id": m.id, "raft_addr": m.raft_addr, "api_addr": m.api_addr}
        r = first.node.request("POST", "/v1/cluster/members", json=body)
        assert r.status_code == 200, f"add learner {m.id} via {first.node}: {r.status_code} {r.text}"
        wait_until(lambda m=m: caught_up(first.node.cluster(), m.id), timeout=timeout,
                   what=f"learner {m.id} to catch up", describe=lambda: summarize(first.node.cluster()))

        def promoted(m=m):
            r = first.node.request("POST", f"/v1/cluster/members/{m.id}/promote")
            if r.status_code == 409 and error_code(r) == "learner_lagging":
                return False
            assert r.status_code == 200, f"promote {m.id}: {r.status_code} {r.text}"
            return True

        wait_until(promoted, timeout=timeout, what=f"promotion of {m.id}",
                   describe=lambda: summarize(first.node.cluster()))

    want = {m.id for m in members}
    return wait_until(
        lambda: (v := first.node.cluster()) and voters(v) == want and v.get("leader_id") is not None and v,
        timeout=timeout, what=f"voters {sorted(want)} with a leader",
        describe=lambda: summarize(first.node.cluster()),
    )

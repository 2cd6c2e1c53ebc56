"""A 3-broker cluster of the Jumpnet image on podman, started and formed the way the operator does it.

The scenarios of issue 5: publish through one node and read through another; partition the leader
(`podman network disconnect`): the majority keeps serving, the minority refuses writes with 503, and
healing loses nothing; a killed container restarted on its volume catches up. Every acknowledged
message is checked on every node at the end of each scenario.
"""

from __future__ import annotations

import time
import uuid

from jntest.cluster import error_code, summarize, voters
from jntest.report import report
from jntest.wait import GiveUp, wait_until

N = 3


def topic(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def leader_of(c, among=range(N)) -> int:
    """The ordinal that all nodes in ``among`` agree leads, once an election among them has settled."""

    def settled():
        ids = {c.node(i).cluster(local=True).get("leader_id") for i in among}
        lid = ids.pop() if len(ids) == 1 else None
        return (int(lid),) if lid is not None and int(lid) in among else None  # a tuple: ordinal 0 is falsy

    return wait_until(settled, timeout=60, what=f"nodes {list(among)} to agree on a leader among them",
                      describe=lambda: [summarize(c.node(i).cluster(local=True)) for i in among])[0]


class Producer:
    """Publishes with a producer id and sequence numbers, so a publish retried after a 503 (the answer
    during an election) is stored once, as SPEC section 3 promises; counts the 503s it saw."""

    def __init__(self):
        self.id = f"ct-{uuid.uuid4().hex[:8]}"
        self.sequence = 0
        self.unavailable = 0

    def publish(self, node, t: str, values: list[str], timeout: float = 30) -> dict:
        self.sequence += 1
        seq = self.sequence

        def attempt():
            r = node.publish(t, values, producer_id=self.id, sequence=seq)
            if r.status_code == 503:
                self.unavailable += 1
                # raised, not returned: wait_until reports the last exception, so a time-out says why
                raise RuntimeError(f"503 from {node}: {r.text}")
            assert r.status_code == 200, f"publish via {node}: {r.status_code} {r.text}"
            return r.json()

        return wait_until(attempt, timeout=timeout, interval=0.5, what=f"publish via {node} to succeed")


def assert_everywhere(c, t: str, values: list[str], nodes=range(N), timeout: float = 60) -> None:
    """Every node in ``nodes`` serves exactly ``values`` for topic ``t`` (from its own applied state)."""
    for i in nodes:
        wait_until(lambda i=i: c.node(i).read_all_values(t) == values, timeout=timeout,
                   what=f"node {i} to serve the {len(values)} acknowledged messages of {t}",
                   describe=lambda i=i: f"{summarize(c.node(i).cluster(local=True))}; "
                                        f"has {len(c.node(i).read_all_values(t))} values")


def test_pods_wait_for_the_operator_before_joining_anything(cluster):
    # --managed: a fresh pod never bootstraps or self-joins, and is not ready until it is a member.
    for i in range(N):
        view = cluster.node(i).cluster(local=True)
        assert view.get("cluster_id") is None, f"node {i} formed a cluster on its own: {view}"
        assert int(view.get("node_id")) == i, f"node id must be the hostname's ordinal: {view}"
        r = cluster.node(i).request("GET", "/readyz")
        assert r.status_code == 503, f"node {i} ready before it is a member: {r.status_code} {r.text}"


def test_cluster_forms_through_the_admin_api(formed):
    c, view = formed
    assert voters(view) == set(range(N)), summarize(view)
    ids = set()
    for i in range(N):
        wait_until(lambda i=i: c.node(i).readyz(), timeout=60, what=f"node {i} /readyz",
                   describe=lambda i=i: summarize(c.node(i).cluster(local=True)))
        local = c.node(i).cluster(local=True)
        ids.add(local.get("cluster_id"))
    assert len(ids) == 1 and None not in ids, f"nodes disagree on the cluster id: {ids}"
    # The members are addressed by their headless-service names, which is what survives a restart.
    for m in view["members"]:
        assert m["raft_addr"] == f"{c.aliases(int(m['id']))[0]}:{c.raft_port}", m


def test_publish_through_one_node_read_through_another(formed):
    c, _ = formed
    lead = leader_of(c)
    follower_a, follower_b = [i for i in range(N) if i != lead]
    t = topic("relay")
    values = [f"m{k}" for k in range(20)]
    ans = c.node(follower_a).publish_ok(t, values)  # forwarded to the leader
    assert ans["offsets"] == list(range(ans["base_offset"], ans["base_offset"] + len(values))), ans
    assert_everywhere(c, t, values, nodes=[follower_b, lead, follower_a])


def test_partitioned_leader_minority_refuses_majority_serves_healing_loses_nothing(formed):
    c, _ = formed
    t = topic("partition")
    acked = [f"before-{k}" for k in range(5)]
    old = leader_of(c)
    c.node(old).publish_ok(t, acked)
    majority = [i for i in range(N) if i != old]

    c.disconnect(old)
    t0 = time.monotonic()
    new = leader_of(c, among=majority)
    report("leader election after partitioning the leader", f"{time.monotonic() - t0:.2f}s")
    assert new != old

    # The majority keeps serving, through either of its nodes (503 is allowed while leadership settles,
    # as long as a retry succeeds).
    producer = Producer()
    for k in range(5):
        for i in majority:
            vals = [f"majority-{i}-{k}"]
            producer.publish(c.node(i), t, vals)
            acked += vals
    report("503 answers of the majority right after the election", str(producer.unavailable))

    # The minority refuses writes: 503 in the error shape, with Retry-After; nothing of it is stored.
    refused, answers = [], []

    def minority_refuses():
        v = f"refused-{len(refused)}"
        refused.append(v)
        r = c.node(old).publish(t, [v], timeout=(2.0, 30.0))
        answers.append(f"{r.status_code} {r.text[:120]}")
        if r.status_code == 200:
            raise GiveUp(f"the cut-off node acknowledged a write: {r.text}")
        # A list, not the response: a requests.Response with an error status is falsy.
        return [r] if r.status_code == 503 else None

    [r] = wait_until(minority_refuses, timeout=60, what=f"the partitioned node {old} to refuse writes with 503",
                   interval=0.5, describe=lambda: f"{summarize(c.node(old).cluster(local=True))}; "
                                                  f"its /readyz: {c.node(old).request('GET', '/readyz').status_code}; "
                                                  f"its answers: {answers[-2:]}")
    assert error_code(r), f"503 without the error shape: {r.text}"
    assert r.headers.get("Retry-After"), f"503 without Retry-After: {dict(r.headers)}"
    wait_until(lambda: not c.node(old).readyz(), timeout=30, what=f"the partitioned node {old} to be unready")

    # Heal: back on the network under its names (with a new address); it follows the new leader.
    c.reconnect(old)
    t0 = time.monotonic()
    wait_until(lambda: c.node(old).readyz(), timeout=90, what=f"node {old} ready after healing",
               describe=lambda: summarize(c.node(old).cluster(local=True)))
    report("partitioned node ready after healing", f"{time.monotonic() - t0:.2f}s")
    more = [f"after-{k}" for k in range(5)]
    c.node(old).publish_ok(t, more)
    acked += more
    assert_everywhere(c, t, acked)
    view = c.node(majority[0]).cluster()
    assert voters(view) == set(range(N)), summarize(view)
    for i in range(N):
        assert not set(c.node(i).read_all_values(t)) & set(refused), f"node {i} stored a refused write"


def test_killed_container_restarts_on_its_volume_and_catches_up(formed):
    c, _ = formed
    t = topic("crash")
    acked = [f"before-{k}" for k in range(10)]
    victim = leader_of(c)
    producer = Producer()
    producer.publish(c.node(victim), t, acked)
    before = c.node(victim).cluster(local=True)

    c.kill(victim)
    rest = [i for i in range(N) if i != victim]
    leader_of(c, among=rest)
    for k in range(3):  # the survivors commit while the victim is down: it has to catch up on these
        vals = [f"while-down-{k}-{j}" for j in range(10)]
        producer.publish(c.node(rest[k % 2]), t, vals)
        acked += vals
    report("503 answers around killing the leader", str(producer.unavailable))

    secs = c.start(victim)
    report(f"restart {c.names[victim]} on its volume (start to /livez)", f"{secs:.2f}s")
    t0 = time.monotonic()
    wait_until(lambda: c.node(victim).readyz(), timeout=90, what=f"node {victim} ready after restart",
               describe=lambda: summarize(c.node(victim).cluster(local=True)))
    report("restarted node caught up (/livez to /readyz)", f"{time.monotonic() - t0:.2f}s")
    after = c.node(victim).cluster(local=True)
    assert after["cluster_id"] == before["cluster_id"], "the restarted node lost its cluster identity"
    assert int(after["node_id"]) == victim
    assert_everywhere(c, t, acked)
    assert voters(c.node(rest[0]).cluster()) == set(range(N)), "membership changed across the restart"

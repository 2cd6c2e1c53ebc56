"""The frame every networked scenario shares: a 3-node cluster in its namespaces, a recording
workload, a nemesis step, then heal, converge, read every node's log and run the checker."""

from __future__ import annotations

import os
from typing import Callable

from faultlib import checker, results
from faultlib.checker import Result
from faultlib.cluster import API_PORT, ELECTION_TIMEOUT_MS, Cluster
from faultlib.history import History
from faultlib.netns import Net
from faultlib.workload import Workload

TOPIC = "jnf"
WARMUP_ACKS = 30
WARMUP_TIMEOUT_S = 30.0
# Writes must be served again by the majority within the election timeout (randomised up to twice
# the flag) plus this margin for detecting the loss, electing, and the first commit.
RECOVERY_MARGIN_S = 1.0
RECOVERY_BOUND_S = 2 * ELECTION_TIMEOUT_MS / 1000 + RECOVERY_MARGIN_S


def urls(net: Net, only: list[int] | None = None) -> dict[int, str]:
    return {n: f"http://{net.ip(n)}:{API_PORT}" for n in (only or net.nodes)}


def run(net: Net, outdir: str, name: str, nemesis: Callable[[Cluster, Net, History], None], *,
        state_dirs: dict[int, str] | None = None, args: list[str] | None = None,
        recovery: bool = True, workload_kw: dict | None = None,
        extra_checks: Callable[[Cluster, History], list[Result]] | None = None) -> list[Result]:
    """Runs one scenario, records its results, and returns them (the caller asserts)."""
    dirs = state_dirs or {n: os.path.join(outdir, "state", f"n{n}") for n in net.nodes}
    cluster = Cluster(net, dirs, outdir, args)
    h = History()
    try:
        with net.entered():
            cluster.start()
            cluster.form()
            wl = Workload(h, urls(net), TOPIC, net=net, **(workload_kw or {})).start()
            try:
                assert wl.wait_acks(WARMUP_ACKS, WARMUP_TIMEOUT_S), (
                    f"no {WARMUP_ACKS} acks within {WARMUP_TIMEOUT_S}s before any fault: {cluster.describe()}")
                nemesis(cluster, net, h)
            finally:
                wl.stop()
            net.heal()
            for node in cluster.nodes.values():
                if not node.alive():
                    node.start()
            cluster.wait_converged()
            logs = {n: cluster.read_log(n, TOPIC) for n in cluster.nodes}
            res = checker.check_all(h, logs, recovery_bound_s=RECOVERY_BOUND_S if recovery else None)
            if extra_checks:
                res += extra_checks(cluster, h)
            c = checker.counts(h)
            results.record(name, res, {"messages": f"{c['ok']} acked, {c['maybe']} maybe, "
                                                   f"{c['absent']} refused (503)"})
            with open(os.path.join(outdir, "events.txt"), "w") as f:
                for e in h.events:
                    f.write(f"{e.t:.3f} {e.name} majority={e.majority}\n")
            return res
    finally:
        cluster.close()


def assert_all_pass(res: list[Result]) -> None:
    assert all(r.ok for r in res), "guarantees violated:\n" + results.failures(res)

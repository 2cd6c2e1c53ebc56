"""Disk full: a node's state dir is a small tmpfs (``TMPFS_SIZE``), filled up to ``FREE_LEFT`` by a
file of the test's own, then by publishes until the node refuses them. Demanded:

- ``clear_errors``: every refused publish through the full node is answered 507 or 503 in the
  SPEC §3 shape (``{"error": {"code", "message"}}``) — not 504, not a dropped connection;
- ``no_crash_loop``: the node process stays up while the disk is full (a supervisor restarting it
  would only find the same full disk);
- ``resumes``: once the space is freed, publishes through that node are acknowledged again within
  ``RESUME_TIMEOUT_S``; a process that exited or whose ``/livez`` fails is restarted once, as
  Kubernetes would (a node that stopped working but answers ``/livez`` 200 is never restarted);
- ``restart_clean`` and the message checks of every scenario (nothing acknowledged lost, no 503
  stored, ...): after all that, a restart opens the state dir and serves every acknowledged message.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from scenario import TOPIC, assert_all_pass, urls

from faultlib import checker, results
from faultlib.checker import Result
from faultlib.cluster import Cluster
from faultlib.history import OK, History
from faultlib.wait import hold
from faultlib.workload import Workload
from jntest.wait import WaitTimeout, wait_until

TMPFS_SIZE = "64m"
FREE_LEFT = 12 << 20  # what the filler leaves: room to start, form and take some writes
VALUE_PAD = 64 * 1024
FILL_TIMEOUT_S = 90.0
FULL_HOLD_S = 5.0  # how long the disk stays full while the workload keeps trying
RESUME_TIMEOUT_S = 30.0
MAX_RESTARTS = 1  # more while the space is free is a crash loop
REFUSALS_WANTED = 5


class Tmpfs:
    def __init__(self, path: str, name: str):
        self.path = path
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", name, path], check=True)
        self.filler = os.path.join(path, "jnf-filler")

    def fill(self) -> None:
        st = os.statvfs(self.path)
        with open(self.filler, "wb") as f:
            os.posix_fallocate(f.fileno(), 0, max(0, st.f_bavail * st.f_frsize - FREE_LEFT))

    def free(self) -> None:
        os.remove(self.filler)

    def close(self) -> None:
        subprocess.run(["umount", "-l", self.path], check=False)


def refusals(h: History, node: int) -> list:
    return [a for a in h.attempts if a.node == node and a.outcome != OK]


@pytest.mark.parametrize("layout", ["single node", "leader of 3"])
def test_disk_full(request, outdir, layout):
    net = request.getfixturevalue("net1" if layout == "single node" else "net3")
    h = History()
    mounts: dict[int, Tmpfs] = {}
    cluster = None
    wl = None
    res: list[Result] = []
    restarts = 0
    try:
        with net.entered():
            dirs = {n: os.path.join(outdir, f"state{n}") for n in net.nodes}
            cluster = Cluster(net, dirs, outdir)
            # the full node: node 1, which bootstraps and so leads (checked below)
            mounts[1] = Tmpfs(dirs[1], f"jnf-{net.run}-full")
            cluster.start()
            cluster.form()
            assert cluster.leader() == 1, cluster.describe()
            mounts[1].fill()
            wl = Workload(h, urls(net), TOPIC, probes=False, readers=False, value_pad=VALUE_PAD, net=net).start()
            try:
                wait_until(lambda: len(refusals(h, 1)) >= REFUSALS_WANTED or not cluster[1].alive(),
                           timeout=FILL_TIMEOUT_S, what="the full node to refuse publishes")
            except WaitTimeout as e:
                raise AssertionError(f"the disk never filled up, nothing was tested: {e}")
            hold(FULL_HOLD_S)
            died_while_full = not cluster[1].alive()
            bad = [f"{a.status or 'no answer'} {a.detail}" for a in refusals(h, 1)
                   if a.status not in (503, 507) or a.detail.startswith("raw:")]
            res.append(Result("clear_errors", not bad,
                              f"{len(bad)} of {len(refusals(h, 1))} refusals unclear: " +
                              "; ".join(sorted(set(bad))[:5]) if bad else "",
                              f"{len(refusals(h, 1))} refusals"))
            res.append(Result("no_crash_loop", not died_while_full,
                              f"the node exited ({cluster[1].exit_code()}) while the disk was full: "
                              f"{cluster[1].log_tail(5).strip().splitlines()[-1][:300]}" if died_while_full else ""))
            mounts[1].free()
            acked = sum(1 for a in h.attempts if a.node == 1 and a.outcome == OK)

            def resumed():
                nonlocal restarts
                # what Kubernetes does: restart a container that exited or whose /livez fails
                if not cluster[1].alive() or not cluster[1].api.livez():
                    if restarts >= MAX_RESTARTS:
                        raise AssertionError(f"still down after {restarts} restart(s)")
                    cluster[1].kill()
                    cluster[1].start()
                    restarts += 1
                    return False
                return sum(1 for a in h.attempts if a.node == 1 and a.outcome == OK) > acked + 3

            try:
                wait_until(resumed, timeout=RESUME_TIMEOUT_S, what="publishes through node 1 after freeing space")
                res.append(Result("resumes", True, figure=f"{restarts} restart(s)"))
            except (WaitTimeout, AssertionError) as e:
                res.append(Result("resumes", False, f"{e}"[:400] + f" ({restarts} restart(s); /livez "
                                  f"{'200' if cluster[1].alive() and cluster[1].api.livez() else 'failing'})"))
            wl.stop()
            # whatever happened, an operator restart must find every acknowledged message
            cluster[1].kill()
            cluster[1].start()
            try:
                wait_until(lambda: cluster[1].api.readyz(), timeout=RESUME_TIMEOUT_S, what="node 1 ready after a restart")
                cluster.wait_converged()
                logs = {n: cluster.read_log(n, TOPIC) for n in cluster.nodes}
                res = checker.check_all(h, logs, strong=False) + res
                res.append(Result("restart_clean", True))
            except WaitTimeout as e:
                res.append(Result("restart_clean", False, f"{e}"[:400]))
            c = checker.counts(h)
            results.record(f"disk full: {layout}", res,
                           {"messages": f"{c['ok']} acked, {c['maybe']} maybe, {c['absent']} refused"})
    finally:
        if wl:
            wl.stop()
        if cluster:
            cluster.close()
        for m in mounts.values():
            m.close()
    assert_all_pass(res)

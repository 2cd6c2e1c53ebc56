"""Power-loss scenarios' frame: nodes whose state dirs are jnf-faultfs mounts, a recording workload,
power cuts at chosen points, restarts on what survived, then the checker plus the Raft invariants.

Directory changes are durable the ext4/XFS way by default (``metadata="journaled"``: any fsync
commits them); the ``strict`` scenarios hold jumpnet to POSIX's letter (only an fsync of the
directory), as on filesystems without one global journal.

Raft invariants checked around every power loss (besides the message checks):

- ``restarts``: the node comes back ready on what survived (a refusal to start is reported with
  the node's last log line);
- ``term_not_regressed``: a node's term once it is back is at least the term it reported before
  the cut. (The vote itself is not visible from outside: a node that lost it and is then told the
  current term by the leader looks the same; jumpnet logs no loaded vote at start-up. The metrics
  stream's first value is openraft's placeholder, term 0, so the first logged term proves nothing.)
- ``commit_not_regressed``: the cluster's commit index after the restart reaches the one seen
  before the cut (no committed entry lost).
"""

from __future__ import annotations

import os
import random

from faultlib import checker, results
from faultlib.checker import Result
from faultlib.cluster import Cluster
from faultlib.faultfs import FaultFs
from faultlib.history import History
from faultlib.netns import Net
from faultlib.workload import Workload
from jntest.wait import WaitTimeout, wait_until
from scenario import TOPIC, WARMUP_ACKS, WARMUP_TIMEOUT_S, urls

# Small checkpoint interval and segments: checkpoints, log purges and segment rolls happen often
# enough for a crash to land in them.
NODE_ARGS = ["--snapshot-every", "100", "--segment-bytes", str(1 << 20)]
TRIGGER_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 60.0
# acks the workload must add after a restart before the next cut: the node really serves again
ACKS_BETWEEN_CUTS = 20
ACKS_TIMEOUT_S = 60.0

# Crash points: (operation, path glob, how many matching operations to let through at most).
POINTS = {
    "append": ("write", "raft/*.wal", 40),
    "rotation": ("create", "raft/*.wal", 1),
    "checkpoint": ("fsync", "data*", 4),
    "wal sync": ("fsync", "raft/*.wal", 20),
    "snapshot receive": ("write", "snapshots/*", 1),  # a small snapshot can arrive in one write
    "snapshot unpack": ("write", "data-*", 3),
    "truncate": ("truncate", "raft/*.wal", 1),
}


def _back(node) -> bool:
    """Ready, or unready only because it is a learner (a joining node cut before its promotion is not
    ready until the scenario promotes it: docs/broker-contract.md, learners are not ready)."""
    try:
        r = node.api.request("GET", "/readyz", timeout=(1.0, 2.0))
    except Exception:  # noqa: BLE001 - not answering yet
        return False
    if r.status_code == 200:
        return True
    try:
        return r.status_code == 503 and "learner" in r.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return False


def kind(torn) -> str:
    """``torn``: False (clean), True (torn) or "data" (directory changes kept, files torn)."""
    return {False: "clean", True: "torn", "data": "torn-data"}[torn]


class PowerScenario:
    """Use as a context manager: inside it the test process is in the clients' namespace."""

    def __init__(self, net: Net, outdir: str, seed: int, args: list[str] | None = None,  # default NODE_ARGS
                 metadata: str = "journaled"):
        self.net, self.outdir = net, outdir
        self._inside = net.entered()
        self.wl: Workload | None = None
        self.rng = random.Random(seed)
        self.fss: dict[int, FaultFs] = {}
        self.h = History()
        self.res: dict[str, list[str]] = {"restarts": [], "term_not_regressed": [], "commit_not_regressed": []}
        self.cuts: list[str] = []
        try:
            for n in net.nodes:
                self.fss[n] = FaultFs(os.path.join(outdir, f"mnt{n}"), os.path.join(outdir, f"ctl{n}"),
                                      os.path.join(outdir, f"faultfs{n}.log"), metadata)
            self.cluster = Cluster(net, {n: fs.mount for n, fs in self.fss.items()}, outdir,
                                   (args if args is not None else NODE_ARGS))
        except Exception:
            self.close()
            raise

    # -- life cycle ------------------------------------------------------------------------
    def __enter__(self) -> "PowerScenario":
        self._inside.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.close()
        finally:
            self._inside.__exit__(*exc)

    def start(self, workload_kw: dict | None = None, writeback: bool = True, voters: list[int] | None = None) -> None:
        """Forms the cluster and starts the workload. ``writeback``: once the cluster is formed, make
        everything durable, as the kernel's periodic writeback (ext4 commits every 5 s) does on a
        node that has run a while; the cuts that follow then test the write path's own fsyncs. Without
        it (``test_power_loss_right_after_first_start``), nothing but jumpnet's own fsyncs counts.
        ``voters``: form the cluster of these nodes only (the others are started, not added)."""
        self.cluster.start()
        self.cluster.form(voters)
        if writeback:
            for fs in self.fss.values():
                fs.sync()
        kw = {"probes": False, **(workload_kw or {})}
        self.wl = Workload(self.h, urls(self.net, voters), TOPIC, net=self.net, **kw).start()
        assert self.wl.wait_acks(WARMUP_ACKS, WARMUP_TIMEOUT_S), f"no warm-up acks: {self.cluster.describe()}"

    def close(self) -> None:
        if self.wl:
            self.wl.stop()
        if hasattr(self, "cluster"):
            for n, node in self.cluster.nodes.items():
                try:
                    node.kill(unblock=self.fss[n].drain)
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass
        for fs in self.fss.values():
            fs.close()

    # -- observations ----------------------------------------------------------------------
    def _views(self, nodes) -> dict[int, dict]:
        out = {}
        for n in nodes:
            try:
                out[n] = self.cluster[n].view()
            except Exception:  # noqa: BLE001 - a node that is down has no view
                pass
        return out

    # -- the cut ---------------------------------------------------------------------------
    def power_loss(self, nodes: list[int], point: str | None, torn, label: str, armed: bool = False) -> bool:
        """Cuts the power of ``nodes`` at ``point`` (None: now), restarts them; False if one stays down.
        ``armed``: the caller armed the point already (it may fire before this is called)."""
        before = self._views(self.cluster.nodes)
        pre_terms = {n: int(v["term"]) for n, v in before.items()}
        pre_commit = max((int(v["commit_index"]) for v in before.values()), default=0)
        if point is None:
            for n in nodes:
                self.fss[n].freeze()
            fired = "at a random instant"
        else:
            op, glob, most = POINTS[point]
            count = self.rng.randint(1, most)
            if not armed:
                for n in nodes:
                    self.fss[n].arm(op, glob, count)
            try:
                wait_until(lambda: all(self.fss[n].status()["frozen"] for n in nodes), timeout=TRIGGER_TIMEOUT_S,
                           what=f"{point} ({op} {glob} #{count}) on nodes {nodes}",
                           describe=self.cluster.describe)
            except WaitTimeout as e:
                ops = {n: self.fss[n].status()["ops"] for n in nodes}
                raise AssertionError(f"the crash point '{point}' was never reached, so it was not tested "
                                     f"(operations seen: {ops}): {e}")
            fired = ", ".join(str(self.fss[n].status()["fired"]) for n in nodes)
        for n in nodes:
            self.cluster[n].kill(unblock=self.fss[n].drain)
        reports = {n: self.fss[n].crash(self.rng.randrange(1 << 30) if torn else None, data_only=torn == "data")
                   for n in nodes}
        dropped = sum(r["dropped_writes"] for r in reports.values())
        wal_torn = [t for r in reports.values() for t in r.get("torn_files", []) if t.startswith("raft/")]
        self.cuts.append(f"{label}: {kind(torn)} cut {fired} (dropped {dropped} unsynced writes"
                         + (f"; WAL torn at {', '.join(wal_torn)}" if wal_torn else "") + ")")
        for n in nodes:
            self.cluster[n].start()
        for n in nodes:
            node = self.cluster[n]
            try:
                wait_until(lambda node=node: node.alive() and _back(node), timeout=READY_TIMEOUT_S,
                           what=f"node {n} ready after the power loss")
            except WaitTimeout:
                last = [line for line in node.log_tail(40).splitlines() if line.strip()]
                why = last[-1] if last else "(no log)"
                self.res["restarts"].append(
                    f"{label}: node {n} {'exited ' + str(node.exit_code()) if not node.alive() else 'never ready'}"
                    f" after a {kind(torn)} cut {fired}: {why.strip()[:300]}")
                return False
        after = self._views(self.cluster.nodes)
        for n in nodes:
            now_t = int(after[n]["term"]) if n in after else None
            if n in pre_terms and now_t is not None and now_t < pre_terms[n]:
                self.res["term_not_regressed"].append(f"{label}: node {n} term {pre_terms[n]} -> {now_t}")
        try:
            wait_until(lambda: max(int(v["commit_index"]) for v in self._views(self.cluster.nodes).values())
                       >= pre_commit, timeout=READY_TIMEOUT_S, what="the commit index seen before the cut")
        except WaitTimeout:
            now = max((int(v["commit_index"]) for v in self._views(self.cluster.nodes).values()), default=-1)
            self.res["commit_not_regressed"].append(f"{label}: commit index {pre_commit} before, {now} after")
        acked = self.h.acked_count()
        assert self.wl is not None
        if not self.wl.wait_acks(acked + ACKS_BETWEEN_CUTS, ACKS_TIMEOUT_S):
            self.res["restarts"].append(f"{label}: no new acknowledged writes within {ACKS_TIMEOUT_S}s after restart")
            return False
        return True

    # -- verdict ---------------------------------------------------------------------------
    def finish(self, name: str) -> list[Result]:
        assert self.wl is not None
        self.wl.stop()
        res: list[Result] = [
            Result(check, not bad, "; ".join(bad)) for check, bad in self.res.items()
        ]
        up = all(node.alive() for node in self.cluster.nodes.values())
        if up:
            try:
                self.cluster.wait_converged()
                logs = {n: self.cluster.read_log(n, TOPIC) for n in self.cluster.nodes}
                res = checker.check_all(self.h, logs) + res
            except WaitTimeout as e:
                res.append(Result("converged", False, str(e)[:500]))
        else:
            res.append(Result("message checks", False, "not run: a node did not come back"))
        c = checker.counts(self.h)
        results.record(name, res, {"cuts": " | ".join(self.cuts),
                                   "messages": f"{c['ok']} acked, {c['maybe']} maybe, {c['absent']} refused"})
        return res

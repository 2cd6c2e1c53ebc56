#!/usr/bin/env python3
"""Failover time of a real 3-node Jumpnet cluster under a steady publish load.

    bench/failover.py kill      [--trials 20] [--json FILE] [-- EXTRA NODE FLAGS]
    bench/failover.sh partition [--trials 20] [--json FILE] [-- EXTRA NODE FLAGS]   (netns, as root)

kill:      the leader gets SIGKILL; it is restarted on its state dir and must rejoin before the
           next trial.
partition: the leader's network namespace drops every packet from and to its two peers (iptables
           DROP, both ways: connections hang, nothing is refused); healed with `iptables -F` before
           the next trial. Run through bench/failover.sh, which builds the namespaces (jnp-*) and
           runs this script inside the client's namespace.

Load: a client that talks to all nodes: LOAD_PER_NODE closed-loop publishers per node (one v1
single-message publish in flight each) plus a probe per node that opens a new request every
PROBE_EVERY_S whatever the others wait for. The figure per trial is the time from the fault to the
first publish that was *sent after the fault* through a surviving node and acknowledged (2xx).
Beside it: when a survivor first reported a new leader (the election), and how many requests
failed (503/504/connection errors) in the window.

Results: a table, the median and max, and with --json a JSON document (trials and summary).
Every node's log (with timestamps) stays in the work dir printed at the end when --keep is given.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

LOAD_PER_NODE = 2
PROBE_EVERY_S = 0.01
REQUEST_TIMEOUT_S = 12.0
# A trial whose writes did not come back within this long counts as a failure of the cluster.
TRIAL_LIMIT_S = 15.0
REJOIN_LIMIT_S = 60.0
VALUE = "x" * 100
BODY = json.dumps({"messages": [{"value": VALUE}]}).encode()
TOPIC = "failover"


def now():
    return time.monotonic()


class Node:
    def __init__(self, idx, host, raft_port, api_port, state_dir, netns, binary, extra, log_dir, log_filter):
        self.idx, self.host, self.raft_port, self.api_port = idx, host, raft_port, api_port
        self.state_dir, self.netns, self.binary, self.extra = state_dir, netns, binary, extra
        self.log_path = os.path.join(log_dir, f"node{idx}.log")
        self.log_filter = log_filter
        self.proc = None

    @property
    def api(self):
        return f"{self.host}:{self.api_port}"

    def start(self, join=None):
        cmd = [self.binary, "-state_dir", self.state_dir, "-raft", f"{self.host}:{self.raft_port}",
               "-api", self.api, *self.extra]
        if join:
            cmd += ["-join", join]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        env = dict(os.environ, JUMPNET_LOG=self.log_filter)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def get(self, path, timeout=1.0):
        c = http.client.HTTPConnection(self.host, self.api_port, timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def view(self):
        try:
            st, body = self.get("/v1/cluster?local=true", timeout=0.5)
            return json.loads(body) if st == 200 else None
        except (OSError, ValueError, http.client.HTTPException):
            return None

    def ready(self):
        try:
            return self.get("/readyz", timeout=0.5)[0] == 200
        except (OSError, http.client.HTTPException):
            return False


class Recorder:
    """Every request the client made: (node index, sent, answered, ok)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.done = []

    def add(self, idx, sent, answered, ok, status=None):
        with self.lock:
            self.done.append((idx, sent, answered, ok, status))

    def since(self, t):
        with self.lock:
            return [d for d in self.done if d[1] >= t]


def publish(node, conn=None):
    """One v1 publish; returns (HTTP status or an error name, connection to reuse or None)."""
    try:
        if conn is None:
            conn = http.client.HTTPConnection(node.host, node.api_port, timeout=REQUEST_TIMEOUT_S)
        conn.request("POST", f"/v1/topics/{TOPIC}/messages", BODY, {"content-type": "application/json"})
        r = conn.getresponse()
        r.read()
        return r.status, conn
    except (OSError, http.client.HTTPException) as e:
        if conn is not None:
            conn.close()
        return type(e).__name__, None


def is_ok(status):
    return isinstance(status, int) and 200 <= status < 300


def load_worker(node, rec, stop):
    conn = None
    while not stop.is_set():
        t = now()
        status, conn = publish(node, conn)
        rec.add(node.idx, t, now(), is_ok(status), status)
        if not is_ok(status):
            time.sleep(0.005)


def probe_worker(node, rec, stop):
    """A new request every PROBE_EVERY_S, each on its own thread and connection."""
    def one():
        t = now()
        status, conn = publish(node)
        if conn is not None:
            conn.close()
        rec.add(node.idx, t, now(), is_ok(status), status)

    while not stop.is_set():
        threading.Thread(target=one, daemon=True).start()
        time.sleep(PROBE_EVERY_S)


def leader_of(nodes, among=None):
    for n in among or nodes:
        v = n.view()
        if v and v.get("leader_id"):
            return v["leader_id"], v
    return None, None


def wait(cond, limit, what):
    end = now() + limit
    while now() < end:
        r = cond()
        if r:
            return r
        time.sleep(0.02)
    raise SystemExit(f"timed out after {limit}s waiting for {what}" + (f": {WHY['last']}" if WHY["last"] else ""))


def healthy(nodes, rec):
    """Every node ready, one leader everyone agrees on, everyone applied to within a little of the
    leader's commit, and publishes succeeding through every node just now."""
    views = [n.view() for n in nodes]
    if not all(views) or not all(n.ready() for n in nodes):
        return unhealthy(f"not every node answers and is ready: views {[bool(v) for v in views]}, "
                         f"ready {[n.ready() for n in nodes]}")
    leaders = {v["leader_id"] for v in views}
    if len(leaders) != 1 or None in leaders:
        return unhealthy(f"no leader all agree on: {[v['leader_id'] for v in views]} "
                         f"(terms {[v['term'] for v in views]})")
    commit = max(v["commit_index"] for v in views)
    if any(commit - v["applied_index"] > 50 for v in views):
        return unhealthy(f"applied behind commit {commit}: {[v['applied_index'] for v in views]}")
    recent = rec.since(now() - 0.3)
    lagging = [n.idx for n in nodes if not any(d[0] == n.idx and d[3] for d in recent)]
    return unhealthy(f"no publish acknowledged through nodes {lagging} in the last 0.3 s") if lagging else True


WHY = {"last": ""}


def unhealthy(reason):
    """Remember why the cluster is not healthy (printed if a wait for it times out)."""
    WHY["last"] = reason
    return False


def node_id_map(nodes):
    _, v = wait(lambda: leader_of(nodes), 30, "a leader")
    by_api = {m["api_addr"]: m["id"] for m in v["members"]}
    return {by_api[n.api]: n for n in nodes}


def run(args):
    work = tempfile.mkdtemp(prefix="jumpnet-failover.")
    hosts = args.hosts.split(",") if args.hosts else ["127.0.0.1"] * 3
    # Below the ephemeral range (32768+), where the outgoing connections of other work can hold a port.
    base = args.port_base or 20000 + random.randrange(120) * 100
    nodes = [Node(i + 1, hosts[i], base + 21 + i, base + 11 + i, os.path.join(work, f"n{i + 1}"),
                  args.netns[i] if args.netns else None, args.binary, args.extra, work, args.log)
             for i in range(3)]
    rec, stop = Recorder(), threading.Event()
    trials, steady = [], None
    try:
        nodes[0].start()
        wait(nodes[0].ready, 30, "node 1")
        seed = f"{nodes[0].host}:{nodes[0].raft_port}"
        for n in nodes[1:]:
            n.start(join=seed)
        for n in nodes[1:]:
            wait(n.ready, 60, f"node {n.idx}")
        ids = node_id_map(nodes)
        for n in nodes:
            for _ in range(LOAD_PER_NODE):
                threading.Thread(target=load_worker, args=(n, rec, stop), daemon=True).start()
            threading.Thread(target=probe_worker, args=(n, rec, stop), daemon=True).start()
        if args.steady:
            wait(lambda: healthy(nodes, rec), REJOIN_LIMIT_S, "a healthy cluster")
            _, v0 = leader_of(nodes)
            t0 = now()
            time.sleep(args.steady)
            _, v1 = leader_of(nodes)
            done = rec.since(t0)
            steady = {"seconds": args.steady, "term_before": v0["term"], "term_after": v1["term"],
                      "publishes_ok": sum(1 for d in done if d[3]),
                      "publishes_failed": sum(1 for d in done if not d[3])}
            print(f"steady load for {args.steady}s: term {v0['term']} -> {v1['term']}, "
                  f"{steady['publishes_ok']} ok, {steady['publishes_failed']} failed", flush=True)
        for trial in range(1, args.trials + 1):
            wait(lambda: healthy(nodes, rec), REJOIN_LIMIT_S, "a healthy cluster before the trial")
            time.sleep(random.uniform(0.2, 0.6))  # faults land at random points of the heartbeat cycle
            leader_id, view = leader_of(nodes)
            old = ids[leader_id]
            survivors = [n for n in nodes if n is not old]
            term = view["term"]
            if args.mode == "kill":
                t0, wall0 = now(), time.time()
                old.kill()
            else:
                # The fault starts when the rules are in force: requests sent before may still pass.
                cut(old, survivors)
                t0, wall0 = now(), time.time()
            print(f"trial {trial:2d}: fault at {time.strftime('%H:%M:%S', time.gmtime(wall0))}.{int(wall0 % 1 * 1e6):06d}Z", flush=True)
            elected = None
            first_ok = None
            end = t0 + TRIAL_LIMIT_S
            while now() < end and first_ok is None:
                if elected is None:
                    lid, _ = leader_of(nodes, survivors)
                    if lid and lid != leader_id:
                        elected = now() - t0
                oks = [d[2] for d in rec.since(t0) if d[3] and d[0] != old.idx]
                if oks:
                    first_ok = min(oks) - t0
                time.sleep(0.005)
            window = [d for d in rec.since(t0) if d[1] < t0 + (first_ok or TRIAL_LIMIT_S)]
            # Requests already in flight at the fault and answered with an error count too.
            failures = sorted((round((d[2] - t0) * 1000), d[4]) for d in rec.done
                              if d[2] >= t0 and not d[3] and d[0] != old.idx)
            failed = len(failures)
            new_leader, v = leader_of(nodes, survivors)
            t = {
                "trial": trial, "mode": args.mode, "old_leader": leader_id, "new_leader": new_leader,
                "term_before": term, "term_after": v["term"] if v else None,
                "fault_wall_time": wall0,
                "first_ok_ms": round(first_ok * 1000, 1) if first_ok is not None else None,
                "election_seen_ms": round(elected * 1000, 1) if elected is not None else None,
                "failed_requests": failed, "requests_in_window": len(window),
                "failures_ms_status": summarize_failures(failures), "cut_node": old.idx,
            }
            trials.append(t)
            print(f"trial {trial:2d}: leader {leader_id} -> {new_leader}: first ack through a survivor after "
                  f"{t['first_ok_ms']} ms (new leader seen after {t['election_seen_ms']} ms, "
                  f"failed: {t['failures_ms_status'] or 'none'}, term {term} -> {t['term_after']})", flush=True)
            if args.mode == "kill":
                old.start()
            else:
                heal(old, args)
        stop.set()
    finally:
        stop.set()
        for n in nodes:
            n.kill()
        if args.mode == "partition":
            for n in nodes:
                subprocess.run(["ip", "netns", "exec", n.netns, "iptables", "-F"], check=False)
    summary = summarize(trials)
    print(json.dumps(summary))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"schema": "jumpnet-failover/1", "mode": args.mode, "extra_flags": args.extra,
                       "load": {"publishers_per_node": LOAD_PER_NODE, "probe_every_s": PROBE_EVERY_S},
                       "loadavg_1m": float(open("/proc/loadavg").read().split()[0]),
                       "summary": summary, "steady": steady, "trials": trials}, f, indent=2)
    if args.keep:
        print(f"logs: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def summarize_failures(failures):
    """[(ms after the fault, status)] grouped: {status: [first ms, last ms, count]}."""
    out = {}
    for ms, st in failures:
        o = out.setdefault(str(st), [ms, ms, 0])
        o[1], o[2] = ms, o[2] + 1
    return out


def summarize(trials):
    ok = [t["first_ok_ms"] for t in trials if t["first_ok_ms"] is not None]
    el = [t["election_seen_ms"] for t in trials if t["election_seen_ms"] is not None]
    return {
        "trials": len(trials), "recovered": len(ok),
        "first_ok_median_ms": statistics.median(ok) if ok else None,
        "first_ok_max_ms": max(ok) if ok else None,
        "first_ok_min_ms": min(ok) if ok else None,
        "election_seen_median_ms": statistics.median(el) if el else None,
        "election_seen_max_ms": max(el) if el else None,
        "extra_elections": sum(max(0, (t["term_after"] or 0) - t["term_before"] - 1) for t in trials),
    }


def iptables(ns, *rule):
    subprocess.run(["ip", "netns", "exec", ns, "iptables", *rule], check=True)


def cut(old, peers):
    """Drop everything between `old` and `peers`, both ways, in one atomic iptables-restore."""
    rules = ["*filter"]
    for p in peers:
        rules += [f"-A INPUT -s {p.host} -j DROP", f"-A OUTPUT -d {p.host} -j DROP"]
    rules.append("COMMIT\n")
    subprocess.run(["ip", "netns", "exec", old.netns, "iptables-restore", "--noflush"],
                   input="\n".join(rules).encode(), check=True)


def heal(old, args):
    if args.debug:
        subprocess.run(["ip", "netns", "exec", old.netns, "iptables", "-L", "-n", "-v"], check=False)
    iptables(old.netns, "-F")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["kill", "partition"])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--json")
    ap.add_argument("--steady", type=float, default=0,
                    help="first run the load this many seconds without faults and count elections")
    ap.add_argument("--binary", default=os.environ.get("JUMPNET_BIN", "target/x86_64-unknown-linux-musl/release/jumpnet"))
    ap.add_argument("--hosts", help="node addresses, comma-separated (partition mode: the namespaces' addresses)")
    ap.add_argument("--netns", type=lambda s: s.split(","), help="node namespaces, comma-separated")
    ap.add_argument("--port-base", type=int)
    ap.add_argument("--log", default="info", help="the nodes' log filter (JUMPNET_LOG)")
    ap.add_argument("--debug", action="store_true", help="show the firewall counters after each cut")
    ap.add_argument("--keep", action="store_true", help="keep the work dir with the nodes' logs")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.extra = extra
    if args.mode == "partition" and not (args.netns and args.hosts):
        sys.exit("partition mode runs through bench/failover.sh (it builds the namespaces)")
    run(args)


if __name__ == "__main__":
    main()

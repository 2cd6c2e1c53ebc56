"""Hostile clients against a real node: readers that never read (durability review H1), a raft port
left open when auth is on (H4), forged and oversize frames on the raft port, thousands of idle
connections. Publish latency is measured around each attack; bounds are generous, named constants.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import statistics
import struct
import time

import requests
from scenario import assert_all_pass

from faultlib import results
from faultlib.checker import Result
from faultlib.cluster import API_PORT, RAFT_PORT, Cluster
from faultlib.wait import hold
from jntest.wait import wait_until

# H1: the reproduction used 600 non-reading clients on a large topic
H1_CLIENTS = 600
HISTORY_MESSAGES = 200_000
HISTORY_VALUE = "h" * 100
HISTORY_BATCH = 2_000
PARK_S = 3.0  # time for the server to fill the non-readers' sockets and park their producers
LATENCY_SAMPLES = 50
PUBLISH_TIMEOUT_S = 15.0
P99_BOUND_S = 1.0  # a normal single publish takes milliseconds
IDLE_CONNECTIONS = 2_000  # per port
RSS_GROWTH_BOUND_MB = 256
MAX_FRAME = 512 << 20  # the raft port's largest frame (raft/network/codec.rs)
OVERSIZE_CONNECTIONS = 16
OVERSIZE_SENT = 1 << 20  # body bytes actually sent behind each announcement
OVERSIZE_RSS_BOUND_MB = 64  # what was sent plus slack; 16 x 512 MiB if announcements were allocated
OVER_MAX_CONNECTIONS = 4
START_REFUSAL_TIMEOUT_S = 10.0
MAGIC = b"JNRAFT1\n"


def node_url(net) -> str:
    return f"http://{net.ip(1)}:{API_PORT}"


def start_one(net, outdir, args=None) -> Cluster:
    c = Cluster(net, {1: os.path.join(outdir, "state1")}, outdir, args)
    c.start()
    c.form()
    return c


def publish_latencies(url: str, producer: str, n: int = LATENCY_SAMPLES, headers=None) -> tuple[list[float], list[str]]:
    """Sequential single-message publishes: (latencies of the acked ones, failures)."""
    s = requests.Session()
    lat, bad = [], []
    for seq in range(1, n + 1):
        t0 = time.monotonic()
        try:
            r = s.post(f"{url}/v1/topics/lat/messages", json={"messages": [{"value": f"{producer}:{seq}"}],
                       "producer_id": producer, "sequence": seq}, timeout=PUBLISH_TIMEOUT_S, headers=headers)
            if r.status_code == 200:
                lat.append(time.monotonic() - t0)
            else:
                bad.append(f"{r.status_code} after {time.monotonic() - t0:.1f}s")
        except requests.RequestException as e:
            bad.append(f"{type(e).__name__} after {time.monotonic() - t0:.1f}s")
        if len(bad) >= 3:
            break
    return lat, bad


def p99(lat: list[float]) -> float:
    return statistics.quantiles(lat, n=100)[98] if len(lat) >= 2 else float("inf")


def latency_result(name: str, before: tuple, during: tuple) -> Result:
    (lb, bb), (ld, bd) = before, during
    worst = p99(ld) if not bd else float("inf")
    fig = (f"p99 before {p99(lb) * 1000:.1f} ms, during {'∞' if worst == float('inf') else f'{worst * 1000:.1f} ms'}"
           f" ({len(ld)} acked, {len(bd)} failed)")
    ok = not bd and worst <= P99_BOUND_S
    return Result(name, ok, "" if ok else f"publishes failed or slowed beyond {P99_BOUND_S}s: {bd[:3]}", fig)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def raft_handshake(ip: str, secret: bytes) -> tuple[socket.socket, int]:
    """The raft port's handshake as a client knowing ``secret``: (socket, the server's verdict byte)."""
    s = socket.create_connection((ip, RAFT_PORT), timeout=5)
    s.sendall(MAGIC)
    hello = b""
    while len(hello) < 24:
        chunk = s.recv(24 - len(hello))
        if not chunk:
            raise ConnectionError("raft port closed during the handshake")
        hello += chunk
    assert hello[:8] == MAGIC, hello
    s.sendall(hmac.new(secret, b"jumpnet-raft-v1" + hello[8:], hashlib.sha256).digest())
    verdict = s.recv(1)
    if verdict != b"\0":
        return s, (verdict[0] if verdict else 255)
    # Second round: our nonce and cluster (none), the server's proof over it, its verdict and cluster.
    s.sendall(os.urandom(16) + b"\0")
    def read(n: int) -> bytes:
        got = b""
        while len(got) < n:
            chunk = s.recv(n - len(got))
            if not chunk:
                raise ConnectionError("raft port closed during the handshake's second round")
            got += chunk
        return got

    head = read(32 + 1 + 1)  # proof, verdict, length of the server's cluster id
    read(head[33])
    return s, head[32]


def forged_delete_topic(topic: str) -> bytes:
    """A raft frame ``RpcRequest::Forward(vec![Op::DeleteTopic { topic }])`` in bincode."""
    name = topic.encode()
    body = struct.pack("<I", 3) + struct.pack("<Q", 1) + struct.pack("<I", 4) + struct.pack("<Q", len(name)) + name
    return struct.pack(">I", len(body)) + body


def test_h1_readers_that_never_read_do_not_stall_publishes(net1, outdir):
    with net1.entered():
        c = start_one(net1, outdir)
        socks: list[socket.socket] = []
        try:
            url = node_url(net1)
            s = requests.Session()
            for i in range(0, HISTORY_MESSAGES, HISTORY_BATCH):
                r = s.post(f"{url}/v1/topics/hist/messages",
                           json={"messages": [{"value": HISTORY_VALUE}] * HISTORY_BATCH}, timeout=60)
                assert r.status_code == 200, r.text
            before = publish_latencies(url, "before")
            for _ in range(H1_CLIENTS):
                k = socket.socket()
                k.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                k.connect((net1.ip(1), API_PORT))
                k.sendall(f"GET /history/hist HTTP/1.1\r\nHost: {net1.ip(1)}\r\n\r\n".encode())
                socks.append(k)
            hold(PARK_S)
            during = publish_latencies(url, "during")
            res = [latency_result("publish_latency", before, during),
                   Result("node_alive", c[1].alive(), "" if c[1].alive() else "the node exited")]
            results.record(f"hostile: H1, {H1_CLIENTS} /history readers that never read", res)
        finally:
            for k in socks:
                k.close()
            c.close()
    assert_all_pass(res)


def test_h4_auth_without_peer_protection(net1, outdir):
    """--auth-file without a cluster secret: refuse to start (one clear line), or at least keep the
    raft port from taking a forged DeleteTopic from someone without the secret."""
    tokens = os.path.join(outdir, "tokens")
    with open(tokens, "w") as f:
        f.write("jnf-admin-token admin admin,publish,consume\n")
    auth = {"Authorization": "Bearer jnf-admin-token"}
    with net1.entered():
        c = Cluster(net1, {1: os.path.join(outdir, "state1")}, outdir, ["--auth-file", tokens])
        try:
            c[1].start()
            exited = wait_until(lambda: (not c[1].alive()) or c[1].api.livez(), timeout=START_REFUSAL_TIMEOUT_S,
                                what="the node to refuse to start or to serve") and not c[1].alive()
            if exited:
                lines = [x for x in c[1].log_tail(5).splitlines() if x.strip() and "jnf:" not in x]
                res = [Result("refuses_to_start", c[1].exit_code() != 0 and len(lines) >= 1,
                              figure=f"exit {c[1].exit_code()}: {lines[-1][:200] if lines else ''}")]
            else:
                c[1].api.session.headers.update(auth)
                c.form()
                r = c[1].api.request("POST", "/v1/topics/victim/messages", json={"messages": [{"value": "v"}]})
                assert r.status_code == 200, r.text
                s, verdict = raft_handshake(net1.ip(1), b"")
                accepted = verdict == 0
                if accepted:
                    s.sendall(forged_delete_topic("victim"))
                    s.settimeout(5)
                    try:
                        s.recv(4096)
                    except OSError:
                        pass
                s.close()
                gone = c[1].api.request("GET", "/v1/topics/victim").status_code == 404
                res = [Result("refuses_to_start", False,
                              "the node runs with --auth-file and no cluster secret, raft port open"),
                       Result("raft_port_refuses_forged_frames", not accepted and not gone,
                              ("handshake without the secret accepted; " if accepted else "") +
                              ("a forged Forward(DeleteTopic) deleted the topic without a token" if gone else ""))]
            results.record("hostile: H4, auth on without peer protection", res)
        finally:
            c.close()
    assert_all_pass(res)


def test_h4_raft_port_refuses_a_wrong_secret_and_garbage(net1, outdir):
    with net1.entered():
        c = start_one(net1, outdir, ["--cluster-secret", "jnf-right-secret"])
        try:
            url = node_url(net1)
            r = requests.post(f"{url}/v1/topics/victim/messages", json={"messages": [{"value": "v"}]}, timeout=10)
            assert r.status_code == 200, r.text
            s, verdict = raft_handshake(net1.ip(1), b"jnf-wrong-secret")
            refused = verdict != 0
            if not refused:
                s.sendall(forged_delete_topic("victim"))
            s.close()
            g = socket.create_connection((net1.ip(1), RAFT_PORT), timeout=5)
            g.sendall(os.urandom(1 << 16))
            g.close()
            still = requests.get(f"{url}/v1/topics/victim", timeout=10).status_code == 200
            res = [Result("wrong_secret_refused", refused),
                   Result("topic_intact", still),
                   Result("node_alive", c[1].alive())]
            results.record("hostile: raft port, wrong secret and garbage", res)
        finally:
            c.close()
    assert_all_pass(res)


def test_oversize_frames_on_the_raft_port(net1, outdir):
    """Frames announcing the maximum size with little behind them must not cost the announced memory,
    and frames announcing more than the maximum must be refused (the connection closed)."""
    with net1.entered():
        c = start_one(net1, outdir)
        socks = []
        try:
            pid = c[1].proc.pid
            base = rss_mb(pid)
            for _ in range(OVERSIZE_CONNECTIONS):
                s, verdict = raft_handshake(net1.ip(1), b"")
                socks.append(s)
                if verdict == 0:
                    s.sendall(struct.pack(">I", MAX_FRAME) + b"\0" * OVERSIZE_SENT)
            hold(1.0)
            grown = rss_mb(pid) - base
            closed = 0
            for _ in range(OVER_MAX_CONNECTIONS):
                s, verdict = raft_handshake(net1.ip(1), b"")
                if verdict == 0:
                    s.sendall(struct.pack(">I", 0xFFFF_FFFF))
                    s.settimeout(5)
                    try:
                        closed += s.recv(1) == b""
                    except OSError:
                        closed += 1
                else:
                    closed += 1
                s.close()
            during = publish_latencies(node_url(net1), "oversize", n=20)
            res = [Result("memory_bounded", grown <= OVERSIZE_RSS_BOUND_MB,
                          f"RSS grew {grown:.0f} MB for {OVERSIZE_CONNECTIONS} frames announcing "
                          f"{MAX_FRAME >> 20} MiB with {OVERSIZE_SENT >> 20} MiB sent each",
                          f"+{grown:.0f} MB (bound {OVERSIZE_RSS_BOUND_MB})"),
                   Result("over_max_refused", closed == OVER_MAX_CONNECTIONS,
                          f"{OVER_MAX_CONNECTIONS - closed} connections announcing 4 GiB were kept open"),
                   Result("node_alive", c[1].alive()),
                   Result("publishes_served", not during[1], f"{during[1][:3]}")]
            results.record(f"hostile: oversize frames on the raft port ({OVERSIZE_CONNECTIONS} x "
                           f"{MAX_FRAME >> 20} MiB announced)", res)
        finally:
            for s in socks:
                s.close()
            c.close()
    assert_all_pass(res)


def test_thousands_of_idle_connections(net1, outdir):
    with net1.entered():
        c = start_one(net1, outdir)
        socks = []
        try:
            url = node_url(net1)
            pid = c[1].proc.pid
            base = rss_mb(pid)
            before = publish_latencies(url, "idle-before")
            for port in (API_PORT, RAFT_PORT):
                for _ in range(IDLE_CONNECTIONS):
                    socks.append(socket.create_connection((net1.ip(1), port), timeout=5))
            during = publish_latencies(url, "idle-during")
            grown = rss_mb(pid) - base
            res = [latency_result("publish_latency", before, during),
                   Result("memory_bounded", grown <= RSS_GROWTH_BOUND_MB, f"RSS grew {grown:.0f} MB",
                          f"+{grown:.0f} MB for {len(socks)} connections"),
                   Result("node_alive", c[1].alive())]
            results.record(f"hostile: {IDLE_CONNECTIONS} idle connections on each of the API and raft ports", res)
        finally:
            for s in socks:
                s.close()
            c.close()
    assert_all_pass(res)

"""Client load that records everything into a :class:`~faultlib.history.History`.

- producers: one request in flight each, ``producer_id`` + ``sequence``; a message is retried (same
  sequence, next node) until acknowledged or ``MAX_ATTEMPTS`` is reached;
- probes: one-message producers fired at every node every ``PROBE_INTERVAL_S`` with a short timeout,
  so the time until a node serves writes again after a fault is measured to ~0.1 s;
- strong readers: ``consistency=strong`` reads aimed at the newest acknowledged offset.

Threads must be started inside the client namespace (``Net.entered``).
"""

from __future__ import annotations

import itertools
import threading
import time

import requests
import urllib3

from .history import ABSENT, MAYBE, OK, Attempt, History, Read, now, value_of

CLIENT_TIMEOUT = (1.0, 5.0)  # connect, read
PROBE_TIMEOUT = (0.5, 1.0)
MAX_ATTEMPTS = 8
RETRY_BACKOFF_S = 0.05
PROBE_INTERVAL_S = 0.1
PROBES_PER_NODE = 6
READ_INTERVAL_S = 0.05


def classify(resp: requests.Response | None, exc: Exception | None) -> tuple[str, int | None, str]:
    """(outcome, offset, detail) of one publish attempt, by the broker contract."""
    if exc is not None:
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        if isinstance(exc, requests.exceptions.ConnectTimeout) or isinstance(
                reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)):
            return ABSENT, None, f"not connected: {type(exc).__name__}"
        return MAYBE, None, f"no answer: {type(exc).__name__}"
    assert resp is not None
    if resp.status_code == 200:
        return OK, int(resp.json()["offsets"][0]), ""
    try:
        err = resp.json()["error"]
        code = err["code"] if isinstance(err.get("message"), str) else f"raw:{resp.text[:80]}"
    except Exception:  # noqa: BLE001 - not the SPEC §3 error shape
        code = f"raw:{resp.text[:80]}"
    if resp.status_code == 503:
        return ABSENT, None, code  # the contract: "503 means nothing was stored"
    return MAYBE, None, code


class Workload:
    def __init__(self, history: History, nodes: dict[int, str], topic: str, *, producers_per_node: int = 1,
                 probes: bool = True, readers: bool = True, value_pad: int = 0, net=None):
        """``nodes``: node id -> API base URL; ``net``: the Net whose client namespace it must run in."""
        self.h, self.nodes, self.topic = history, nodes, topic
        self.stop_ev = threading.Event()
        self.threads: list[threading.Thread] = []
        self.producers_per_node, self.probes, self.readers = producers_per_node, probes, readers
        self.pad = "x" * value_pad
        self._probe_ids = itertools.count(1)
        self._lock = threading.Lock()
        self.net = net

    def _publish(self, s: requests.Session, node: int, producer: str, seq: int, timeout) -> Attempt:
        body = {"messages": [{"value": value_of(producer, seq), **({"key": self.pad} if self.pad else {})}],
                "producer_id": producer, "sequence": seq}
        t0 = now()
        resp = exc = None
        try:
            resp = s.post(f"{self.nodes[node]}/v1/topics/{self.topic}/messages", json=body, timeout=timeout)
        except requests.RequestException as e:
            exc = e
        outcome, offset, detail = classify(resp, exc)
        a = Attempt(producer, seq, node, t0, now(), outcome, offset,
                    None if resp is None else resp.status_code, detail)
        self.h.attempt(a)
        return a

    def _producer(self, name: str, home: int) -> None:
        s = requests.Session()
        ids = list(self.nodes)
        seq = 0
        while not self.stop_ev.is_set():
            seq += 1
            node = home
            for _ in range(MAX_ATTEMPTS):
                a = self._publish(s, node, name, seq, CLIENT_TIMEOUT)
                if a.outcome == OK or self.stop_ev.is_set():
                    break
                node = ids[(ids.index(node) + 1) % len(ids)]
                self.stop_ev.wait(RETRY_BACKOFF_S)

    def _prober(self, node: int, k: int) -> None:
        s = requests.Session()
        self.stop_ev.wait(PROBE_INTERVAL_S * k / PROBES_PER_NODE)
        while not self.stop_ev.is_set():
            with self._lock:
                pid = f"pr{node}-{next(self._probe_ids)}"
            self._publish(s, node, pid, 1, PROBE_TIMEOUT)
            self.stop_ev.wait(PROBE_INTERVAL_S)

    def _reader(self, name: str, node: int) -> None:
        s = requests.Session()
        while not self.stop_ev.wait(READ_INTERVAL_S):
            latest = self.h.latest_ack
            if latest is None:
                continue
            offset = max(0, latest[0] - 5)
            t0 = now()
            try:
                r = s.get(f"{self.nodes[node]}/v1/topics/{self.topic}/messages",
                          params={"offset": offset, "limit": 20, "consistency": "strong"}, timeout=CLIENT_TIMEOUT)
            except requests.RequestException:
                continue
            t1 = now()
            if r.status_code == 200:
                page = r.json()
                msgs = [(int(m["offset"]), m["value"]) for m in page.get("messages", [])]
                self.h.read(Read(name, node, t0, t1, offset, msgs, int(page["high_watermark"])))
            elif r.status_code == 416:
                # the node claims the log ends at or before `offset`, which was acked before t0
                self.h.read(Read(name, node, t0, t1, offset, [], offset))

    def start(self) -> "Workload":
        if self.net is not None:
            self.net.assert_inside()  # threads inherit the namespace of the thread starting them
        def spawn(fn, *args):
            t = threading.Thread(target=fn, args=args, daemon=True, name=f"jnf-{fn.__name__}-{args[0]}")
            t.start()
            self.threads.append(t)

        for n in self.nodes:
            for k in range(self.producers_per_node):
                spawn(self._producer, f"p{n}-{k}", n)
            if self.probes:
                for k in range(PROBES_PER_NODE):
                    spawn(self._prober, n, k)
            if self.readers:
                spawn(self._reader, f"r{n}", n)
        return self

    def wait_acks(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.h.acked_count() >= count:
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=CLIENT_TIMEOUT[1] + 5)

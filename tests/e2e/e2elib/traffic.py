"""A publisher running in the background while a scenario disturbs the cluster.

It publishes one message at a time through the client Service (``Cluster.via_service``), each with
the publisher's ``producer_id`` and its own ``sequence``, so a retry after an unknown outcome (a time-out,
a node going away mid-request) is stored once (SPEC section 3). Every attempt is logged with its time
and outcome; a message counts as acknowledged only on ``200``. On ``stop`` the message in flight is
retried until it is acknowledged, so no outcome stays unknown and the topic must hold exactly the
acknowledged values, in order.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timezone
from dataclasses import dataclass, field

from jntest.cluster import summarize

from .cluster import Cluster


@dataclass
class Attempt:
    t: float  # time.monotonic(), comparable with the monitor's samples
    wall: float  # time.time(), comparable with Event times and log lines
    seq: int
    ok: bool
    backend: str
    detail: str = ""


@dataclass
class Outage:
    """Consecutive failed attempts, from the first failure to the next success."""
    start: float
    end: float
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def __str__(self) -> str:
        kinds = sorted({a.detail.split(":")[0] for a in self.attempts})
        backends = sorted({a.backend for a in self.attempts})
        at = datetime.fromtimestamp(self.attempts[0].wall, timezone.utc).strftime("%H:%M:%S.%f")
        return (f"{len(self.attempts)} failed attempts over {self.seconds:.2f}s from {at} UTC via {backends}: "
                f"{kinds}; first: {self.attempts[0].detail[:400]}")


class Publisher:
    def __init__(self, cluster: Cluster, topic: str, label: str = "m", pause: float = 0.02):
        self.cluster = cluster
        self.topic = topic
        self.label = label
        self.pause = pause  # between messages: a steady, modest load on a 2-core machine
        self.producer_id = f"e2e-{uuid.uuid4().hex[:8]}"
        self.acked: list[str] = []
        self.attempts: list[Attempt] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"publisher-{topic}", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> "Publisher":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_acked(self, n: int, timeout: float = 30) -> None:
        """Until at least ``n`` messages are acknowledged (the publisher is really running)."""
        deadline = time.monotonic() + timeout
        while len(self.acked) < n:
            if self.error or not self._thread.is_alive():
                raise AssertionError(f"publisher stopped: {self.error!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"publisher: {len(self.acked)} of {n} messages acknowledged after "
                                     f"{timeout}s; outages: {[str(o) for o in self.outages()]}")
            time.sleep(0.05)

    def stop(self, timeout: float = 60) -> None:
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"publisher of {self.topic} did not finish its last message in {timeout}s")
        if self.error:
            raise AssertionError(f"publisher of {self.topic} failed: {self.error!r}")

    # -- the loop ----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            seq = 0
            while not self._stop.is_set():
                seq += 1
                self._publish(seq, f"{self.label}-{seq}")
                self._stop.wait(self.pause)
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc

    def _publish(self, seq: int, value: str) -> None:
        give_up = None  # once stopping: a bounded number of seconds to settle the message in flight
        while True:
            backend, detail, ok = "?", "", False
            try:
                backend, node = self.cluster.via_service()
                r = node.publish(self.topic, [value], producer_id=self.producer_id, sequence=seq)
                ok = r.status_code == 200
                detail = "" if ok else f"http {r.status_code}: {r.text[:200]}"
                if not ok:  # what that broker believed right then: the first clue when reading a failure
                    try:
                        detail += f" [its view: {summarize(node.cluster(local=True))}]"
                    except Exception as exc:  # noqa: BLE001
                        detail += f" [no view: {type(exc).__name__}]"
                if r.status_code in (400, 409, 413):  # the request itself is wrong: retrying cannot help
                    raise AssertionError(f"publish {value}: {detail}")
            except (ConnectionError, OSError) as exc:
                detail = f"connection: {exc!r:.200}"
            except AssertionError:
                raise
            except Exception as exc:  # noqa: BLE001 - requests' exceptions: time-outs, resets
                detail = f"{type(exc).__name__}: {exc!s:.200}"
            self.attempts.append(Attempt(time.monotonic(), time.time(), seq, ok, backend, detail))
            if ok:
                self.acked.append(value)
                return
            if self._stop.is_set():
                give_up = give_up or time.monotonic() + 45
                if time.monotonic() > give_up:
                    raise AssertionError(f"publish {value} never acknowledged; last: {detail}")
            time.sleep(0.1)  # retry back-off

    # -- analysis ----------------------------------------------------------------------------
    @property
    def failures(self) -> list[Attempt]:
        return [a for a in self.attempts if not a.ok]

    def outages(self) -> list[Outage]:
        out: list[Outage] = []
        cur: Outage | None = None
        for a in self.attempts:
            if not a.ok:
                if cur is None:
                    cur = Outage(a.t, a.t)
                cur.attempts.append(a)
            elif cur is not None:
                cur.end = a.t
                out.append(cur)
                cur = None
        if cur is not None:
            out.append(cur)
        return out

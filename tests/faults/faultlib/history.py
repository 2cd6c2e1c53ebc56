"""What clients did and saw, recorded for the checker (thread-safe, append-only).

Every publish carries ``producer_id`` + ``sequence`` and the value ``"<producer>:<sequence>"``, so a
retry is safe and a duplicate is visible. Each HTTP attempt is one :class:`Attempt`; a message's
fate is decided from all its attempts (:func:`fate`):

- ``ok``     -- some attempt answered 200: the message must be in the log once, at that offset;
- ``absent`` -- every attempt was refused with a status the contract reads as "nothing was stored"
  (503, or the connection was refused before the request was sent): it must not be in the log;
- ``maybe``  -- the outcome is unknown (timeout, 504, connection lost, 409): at most once.

A strong read (``consistency=strong``) is a :class:`Read` with the page it returned.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

OK, ABSENT, MAYBE = "ok", "absent", "maybe"


def now() -> float:
    return time.monotonic()


def value_of(producer: str, seq: int) -> str:
    return f"{producer}:{seq}"


def parse_value(v: str) -> tuple[str, int] | None:
    p, _, s = v.rpartition(":")
    return (p, int(s)) if p and s.isdigit() else None


@dataclass
class Attempt:
    producer: str
    seq: int
    node: int
    start: float
    end: float
    outcome: str  # OK, ABSENT or MAYBE for this attempt alone
    offset: int | None = None
    status: int | None = None  # HTTP status, None when no answer
    detail: str = ""


@dataclass
class Read:
    reader: str
    node: int
    start: float
    end: float
    offset: int  # asked from
    messages: list[tuple[int, str]]  # (offset, value) returned
    high_watermark: int


@dataclass
class Event:
    """A fault or heal applied by the nemesis, with the nodes still forming a majority."""

    t: float
    name: str
    majority: list[int] = field(default_factory=list)
    needs_new_leader: bool = False


class History:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.reads: list[Read] = []
        self.events: list[Event] = []
        # newest acknowledged (offset, value, end) for readers to aim at
        self.latest_ack: tuple[int, str, float] | None = None

    def attempt(self, a: Attempt) -> None:
        with self._lock:
            self.attempts.append(a)
            if a.outcome == OK and a.offset is not None:
                if self.latest_ack is None or a.offset > self.latest_ack[0]:
                    self.latest_ack = (a.offset, value_of(a.producer, a.seq), a.end)

    def read(self, r: Read) -> None:
        with self._lock:
            self.reads.append(r)

    def event(self, name: str, majority=(), needs_new_leader: bool = False) -> Event:
        e = Event(now(), name, list(majority), needs_new_leader)
        with self._lock:
            self.events.append(e)
        return e

    def acked_count(self) -> int:
        with self._lock:
            return sum(1 for a in self.attempts if a.outcome == OK)


def fate(attempts: list[Attempt]) -> str:
    outcomes = {a.outcome for a in attempts}
    if OK in outcomes:
        return OK
    if MAYBE in outcomes:
        return MAYBE
    return ABSENT

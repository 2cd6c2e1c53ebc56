"""The checker catches each kind of violation it exists for (so no scenario can pass vacuously).

A clean synthetic history passes every check; each test then injects one violation — a lost ack,
a duplicate, a 503 that stored, a phantom, a reorder, a diverging node, a stale strong read, a slow
recovery — and expects exactly that check to fail.
"""

from __future__ import annotations

import copy

from faultlib import checker
from faultlib.history import ABSENT, MAYBE, OK, Attempt, Event, History, Read, value_of

T0 = 1000.0


def clean() -> tuple[History, dict[int, list[tuple[int, str]]]]:
    """Two producers, five messages each acked in order, one maybe that was stored, one that was not,
    one 503; a strong read after the first three acks; a fault whose majority recovered in 0.5 s."""
    h = History()
    log = []
    off = 0
    t = T0
    for seq in range(1, 6):
        for p in ("a", "b"):
            h.attempt(Attempt(p, seq, 1, t, t + 0.01, OK, off, 200))
            log.append((off, value_of(p, seq)))
            off += 1
            t += 0.1
    # a maybe stored (504, then in the log) and a maybe not stored (timeout, not in the log)
    h.attempt(Attempt("a", 6, 2, t, t + 5, MAYBE, None, 504, "commit_timeout"))
    log.append((off, value_of("a", 6)))
    off += 1
    h.attempt(Attempt("b", 6, 2, t, t + 5, MAYBE, None, None, "ReadTimeout"))
    h.attempt(Attempt("c", 1, 3, t, t + 0.01, ABSENT, None, 503, "no_quorum"))
    # strong read starting after the first three acks ended, seeing offsets 0..2
    h.read(Read("r1", 2, T0 + 0.25, T0 + 0.3, 0, log[:3], 3))
    # a fault at T0 + 2 with majority [1, 2]; both ack 0.5 s later
    h.events.append(Event(T0 + 2, "leader isolated", [1, 2], True))
    for n in (1, 2):
        h.attempt(Attempt(f"pr{n}", 1, n, T0 + 2.3, T0 + 2.5, OK, off, 200))
        log.append((off, value_of(f"pr{n}", 1)))
        off += 1
    return h, {1: list(log), 2: list(log), 3: list(log)}


def failed(h, logs, bound=1.0) -> set[str]:
    return {r.check for r in checker.check_all(h, logs, recovery_bound_s=bound) if not r.ok}


def test_a_clean_history_passes_every_check():
    h, logs = clean()
    res = checker.check_all(h, logs, recovery_bound_s=1.0)
    assert all(r.ok for r in res), "\n".join(r.line() for r in res)
    assert {r.check for r in res} == {"no_lost_ack", "no_duplicate", "nothing_stored_absent", "no_phantom",
                                      "producer_order", "identical_logs", "strong_reads", "recovery"}


def test_a_lost_acknowledged_message_is_caught():
    h, logs = clean()
    for n in logs:
        logs[n] = [e for e in logs[n] if e[1] != "a:3"]
    assert failed(h, logs) >= {"no_lost_ack"}


def test_an_ack_at_another_offset_is_caught():
    h, logs = clean()
    for n in logs:
        logs[n] = [(o, {"a:2": "b:2", "b:2": "a:2"}.get(v, v)) for o, v in logs[n]]
    assert "no_lost_ack" in failed(h, logs)


def test_a_duplicate_is_caught_also_of_a_maybe():
    h, logs = clean()
    for n in logs:
        logs[n] = logs[n] + [(len(logs[n]), "a:6")]  # the 504 message stored twice
    assert "no_duplicate" in failed(h, logs)
    h, logs = clean()
    for n in logs:
        logs[n] = logs[n] + [(len(logs[n]), "b:1")]  # an acked message twice
    assert "no_duplicate" in failed(h, logs)


def test_a_message_refused_with_503_but_stored_is_caught():
    h, logs = clean()
    for n in logs:
        logs[n] = logs[n] + [(len(logs[n]), "c:1")]
    assert failed(h, logs) == {"nothing_stored_absent"}


def test_a_value_nobody_sent_is_caught():
    h, logs = clean()
    for n in logs:
        logs[n] = logs[n] + [(len(logs[n]), "zz:9")]
    assert failed(h, logs) == {"no_phantom"}


def test_a_producer_reordered_is_caught():
    h, logs = clean()
    for n in logs:
        log = logs[n]
        i, j = [k for k, (_, v) in enumerate(log) if v in ("a:4", "a:5")]
        log[i], log[j] = (log[i][0], log[j][1]), (log[j][0], log[i][1])
    assert "producer_order" in failed(h, logs)


def test_a_diverging_node_is_caught():
    h, logs = clean()
    logs[3] = logs[3][:-1]
    assert failed(h, logs) == {"identical_logs"}
    h, logs = clean()
    logs[2] = copy.deepcopy(logs[2])
    logs[2][4] = (4, "a:999")
    assert "identical_logs" in failed(h, logs)


def test_a_stale_strong_read_is_caught():
    h, logs = clean()
    # began after offsets 0..2 were acked, but shows a log of 2 messages
    h.read(Read("r2", 3, T0 + 0.25, T0 + 0.3, 0, logs[1][:2], 2))
    assert failed(h, logs) == {"strong_reads"}


def test_a_strong_read_of_a_message_the_log_lost_is_caught():
    h, logs = clean()
    h.read(Read("r3", 3, T0 + 0.25, T0 + 0.3, 0, [(0, "a:1"), (1, "b:7")], 3))
    assert failed(h, logs) == {"strong_reads"}


def test_a_slow_or_missing_recovery_is_caught():
    h, logs = clean()
    assert failed(h, logs, bound=0.4) == {"recovery"}
    h, logs = clean()
    h.attempts = [a for a in h.attempts if a.producer != "pr2"]
    for n in logs:
        logs[n] = [e for e in logs[n] if e[1] != "pr2:1"]
    res = {r.check: r for r in checker.check_all(h, logs, recovery_bound_s=10.0)}
    assert not res["recovery"].ok and "never" in res["recovery"].figure

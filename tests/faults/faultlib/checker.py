"""The guarantees, checked on a recorded :class:`~faultlib.history.History` and the final logs.

Each check returns a :class:`Result`; none of them stops at the first violation, so a failing run
says everything that went wrong. ``logs`` maps a node id to its whole log of the test topic as
``[(offset, value), ...]``; the first node's log is the reference for the message checks, and
``identical_logs`` checks the others against it.

=====================  =========================================================================
check                  holds when
=====================  =========================================================================
no_lost_ack            every acknowledged message is in the log, at the offset it was acked with
no_duplicate           no value is in the log twice (a "maybe" at most once, an ack exactly once)
nothing_stored_absent  no message answered only with "nothing was stored" (503) is in the log
no_phantom             every value in the log was sent by some producer
producer_order         each producer's messages are in the log in its sequence order
identical_logs         every node holds the same log
strong_reads           a strong read shows every write acknowledged before it began, and only
                       messages that are in the final log at the offsets it returned them
recovery               after each fault, every node of the majority acknowledged a write within
                       the bound (figure: median and max per fault kind)
=====================  =========================================================================
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

from .history import ABSENT, MAYBE, OK, History, fate, parse_value, value_of

Log = list[tuple[int, str]]
EXAMPLES = 5


@dataclass
class Result:
    check: str
    ok: bool
    detail: str = ""
    figure: str = ""

    def line(self) -> str:
        s = f"{'PASS' if self.ok else 'FAIL'} {self.check}"
        if self.figure:
            s += f" [{self.figure}]"
        if self.detail:
            s += f": {self.detail}"
        return s


def _summary(violations: list[str], what: str) -> str:
    if not violations:
        return ""
    more = f" (+{len(violations) - EXAMPLES} more)" if len(violations) > EXAMPLES else ""
    return f"{len(violations)} {what}: " + "; ".join(violations[:EXAMPLES]) + more


def messages(history: History) -> dict[tuple[str, int], list]:
    by: dict[tuple[str, int], list] = defaultdict(list)
    for a in history.attempts:
        by[(a.producer, a.seq)].append(a)
    return by


def _positions(log: Log) -> dict[str, list[int]]:
    pos: dict[str, list[int]] = defaultdict(list)
    for off, v in log:
        pos[v].append(off)
    return pos


def no_lost_ack(history: History, log: Log) -> Result:
    pos = _positions(log)
    bad = []
    acked = 0
    for (p, s), atts in sorted(messages(history).items()):
        if fate(atts) != OK:
            continue
        acked += 1
        v = value_of(p, s)
        offs = {a.offset for a in atts if a.outcome == OK}
        found = pos.get(v, [])
        if not found:
            bad.append(f"{v} acked at offset {sorted(offs)} is missing")
        elif not offs & set(found):
            bad.append(f"{v} acked at offset {sorted(offs)} is at {found}")
        elif len(offs) > 1:
            bad.append(f"{v} acked at two offsets {sorted(offs)}")
    return Result("no_lost_ack", not bad, _summary(bad, "acknowledged messages lost or moved"),
                  f"{acked} acked")


def no_duplicate(log: Log) -> Result:
    dups = [f"{v} at {offs}" for v, offs in _positions(log).items() if len(offs) > 1]
    return Result("no_duplicate", not dups, _summary(dups, "duplicated values"))


def nothing_stored_absent(history: History, log: Log) -> Result:
    pos = _positions(log)
    bad = []
    for (p, s), atts in messages(history).items():
        v = value_of(p, s)
        if fate(atts) == ABSENT and v in pos:
            codes = sorted({a.status for a in atts if a.status is not None})
            bad.append(f"{v} answered {codes} ('nothing was stored') is at offset {pos[v]}")
    return Result("nothing_stored_absent", not bad, _summary(bad, "messages stored though refused"))


def no_phantom(history: History, log: Log) -> Result:
    sent = set(messages(history))
    bad = [f"{v}@{off}" for off, v in log if parse_value(v) not in sent]
    return Result("no_phantom", not bad, _summary(bad, "values nobody sent"))


def producer_order(log: Log) -> Result:
    by: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for off, v in log:
        pv = parse_value(v)
        if pv:
            by[pv[0]].append((pv[1], off))
    bad = []
    for p, items in by.items():
        items.sort()
        for (s1, o1), (s2, o2) in zip(items, items[1:]):
            if o2 <= o1:
                bad.append(f"{p}: seq {s2} at offset {o2} not after seq {s1} at {o1}")
    return Result("producer_order", not bad, _summary(bad, "order violations"))


def identical_logs(logs: dict[int, Log]) -> Result:
    ids = sorted(logs)
    if not ids:
        return Result("identical_logs", False, "no log read from any node")
    ref_id = ids[0]
    ref = logs[ref_id]
    bad = []
    for n in ids[1:]:
        other = logs[n]
        if other == ref:
            continue
        first = next((i for i, (a, b) in enumerate(zip(ref, other)) if a != b), min(len(ref), len(other)))
        a = ref[first] if first < len(ref) else None
        b = other[first] if first < len(other) else None
        bad.append(f"node {n} differs from node {ref_id} at entry {first}: {b} vs {a} "
                   f"(lengths {len(other)} vs {len(ref)})")
    return Result("identical_logs", not bad, _summary(bad, "diverging nodes"),
                  f"{len(ref)} messages on {len(ids)} nodes")


def strong_reads(history: History, log: Log) -> Result:
    acks = sorted((a.end, a.offset, value_of(a.producer, a.seq))
                  for a in history.attempts if a.outcome == OK and a.offset is not None)
    ends = [e for e, _, _ in acks]
    prefix_max: list[tuple[int, str]] = []
    best = (-1, "")
    for _, off, v in acks:
        if off > best[0]:
            best = (off, v)
        prefix_max.append(best)
    at = dict(log)
    bad = []
    for r in history.reads:
        i = bisect.bisect_left(ends, r.start)
        if i > 0:
            off, v = prefix_max[i - 1]
            if off >= r.high_watermark:
                bad.append(f"{r.reader} on node {r.node}: high watermark {r.high_watermark} misses {v} "
                           f"(offset {off}) acked before the read began")
        for off, v in r.messages:
            if at.get(off) != v:
                bad.append(f"{r.reader} on node {r.node} read {v} at offset {off}; the final log has "
                           f"{at.get(off)!r} there")
    return Result("strong_reads", not bad, _summary(bad, "stale or phantom strong reads"),
                  f"{len(history.reads)} reads")


def recoveries(history: History) -> list[tuple[str, float, dict[int, float]]]:
    """Per fault with a majority: seconds until every majority node acked a write (and per node)."""
    out = []
    events = sorted(history.events, key=lambda e: e.t)
    acks_by_node: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for a in history.attempts:
        if a.outcome == OK:
            acks_by_node[a.node].append((a.start, a.end))
    for n in acks_by_node:
        acks_by_node[n].sort()
    for k, e in enumerate(events):
        if not e.majority:
            continue
        until = events[k + 1].t if k + 1 < len(events) else math.inf
        per_node = {}
        for n in e.majority:
            firsts = [end for start, end in acks_by_node.get(n, []) if e.t <= start and end <= until]
            per_node[n] = (min(firsts) - e.t) if firsts else math.inf
        out.append((e.name, max(per_node.values()), per_node))
    return out


def _recoveries_at(history: History) -> list[tuple[str, float, dict[int, float], float, float]]:
    """:func:`recoveries`, each with its fault's start and end (the next event)."""
    events = sorted((e for e in history.events), key=lambda e: e.t)
    spans = [(e.t, events[k + 1].t if k + 1 < len(events) else math.inf)
             for k, e in enumerate(events) if e.majority]
    return [(*r, t, until) for r, (t, until) in zip(recoveries(history), spans)]


def _answers(history: History, node: int, t: float, until: float) -> str:
    """What `node` answered to the writes begun during [t, until): the first clue to a slow recovery."""
    got = sorted((a for a in history.attempts if a.node == node and t <= a.start < until), key=lambda a: a.start)
    if not got:
        return "no write was sent to it"
    shown = [f"+{a.start - t:.2f}s..+{a.end - t:.2f}s {a.outcome} {a.status or '-'} {a.detail[:80]}".rstrip()
             for a in got[:6]]
    return f"{len(got)} writes: " + " | ".join(shown) + (" | ..." if len(got) > 6 else "")


def _fmt(s: float) -> str:
    return "never" if math.isinf(s) else f"{s:.2f}s"


def recovery(history: History, bound_s: float) -> Result:
    recs = recoveries(history)
    by: dict[str, list[float]] = defaultdict(list)
    for name, s, _ in recs:
        by[name].append(s)
    figs = []
    for name, xs in by.items():
        finite = [x for x in xs if not math.isinf(x)]
        med = statistics.median(xs) if not any(map(math.isinf, xs)) else math.inf
        mx = max(xs)
        figs.append(f"{name}: median {_fmt(med)} max {_fmt(mx)} (n={len(xs)}"
                    f"{'' if len(finite) == len(xs) else f', {len(xs) - len(finite)} never'})")
    bad = [f"{name} took {_fmt(s)} (" + ", ".join(f"node {n} {_fmt(x)}" for n, x in per.items()) + ")"
           + "".join(f"\n      node {n}: {_answers(history, n, t, until)}" for n, x in per.items() if x > bound_s)
           for name, s, per, t, until in _recoveries_at(history) if s > bound_s]
    return Result("recovery", bool(recs) and not bad,
                  _summary(bad, f"faults where the majority served writes after more than {bound_s:.2f}s")
                  or ("" if recs else "no fault with a majority was recorded"),
                  "; ".join(figs))


def check_all(history: History, logs: dict[int, Log], *, recovery_bound_s: float | None = None,
              strong: bool = True) -> list[Result]:
    ref = logs[min(logs)] if logs else []
    results = [
        no_lost_ack(history, ref),
        no_duplicate(ref),
        nothing_stored_absent(history, ref),
        no_phantom(history, ref),
        producer_order(ref),
        identical_logs(logs),
    ]
    if strong:
        results.append(strong_reads(history, ref))
    if recovery_bound_s is not None:
        results.append(recovery(history, recovery_bound_s))
    return results


def counts(history: History) -> dict[str, int]:
    c = {OK: 0, MAYBE: 0, ABSENT: 0}
    for atts in messages(history).values():
        c[fate(atts)] += 1
    return c

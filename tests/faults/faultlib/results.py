"""Check results of every scenario, for the end-of-run table and ``target/faults/results.json``.

A scenario records its :class:`~faultlib.checker.Result` list and figures here, then asserts that
every check passed; the table shows all checks of all scenarios, failed or not, so one run gives the
whole baseline.
"""

from __future__ import annotations

import json
import os

from .checker import Result

ROWS: list[dict] = []


def record(scenario: str, results: list[Result], figures: dict[str, str] | None = None) -> None:
    ROWS.append({
        "scenario": scenario,
        "checks": [{"check": r.check, "ok": r.ok, "detail": r.detail, "figure": r.figure} for r in results],
        "figures": figures or {},
    })


def failures(results: list[Result]) -> str:
    return "\n".join(r.line() for r in results if not r.ok)


def write(path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(ROWS, f, indent=1)


def table() -> list[str]:
    lines = []
    for row in ROWS:
        failed = [c for c in row["checks"] if not c["ok"]]
        status = "PASS" if not failed else "FAIL " + ",".join(c["check"] for c in failed)
        lines.append(f"{row['scenario']}: {status}")
        for c in row["checks"]:
            mark = "ok  " if c["ok"] else "FAIL"
            extra = f" [{c['figure']}]" if c["figure"] else ""
            lines.append(f"    {mark} {c['check']}{extra}" + (f": {c['detail']}" if c["detail"] else ""))
        for k, v in row["figures"].items():
            lines.append(f"    figure {k}: {v}")
    return lines

"""Figures a test reports (image size, start-up time): printed in pytest's terminal summary.

The conftest.py of a suite calls ``print_report`` from ``pytest_terminal_summary``; tests call
``report("image size", "12.3 MiB")``. No thresholds: these are measurements, not assertions.
"""

from __future__ import annotations

_LINES: list[tuple[str, str]] = []


def report(name: str, value: str) -> None:
    _LINES.append((name, value))


def print_report(terminalreporter, title: str = "measurements") -> None:
    if not _LINES:
        return
    terminalreporter.section(title)
    width = max(len(n) for n, _ in _LINES)
    for name, value in _LINES:
        terminalreporter.write_line(f"{name.ljust(width)}  {value}")

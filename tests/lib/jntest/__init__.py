"""Shared helpers for Jumpnet's Python test suites (containers, chart, e2e).

Modules:
    wait     -- wait_until: poll a condition with a deadline, never a bare sleep
    http     -- Node: a small JSON client for one broker's HTTP API (v1, admin, probes)
    cluster  -- reading cluster views and forming a cluster the way the operator does
    podman   -- a thin podman CLI wrapper with this machine's settings (runc, containers.conf)
    report   -- figures a test wants printed at the end of the run (sizes, timings)

Put tests/lib on PYTHONPATH (scripts/test.sh does; conftest.py files add it too).
"""

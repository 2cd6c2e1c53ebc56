"""Holding a fault for its planned duration.

Tests wait on conditions (``jntest.wait.wait_until``); the one deliberate pause is how long a
nemesis keeps a fault in place, a parameter of the scenario rather than a guess at how long
something takes.
"""

from __future__ import annotations

import time


def hold(seconds: float) -> None:
    """Keep the current fault in place for ``seconds`` (the workload keeps running meanwhile)."""
    time.sleep(seconds)

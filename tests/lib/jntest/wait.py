"""Waiting on conditions with a deadline, the one way tests wait in this repo."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition did not hold in time; the message says what was awaited and what was last seen."""


class GiveUp(AssertionError):
    """Raised by a condition when waiting longer cannot help (the process being waited on has exited)."""


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    describe: Callable[[], str] | None = None,
) -> T:
    """Calls ``condition`` until it returns a truthy value, and returns that value.

    Exceptions raised by ``condition`` (but ``GiveUp``) count as "not yet" (a node that is restarting refuses
    connections); the last one, or the last falsy value, is reported on time-out together with
    ``describe()`` when given (e.g. the cluster view), so a failure says what the system looked like.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = condition()
            if value:
                return value
            last = value
        except GiveUp:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last = exc
        if time.monotonic() >= deadline:
            extra = ""
            if describe is not None:
                try:
                    extra = f"\n  state: {describe()}"
                except Exception as exc:  # noqa: BLE001
                    extra = f"\n  state: (describe failed: {exc!r})"
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}{extra}")
        time.sleep(interval)

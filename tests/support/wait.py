"""Waiting for something that happens in another thread or process.

Tests and the e2e suites poll real servers and agents; one loop, so every wait fails the
same way: an AssertionError naming what was awaited, for how long, and the last value seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, *, interval: float = 0.1, what: str | None = None,
             raises: bool = True) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns a truthy value; return that value.

    The predicate is called once more at the deadline, so a condition met just in time counts.
    On timeout: raise ``AssertionError("timed out after Ns waiting for <what>; last value: ...")``,
    or, with ``raises=False``, return the last (falsy) value for the caller to judge.
    Exceptions from the predicate are not swallowed.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(interval, remaining))
    if not raises:
        return value
    label = what or getattr(predicate, "__qualname__", repr(predicate))
    raise AssertionError(f"timed out after {timeout:g}s waiting for {label}; last value: {value!r}")

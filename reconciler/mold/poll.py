"""Waiting for Mold: one poller and one backoff policy for every wait (jobs, downloads, a
guest's power-off), with time as a parameter so tests run the slow paths in milliseconds.

``poll_until(check)`` calls ``check`` until it returns something other than None: at once,
then after ``initial`` seconds, growing ×``factor`` up to ``max_interval``; it never sleeps past
the deadline, and checks one last time at the deadline before giving up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["PollPolicy", "Clock", "poll_until", "Deadline"]

T = TypeVar("T")


@dataclass(frozen=True)
class PollPolicy:
    """First wait ``initial`` s, then ×``factor`` per poll, capped at ``max_interval``.

    ``initial=0`` polls without pausing (for emulators that finish jobs by the next poll).
    """

    initial: float = 0.5
    factor: float = 1.5
    max_interval: float = 10.0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.factor < 1 or self.max_interval < self.initial:
            raise ValueError(f"invalid {self!r}")


@dataclass(frozen=True)
class Clock:
    """The time source of every wait: real by default, fake in tests."""

    now: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], None] = field(default=time.sleep)


class Deadline(Exception):
    """``poll_until`` gave up: ``check`` returned None until ``seconds`` had passed."""

    def __init__(self, what: str, seconds: float) -> None:
        self.what = what
        self.seconds = seconds
        super().__init__(f"{what}: not done within {seconds:g}s")


def poll_until(check: Callable[[], T | None], *, timeout: float, what: str,
               policy: PollPolicy = PollPolicy(), clock: Clock = Clock()) -> T:
    """``check()`` until it returns a value (not None); raises Deadline after ``timeout``."""
    deadline = clock.now() + timeout
    interval = policy.initial
    while True:
        result = check()
        if result is not None:
            return result
        remaining = deadline - clock.now()
        if remaining <= 0:
            raise Deadline(what, timeout)
        clock.sleep(min(interval, remaining))
        interval = min(interval * policy.factor, policy.max_interval)

"""Many waits, one request per poll round: the async jobs of an apply are looked at together
(one listAsyncJobs, or a queryAsyncJobResult each while they are few), and so are the ISOs and
templates waiting to be ready (one list call of each kind).

``Rounds(fetch)`` serves every thread that waits on it. Whoever finds a round due runs it:
``fetch(keys)`` for every key waited on at that moment; the others sleep until it ends and
read their key's value. The pause between rounds follows the poll policy (growing while
nothing finished, starting again short when something did), never past a waiter's deadline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from reconciler.mold.poll import Clock, Deadline, PollPolicy

__all__ = ["Rounds"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


class Rounds(Generic[K, V]):
    def __init__(self, fetch: Callable[[frozenset[K]], dict[K, V]], policy: PollPolicy,
                 clock: Clock) -> None:
        self._fetch = fetch
        self._policy = policy
        self._clock = clock
        self._cond = threading.Condition()
        self._waiting: dict[K, int] = {}  # key -> how many threads wait on it
        self._values: dict[K, V] = {}
        self._looked_at: frozenset[K] = frozenset()  # the keys the last round fetched
        self._round = 0  # rounds run so far
        self._running = False
        self._next_at = 0.0
        self._interval = policy.initial
        self.rounds_run = 0

    def wait(self, key: K, check: Callable[[V | None], T | None], *, timeout: float,
             what: str) -> T:
        """Round after round until ``check(value of key)`` returns something (None: keep
        waiting; the value is None when the last round did not find the key)."""
        deadline = self._clock.now() + timeout
        with self._cond:
            self._waiting[key] = self._waiting.get(key, 0) + 1
            self._next_at = min(self._next_at, self._clock.now())  # a newcomer looks at once
            seen = self._round
        try:
            while True:
                self._take_part(deadline)
                with self._cond:
                    if self._round == seen:
                        if self._clock.now() >= deadline:
                            raise Deadline(what, timeout)
                        continue
                    seen = self._round
                    if key not in self._looked_at:  # a round begun before this wait
                        self._next_at = min(self._next_at, self._clock.now())
                        continue
                    value = self._values.get(key)
                result = check(value)
                if result is not None:
                    with self._cond:
                        self._interval = self._policy.initial
                    return result
                if self._clock.now() >= deadline:
                    raise Deadline(what, timeout)
        finally:
            with self._cond:
                self._waiting[key] -= 1
                if not self._waiting[key]:
                    del self._waiting[key]

    def _take_part(self, deadline: float) -> None:
        """Run the next round if it is due (or this waiter's deadline has come: one last look)
        and nobody runs it; else wait for the running one to end. A failing fetch fails its
        runner; the next waiter tries again."""
        with self._cond:
            now = self._clock.now()
            if self._running:
                self._cond.wait(timeout=max(0.0, min(self._policy.max_interval, deadline - now)))
                return
            if now < self._next_at and now < deadline:
                self._cond.release()
                try:
                    self._clock.sleep(min(self._next_at, deadline) - now)
                finally:
                    self._cond.acquire()
                now = self._clock.now()
                if self._running or (now < self._next_at and now < deadline):
                    return
            self._running = True
            keys = frozenset(self._waiting)
        values: dict[K, V] | None = None
        try:
            values = self._fetch(keys)
        finally:
            with self._cond:
                self._running = False
                if values is not None:
                    self._values, self._looked_at = values, keys
                    self._round += 1
                    self.rounds_run += 1
                    self._next_at = self._clock.now() + self._interval
                    self._interval = min(self._interval * self._policy.factor,
                                         self._policy.max_interval)
                self._cond.notify_all()

"""Many waits, few requests: the async jobs of an apply are looked at together (one
listAsyncJobs, or a queryAsyncJobResult each while they are few), and so are the ISOs and
templates waiting to be ready (one list call of each kind).

``Rounds(fetch)`` serves every thread that waits on it. Each waiter keeps its own schedule, as
``poll_until`` would: its first look one ``initial`` interval after it began (a job or a
download never finishes at once), then growing ×``factor`` up to ``max_interval``, the last
look at its deadline. A round is due when the earliest waiter is; it waits for the waiters due
within ``GRACE`` of that one (workers that start jobs together then share one round instead of
one each), and it keeps ``min_gap()`` seconds from the round before (while Mold's API limit is
known, rounds are spent sparingly; the gap is asked again while it is waited out, as it may
close). Whoever finds a round due runs it, ``fetch(keys due)``;
the others sleep until it ends. Every value a round brings back is kept: a waiter whose key
came back (asked for or not) looks at it; a newcomer whose key is already known to be finished
returns at once without a request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from reconciler.mold.poll import Clock, Deadline, PollPolicy

__all__ = ["Rounds", "GRACE"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")

GRACE = 0.2  # of the policy's first interval: waiters due that much later join a round


def _no_gap() -> float:
    return 0.0


@dataclass(eq=False)
class _Waiter(Generic[K]):
    key: K
    due: float  # its next look
    interval: float  # the pause before the look after that
    deadline: float
    seen: int  # the last round it looked at


class Rounds(Generic[K, V]):
    def __init__(self, fetch: Callable[[frozenset[K]], dict[K, V]], policy: PollPolicy,
                 clock: Clock, min_gap: Callable[[], float] = _no_gap) -> None:
        self._fetch = fetch
        self._policy = policy
        self._clock = clock
        self._min_gap = min_gap
        self._cond = threading.Condition()
        self._waiters: list[_Waiter[K]] = []
        self._values: dict[K, V] = {}  # the latest value of every key a round brought back
        self._asked: frozenset[K] = frozenset()  # the keys the last round asked for
        self._answered: frozenset[K] = frozenset()  # the keys the last round brought back
        self._round = 0
        self._running = False
        self._last_end = float("-inf")
        self.rounds_run = 0

    def wait(self, key: K, check: Callable[[V | None], T | None], *, timeout: float,
             what: str) -> T:
        """Round after round until ``check(value of key)`` returns something (None: keep
        waiting). ``check`` gets None when a round asked for the key and did not find it."""
        now = self._clock.now()
        with self._cond:
            known = key in self._values
            value = self._values.get(key)
        if known:  # an earlier round saw it: finished by then?
            result = check(value)
            if result is not None:
                return result
        first = self._policy.initial
        me = _Waiter(key, min(now + first, now + timeout), first, now + timeout, 0)
        with self._cond:
            me.seen = self._round
            self._waiters.append(me)
            self._cond.notify_all()
        try:
            return self._wait(me, check, what, timeout)
        finally:
            with self._cond:
                self._waiters.remove(me)

    def _wait(self, me: _Waiter[K], check: Callable[[V | None], T | None], what: str,
              timeout: float) -> T:
        while True:
            self._take_part()
            with self._cond:
                if self._round == me.seen:
                    continue
                me.seen = self._round
                asked, answered = me.key in self._asked, me.key in self._answered
                value = self._values.get(me.key) if answered else None
            if asked or answered:
                result = check(value)
                if result is not None:
                    return result
            now = self._clock.now()
            if now >= me.deadline:
                raise Deadline(what, timeout)
            if asked:  # it was due: its next look comes later, at a growing interval
                with self._cond:
                    me.interval = min(me.interval * self._policy.factor,
                                      self._policy.max_interval)
                    me.due = min(now + me.interval, me.deadline)

    def _round_at(self) -> tuple[float, float]:
        """When the next round is due: the earliest waiter's look, moved to the last look due
        within the grace after it, and no sooner than ``min_gap`` after the last round (but
        never past a waiter's deadline); and when the waiters want it."""
        first = min(w.due for w in self._waiters)
        cluster = max(w.due for w in self._waiters
                      if w.due <= first + GRACE * self._policy.initial)
        spaced = min(self._last_end + self._min_gap(), *(w.deadline for w in self._waiters))
        return max(cluster, spaced), cluster

    def _take_part(self) -> None:
        """Run the next round if it is due and nobody runs it; else sleep until it is due or
        wait for the running one to end. A failing fetch fails its runner; the next waiter
        tries again."""
        with self._cond:
            if self._running:
                self._cond.wait(timeout=self._policy.max_interval)
                return
            now = self._clock.now()
            at, wanted = self._round_at()
            if now < at:
                # past the waiters' own time only for the gap: look again soon, it may close
                pause = wanted - now if now < wanted else min(at - now,
                                                              GRACE * self._policy.initial)
                self._cond.release()
                try:
                    self._clock.sleep(pause)
                finally:
                    self._cond.acquire()
                return
            self._running = True
            due = frozenset(w.key for w in self._waiters if w.due <= now)
        values: dict[K, V] | None = None
        try:
            values = self._fetch(due)
        finally:
            with self._cond:
                self._running = False
                if values is not None:
                    self._values.update(values)
                    for key in due - set(values):
                        self._values.pop(key, None)
                    self._asked, self._answered = due, frozenset(values)
                    self._round += 1
                    self.rounds_run += 1
                    self._last_end = self._clock.now()
                self._cond.notify_all()

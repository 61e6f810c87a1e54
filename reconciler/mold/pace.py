"""Keeping under Mold's API limit (CloudStack's api.throttling: at most ``max`` requests of an
account per ``interval`` seconds, counted from the first request of a window; over it, HTTP
429 "... please retry after [N] ms", ApiRateLimitServiceImpl). One Pacer is shared by every
worker of a client.

It learns the limit from Mold's refusals instead of being told: until the first 429 it does
not hold anything back. A 429 says when the window ends (now + N ms): the pacer waits until
then. The next 429 ends the next window, so the two give the window's length exactly, and the
requests Mold accepted in between are the budget. While it learns (between the two), one
request is in flight at a time, so the window that teaches it ends with one refusal, not with
one per worker. From then on a sliding log lets at most budget − 1 requests through in any
window's length, spread evenly (one every window ÷ (budget − 1) seconds: workers that finish
together do not spend a window's budget at its start and then idle): no further 429, and
throughput just under the limit. Only the requests in flight when the first 429 came are
refused with it, plus one.

``saturated`` tells whether requests are being held back right now: waits that poll (rounds)
then leave the budget to the requests that change things.
"""

from __future__ import annotations

import threading
from collections import deque

from reconciler.mold.poll import Clock

__all__ = ["Pacer"]


class Pacer:
    def __init__(self, clock: Clock = Clock()) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._paused_until = 0.0
        self._window_end: float | None = None  # the end of the window a 429 announced
        self._accepted_since_end = 0  # requests Mold took since that window ended
        self._budget: int | None = None  # requests per window, once learnt
        self._window: float | None = None
        self._sent: deque[float] = deque()
        self._in_flight = 0  # requests sent and not answered yet
        self._held = 0  # threads waiting in acquire for their turn

    @property
    def limit(self) -> tuple[int, float] | None:
        """(requests, seconds) once learnt."""
        with self._cond:
            return (self._budget, self._window) if self._budget and self._window else None

    @property
    def saturated(self) -> bool:
        """Requests are waiting for their turn, or the next one would have to."""
        with self._cond:
            if self._held:
                return True
            if not (self._budget and self._window):
                return False
            self._prune(self._clock.now())
            return len(self._sent) >= self._budget - 1

    def _learning(self) -> bool:
        return self._window_end is not None and self._budget is None

    def _prune(self, now: float) -> None:
        if self._window:
            while self._sent and self._sent[0] <= now - self._window:
                self._sent.popleft()

    def acquire(self) -> None:
        """Wait until a request may go (never while Mold said to wait)."""
        with self._cond:
            self._held += 1
        try:
            while True:
                with self._cond:
                    if self._learning() and self._in_flight:
                        self._cond.wait(timeout=1.0)  # until the one in flight is answered
                        continue
                    now = self._clock.now()
                    wait = self._paused_until - now
                    if wait <= 0 and self._budget and self._window:
                        self._prune(now)
                        if len(self._sent) >= self._budget - 1:
                            wait = self._sent[0] + self._window - now
                        elif self._sent:  # evenly spread, not in bursts at a window's start
                            wait = self._sent[-1] + self._window / (self._budget - 1) - now
                    if wait <= 0:
                        self._sent.append(now)
                        self._in_flight += 1
                        return
                self._clock.sleep(wait)
        finally:
            with self._cond:
                self._held -= 1

    def _answered(self) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        self._cond.notify_all()

    def released(self) -> None:
        """A request got no answer (a transport error): it no longer counts as in flight."""
        with self._cond:
            self._answered()

    def accepted(self) -> None:
        """Mold took a request (any answer but its API limit)."""
        with self._cond:
            self._answered()
            if self._window_end is not None and self._clock.now() >= self._window_end:
                self._accepted_since_end += 1

    def refused(self, wait: float) -> None:
        """A 429 asking to wait ``wait`` seconds: hold every worker back until then, and learn
        the window from two refusals in a row."""
        with self._cond:
            self._answered()
            now = self._clock.now()
            end = now + max(wait, 0.0)
            if self._window_end is not None and self._budget is None and \
                    self._accepted_since_end > 0 and end > self._window_end:
                self._window = end - self._window_end
                self._budget = self._accepted_since_end
            self._window_end, self._accepted_since_end = end, 0
            self._paused_until = max(self._paused_until, end)

"""Keeping under Mold's API limit (CloudStack's api.throttling: at most ``max`` requests of an
account per ``interval`` seconds, counted from the first request of a window; over it, HTTP
429 "... please retry after [N] ms", ApiRateLimitServiceImpl). One Pacer is shared by every
worker of a client.

It learns the limit from Mold's refusals instead of being told: until the first 429 it does
not hold anything back. A 429 says when the window ends (now + N ms): the pacer waits until
then. The next 429 ends the next window, so the two give the window's length exactly, and the
requests Mold accepted in between are the budget. From then on a sliding log lets at most
budget − 1 requests through in any window's length: no further 429, and throughput just under
the limit. Two refusals in all, whatever the number of requests.
"""

from __future__ import annotations

import threading
from collections import deque

from reconciler.mold.poll import Clock

__all__ = ["Pacer"]


class Pacer:
    def __init__(self, clock: Clock = Clock()) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._window_end: float | None = None  # the end of the window a 429 announced
        self._accepted_since_end = 0  # requests Mold took since that window ended
        self._budget: int | None = None  # requests per window, once learnt
        self._window: float | None = None
        self._sent: deque[float] = deque()

    @property
    def limit(self) -> tuple[int, float] | None:
        """(requests, seconds) once learnt."""
        with self._lock:
            return (self._budget, self._window) if self._budget and self._window else None

    def acquire(self) -> None:
        """Wait until a request may go (never while Mold said to wait)."""
        while True:
            with self._lock:
                now = self._clock.now()
                wait = self._paused_until - now
                if wait <= 0 and self._budget and self._window:
                    while self._sent and self._sent[0] <= now - self._window:
                        self._sent.popleft()
                    if len(self._sent) >= self._budget - 1:
                        wait = self._sent[0] + self._window - now
                if wait <= 0:
                    self._sent.append(now)
                    return
            self._clock.sleep(wait)

    def accepted(self) -> None:
        """Mold took a request (any answer but its API limit)."""
        with self._lock:
            if self._window_end is not None and self._clock.now() >= self._window_end:
                self._accepted_since_end += 1

    def refused(self, wait: float) -> None:
        """A 429 asking to wait ``wait`` seconds: hold every worker back until then, and learn
        the window from two refusals in a row."""
        with self._lock:
            now = self._clock.now()
            end = now + max(wait, 0.0)
            if self._window_end is not None and self._budget is None and \
                    self._accepted_since_end > 0 and end > self._window_end:
                self._window = end - self._window_end
                self._budget = self._accepted_since_end
            self._window_end, self._accepted_since_end = end, 0
            self._paused_until = max(self._paused_until, end)

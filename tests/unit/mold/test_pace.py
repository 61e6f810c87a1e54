"""The pacer learns CloudStack's API limit from two 429s, then keeps under it (a fake clock:
no test waits on time; one waits on another thread)."""

from __future__ import annotations

import threading

from reconciler.mold.pace import Pacer
from reconciler.mold.poll import Clock


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FixedWindow:
    """CloudStack's counter: ``limit`` per ``interval`` s from the first request of a window."""

    def __init__(self, time: FakeTime, limit: int, interval: float) -> None:
        self.time, self.limit, self.interval = time, limit, interval
        self.start: float | None = None
        self.count = 0
        self.refusals = 0

    def hit(self) -> float | None:
        """None: taken; else the seconds to wait that the 429 announces."""
        if self.start is None or self.time.now >= self.start + self.interval:
            self.start, self.count = self.time.now, 0
        self.count += 1
        if self.count > self.limit:
            self.refusals += 1
            return self.start + self.interval - self.time.now
        return None


def test_two_refusals_teach_the_limit_and_then_none_come() -> None:
    time = FakeTime()
    pacer = Pacer(Clock(lambda: time.now, time.sleep))
    mold = FixedWindow(time, limit=25, interval=1.0)
    taken = 0
    while taken < 1000:
        pacer.acquire()
        wait = mold.hit()
        if wait is None:
            pacer.accepted()
            taken += 1
        else:
            pacer.refused(wait)
        time.now += 0.001  # each request takes a millisecond
    assert pacer.limit == (25, 1.0)
    assert mold.refusals == 2
    assert time.now < 1000 / 24 + 2  # close to 25 per second


def test_a_refusal_holds_every_request_back_until_the_window_ends() -> None:
    time = FakeTime()
    pacer = Pacer(Clock(lambda: time.now, time.sleep))
    pacer.refused(0.75)
    pacer.acquire()
    assert time.now == 0.75 and pacer.limit is None


def learnt(time: FakeTime) -> Pacer:
    """A pacer that has learnt 25 requests per second from two refusals."""
    pacer = Pacer(Clock(lambda: time.now, time.sleep))
    mold = FixedWindow(time, limit=25, interval=1.0)
    while pacer.limit is None:
        pacer.acquire()
        wait = mold.hit()
        if wait is None:
            pacer.accepted()
        else:
            pacer.refused(wait)
        time.now += 0.001
    return pacer


def test_once_learnt_requests_go_evenly_not_in_a_burst() -> None:
    time = FakeTime()
    pacer = learnt(time)
    sent = []
    for _ in range(30):
        pacer.acquire()
        pacer.accepted()
        sent.append(time.now)
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert min(gaps) >= 1.0 / 24 - 1e-9  # one every window / (budget - 1)
    assert max(gaps) < 1.0 / 24 + 1e-6
    assert pacer.saturated  # a window's budget is spent: the next one would wait
    time.now += 1.0
    assert not pacer.saturated


def test_while_learning_one_request_is_in_flight_at_a_time() -> None:
    time = FakeTime()
    pacer = Pacer(Clock(lambda: time.now, time.sleep))
    pacer.acquire()
    pacer.refused(0.5)  # the first 429: the limit is being learnt now
    pacer.acquire()  # after the pause, one request goes ...
    second = threading.Event()

    def another() -> None:
        pacer.acquire()
        second.set()

    worker = threading.Thread(target=another)
    worker.start()
    assert not second.wait(0.1)  # ... and the next waits for its answer
    pacer.accepted()
    assert second.wait(2.0)
    worker.join()

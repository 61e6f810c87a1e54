"""Rounds: waits that share their polls (no HTTP; fetch functions that record what they were
asked, clocks that are fake where one thread waits and real, with small intervals, where
several do)."""

from __future__ import annotations

import threading
import time

import pytest

from reconciler.mold.batch import Rounds
from reconciler.mold.poll import Clock, Deadline, PollPolicy


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> Clock:
        return Clock(lambda: self.now, self.sleep)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


class Fetches:
    """Answers ``answers[i]`` on the i-th fetch (the last one repeats); records the keys."""

    def __init__(self, *answers: dict[str, str], time: FakeTime | None = None) -> None:
        self.answers = list(answers)
        self.asked: list[frozenset[str]] = []
        self.at: list[float] = []  # when, on the fake clock
        self.time = time
        self.lock = threading.Lock()

    def __call__(self, keys: frozenset[str]) -> dict[str, str]:
        with self.lock:
            self.asked.append(keys)
            if self.time is not None:
                self.at.append(round(self.time.now - 100.0, 6))
            return dict(self.answers[min(len(self.asked), len(self.answers)) - 1])


def done(value: str | None) -> str | None:
    return value if value == "done" else None


def test_one_waiter_looks_one_interval_after_it_began_then_backs_off() -> None:
    fake = FakeTime()
    fetch = Fetches({"a": "pending"}, {"a": "pending"}, {"a": "done"})
    rounds: Rounds[str, str] = Rounds(fetch, PollPolicy(0.5, 1.5, 10.0), fake.clock())
    assert rounds.wait("a", done, timeout=60, what="job a") == "done"
    assert fake.sleeps == [0.5, 0.75, 1.125]
    assert fetch.asked == [frozenset({"a"})] * 3


def test_the_last_look_is_at_the_deadline() -> None:
    fake = FakeTime()
    fetch = Fetches({"a": "pending"})
    rounds: Rounds[str, str] = Rounds(fetch, PollPolicy(0.01, 2.0, 0.04), fake.clock())
    with pytest.raises(Deadline, match="job a: not done within 0.1s"):
        rounds.wait("a", done, timeout=0.1, what="job a")
    assert fake.sleeps == pytest.approx([0.01, 0.02, 0.04, 0.03])
    assert len(fetch.asked) == 4


def test_a_key_a_round_already_saw_finished_needs_no_request() -> None:
    fake = FakeTime()
    fetch = Fetches({"a": "done", "b": "done"})  # a list call answers for every job
    rounds: Rounds[str, str] = Rounds(fetch, PollPolicy(0.5, 1.5, 10.0), fake.clock())
    assert rounds.wait("a", done, timeout=60, what="job a") == "done"
    assert rounds.wait("b", done, timeout=60, what="job b") == "done"
    assert fetch.asked == [frozenset({"a"})]


def test_a_key_asked_for_and_not_found_is_checked_as_none() -> None:
    fake = FakeTime()
    rounds: Rounds[str, str] = Rounds(Fetches({}), PollPolicy(0.5, 1.5, 10.0), fake.clock())
    seen: list[str | None] = []

    def gone(value: str | None) -> str | None:
        seen.append(value)
        if value is None:
            raise LookupError("it disappeared")
        return None

    with pytest.raises(LookupError):
        rounds.wait("a", gone, timeout=60, what="image a")
    assert seen == [None]


def test_once_the_api_limit_is_known_rounds_keep_their_distance() -> None:
    fake = FakeTime()
    fetch = Fetches({"a": "pending"}, {"a": "done"}, time=fake)
    rounds: Rounds[str, str] = Rounds(fetch, PollPolicy(0.01, 1.5, 10.0), fake.clock(),
                                      min_gap=lambda: 0.5)
    assert rounds.wait("a", done, timeout=60, what="job a") == "done"
    assert fetch.at[0] == 0.01 and 0.51 <= fetch.at[1] <= 0.513  # the gap, looked at in steps


def test_a_gap_that_closes_lets_the_round_go_at_once() -> None:
    fake = FakeTime()
    fetch = Fetches({"a": "pending"}, {"a": "done"}, time=fake)
    gaps = iter([0.5, 0.5, 0.0])  # the budget is free again on the second look
    rounds: Rounds[str, str] = Rounds(fetch, PollPolicy(0.01, 1.5, 10.0), fake.clock(),
                                      min_gap=lambda: next(gaps, 0.0))
    assert rounds.wait("a", done, timeout=60, what="job a") == "done"
    assert fetch.at == [0.01, 0.025]  # at its own time: the gap had closed by then


def test_the_gap_never_keeps_a_waiter_past_its_deadline() -> None:
    fake = FakeTime()
    fetch = Fetches({"a": "pending"}, time=fake)
    rounds: Rounds[str, str] = Rounds(fetch, PollPolicy(0.01, 1.5, 10.0), fake.clock(),
                                      min_gap=lambda: 10.0)
    with pytest.raises(Deadline):
        rounds.wait("a", done, timeout=0.2, what="job a")
    assert fetch.at == [0.01, pytest.approx(0.2)]


def test_workers_that_start_together_share_one_round() -> None:
    fetch = Fetches({f"k{i}": "done" for i in range(10)})
    rounds: Rounds[str, str] = Rounds(fetch, PollPolicy(0.2, 1.5, 1.0), Clock())
    results: list[str] = []
    start = threading.Barrier(10)

    def worker(i: int) -> None:
        start.wait()
        results.append(rounds.wait(f"k{i}", done, timeout=10, what=f"job {i}"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["done"] * 10
    assert len(fetch.asked) == 1 and fetch.asked[0] == {f"k{i}" for i in range(10)}
    assert time.monotonic() - began < 1.0


def test_a_wait_ends_in_another_waiters_round_when_its_key_comes_back_unasked() -> None:
    fetch = Fetches({"a": "done", "b": "done"})  # a list call answers for both jobs
    rounds: Rounds[str, str] = Rounds(fetch, PollPolicy(0.3, 1.5, 1.0), Clock())
    ended: dict[str, float] = {}
    began = time.monotonic()

    def worker(key: str, delay: float) -> None:
        time.sleep(delay)
        rounds.wait(key, done, timeout=10, what=f"job {key}")
        ended[key] = time.monotonic() - began

    threads = [threading.Thread(target=worker, args=("a", 0.0)),
               threading.Thread(target=worker, args=("b", 0.15))]  # due well after the grace
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fetch.asked == [frozenset({"a"})]  # b's own look (at ~0.45 s) was never needed
    assert ended["b"] < 0.42

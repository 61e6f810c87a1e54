"""One conformance suite for every state backend (STYLE lesson 11).

Each test runs against the local file backend and against a real PostgreSQL server
(tests/helpers/postgres.py). Lock and writer tests use separate processes, as two
`mwin` runs would.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from reconciler.errors import StateError, StateLocked
from reconciler.state import ResourceState, State, StateBackend, open_backend, push_state
from reconciler.state.postgres import LOCK_CLASS
from tests.helpers.postgres import PgServer

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Target:
    """How to open one backend here and in a child process."""

    state: Path
    url: str | None

    def open(self, workspace: str = "default", **kwargs: Any) -> StateBackend:
        return open_backend(self.state, self.url or "local", workspace, **kwargs)

    def argv(self, workspace: str = "default") -> list[str]:
        return [str(self.state), self.url or "local", workspace]


@pytest.fixture(params=["local", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "local":
        return Target(tmp_path / "state" / "mwin.state.json", None)
    server: PgServer = request.getfixturevalue("postgres_server")
    return Target(tmp_path / "unused.json", server.new_database())


def res(n: int, **attrs: Any) -> ResourceState:
    return ResourceState(id=str(n), attributes=attrs)


# --- read, write, serial and lineage ----------------------------------------------------

def test_nothing_stored_reads_as_a_fresh_state(target: Target) -> None:
    backend = target.open()
    state = backend.read()
    assert state.serial == 0 and state.resources == {}
    assert backend.read().lineage != state.lineage  # nothing stored: every read is new
    assert backend.workspaces() == ["default"]
    assert backend.workspace == "default"


def test_round_trip_keeps_everything_and_counts_serials(target: Target) -> None:
    backend = target.open()
    first = backend.write(State().with_resource("iso.win2022", res(1, display_text="윈도우 2022",
                                                                   nested={"a": [1, None, True]})))
    assert first.serial == 1
    assert target.open().read() == first  # another instance sees it
    second = backend.write(first.with_resource("iso.virtio", res(2)))
    assert (second.serial, second.lineage) == (2, first.lineage)
    assert target.open().read() == second


def test_a_write_from_a_stale_base_is_refused_and_changes_nothing(target: Target) -> None:
    one, two = target.open(), target.open()
    base = one.write(State())
    seen_by_two = two.read()
    winner = one.write(base.with_resource("iso.a", res(1)))
    with pytest.raises(StateError) as caught:
        two.write(seen_by_two.with_resource("iso.b", res(2)))
    assert "it changed since it was read (serial 1 was read, 2 is stored now" in str(caught.value)
    assert "Nothing was overwritten" in str(caught.value)
    assert target.open().read() == winner


def test_another_lineage_is_refused_unless_forced(target: Target) -> None:
    backend = target.open()
    stored = backend.write(backend.write(State()))
    stranger = State(serial=stored.serial).with_resource("iso.x", res(9))
    with pytest.raises(StateError, match=f"it holds another state \\(lineage {stored.lineage}"):
        backend.write(stranger)
    forced = backend.write(stranger, force=True)
    assert forced.lineage == stranger.lineage and forced.serial == stored.serial + 1
    assert backend.read() == forced


def test_workspaces_are_separate_states(target: Target) -> None:
    default, zone = target.open(), target.open("zone-a")
    default.write(State().with_resource("iso.a", res(1)))
    written = zone.write(State().with_resource("iso.b", res(2)))
    assert sorted(default.read().resources) == ["iso.a"]
    assert target.open("zone-a").read() == written
    assert default.workspaces() == zone.workspaces() == ["default", "zone-a"]
    assert "zone-a" in zone.describe()
    with pytest.raises(StateError, match="'../x' is not a workspace name"):
        target.open("../x")


def test_push_keeps_the_lineage_and_refuses_to_clobber(target: Target) -> None:
    dest = target.open()
    source = State(serial=7).with_resource("iso.a", res(1))
    pushed = push_state(dest, source)
    assert (pushed.lineage, pushed.serial, pushed.resources) == (source.lineage, 8,
                                                                 source.resources)
    with pytest.raises(StateError, match="is newer than what is pushed \\(serial 8 > 7\\)"):
        push_state(dest, source)
    with pytest.raises(StateError, match="already holds another state"):
        push_state(dest, State(serial=20))
    replaced = push_state(dest, State(serial=3), force=True)
    assert replaced.serial == 9 and replaced.resources == {}


# --- locks across processes -------------------------------------------------------------

HOLDER = textwrap.dedent("""\
    import sys
    from pathlib import Path
    from reconciler.state import open_backend
    backend = open_backend(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
    backend.lock("apply", 5)
    print("locked", flush=True)
    sys.stdin.readline()  # hold until told (or killed)
    backend.unlock()
    print("released", flush=True)
""")


@pytest.fixture
def start_holder(target: Target) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []

    def start(workspace: str = "default") -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, *target.argv(workspace)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == "released\n"


def test_a_second_locker_waits_reporting_the_holder_then_gives_up(
        target: Target, start_holder: Callable[..., subprocess.Popen[str]]) -> None:
    holder = start_holder()
    told: list[str] = []
    backend = target.open(on_wait=told.append)
    started = time.monotonic()
    with pytest.raises(StateLocked) as caught:
        backend.lock("plan", 0.5)
    assert time.monotonic() - started >= 0.5
    text = str(caught.value)
    assert f"pid {holder.pid} on " in text and "(operation apply, since " in text
    assert "; waited 0.5s (raise --lock-timeout to wait longer); if that process is gone or " \
           "hung, clear the lock with `mwin state unlock " in text
    assert lock_id_in(text) in text.split("(operation apply")[1]  # the holder shows its ID
    assert len(told) == 1 and f"pid {holder.pid} on " in told[0]
    assert told[0].endswith("waiting up to 0.5s for it")


def test_the_waiter_gets_the_lock_when_the_holder_releases_it(
        target: Target, start_holder: Callable[..., subprocess.Popen[str]]) -> None:
    holder = start_holder()
    backend = target.open()
    with pytest.raises(StateLocked):
        backend.lock("apply", 0)
    release(holder)
    backend.lock("apply", 0)
    written = backend.write(State())  # writes go through while holding the lock
    assert backend.read() == written
    backend.unlock()
    backend.unlock()  # harmless


def test_locked_holds_the_lock_for_the_block_and_releases_it_however_it_ends(
        target: Target, start_holder: Callable[..., subprocess.Popen[str]]) -> None:
    backend = target.open()
    with backend.locked("apply", 0):
        with pytest.raises(StateLocked):
            target.open().lock("plan", 0)
        backend.write(State())  # writes go through while holding it
    with pytest.raises(RuntimeError), backend.locked("apply", 0):
        raise RuntimeError("the block failed")
    with target.open().locked("plan", 0):  # released both times
        pass
    holder = start_holder()
    with pytest.raises(StateLocked) as caught, backend.locked("apply", 0):
        raise AssertionError("never entered while another process holds the lock")
    assert f"pid {holder.pid} on " in str(caught.value)


def test_killing_the_holder_frees_the_lock_at_once(
        target: Target, start_holder: Callable[..., subprocess.Popen[str]]) -> None:
    holder = start_holder()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    backend = target.open()
    started = time.monotonic()
    backend.lock("apply", 5)
    assert time.monotonic() - started < 2
    backend.unlock()


def lock_id_in(text: str) -> str:
    match = re.search(r"`mwin state unlock ([0-9a-f-]{36})`", text)
    assert match, text
    return match.group(1)


def held_lock_id(target: Target) -> str:
    with pytest.raises(StateLocked) as caught:
        target.open().lock("plan", 0)
    return lock_id_in(str(caught.value))


def test_a_lock_left_by_a_killed_holder_is_taken_over_and_reported(
        target: Target, start_holder: Callable[..., subprocess.Popen[str]]) -> None:
    holder = start_holder()
    lock_id = held_lock_id(target)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    told: list[str] = []
    backend = target.open(on_wait=told.append)
    backend.lock("apply", 5)
    backend.unlock()
    assert len(told) == 1 and told[0].startswith("note: the previous holder of the lock on state")
    assert f"pid {holder.pid} on " in told[0] and f"lock ID {lock_id})" in told[0]
    assert told[0].endswith("ended without releasing it; taken over")
    again: list[str] = []
    backend = target.open(on_wait=again.append)
    backend.lock("apply", 0)  # released properly last time: nothing to report
    backend.unlock()
    assert again == []


WRONG_ID = "0b9d3b44-0000-0000-0000-000000000000"


def never_asked(question: str) -> None:
    raise AssertionError(f"asked to confirm what is refused anyway: {question}")


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait(timeout=10)
    return proc.pid


def lock_file(target: Target) -> Path:
    return target.state.with_name(target.state.name + ".lock")


def wait_until_the_server_frees_it(target: Target) -> None:
    """A killed client's advisory lock goes when its backend notices the closed connection
    (milliseconds later); a file lock goes with the process itself."""
    if target.url is None:
        return
    deadline = time.monotonic() + 10
    with psycopg.connect(target.url, autocommit=True) as conn:
        while conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                           "classid = %s::oid", (LOCK_CLASS,)).fetchone() != (0,):
            assert time.monotonic() < deadline
            time.sleep(0.02)


def kill(target: Target, holder: subprocess.Popen[str]) -> None:
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    wait_until_the_server_frees_it(target)


def test_unlock_refuses_without_a_lock_or_with_another_id(
        target: Target, start_holder: Callable[..., subprocess.Popen[str]]) -> None:
    backend = target.open()
    with pytest.raises(StateError) as caught:
        backend.force_unlock(WRONG_ID, never_asked)
    assert str(caught.value) == (f"state {backend.describe()} is not locked: there is nothing "
                                 "to unlock")
    holder = start_holder()
    lock_id = held_lock_id(target)
    with pytest.raises(StateError) as caught:
        backend.force_unlock(WRONG_ID, never_asked)
    text = str(caught.value)
    assert text.startswith(f"lock ID {WRONG_ID} does not match the lock on state "
                           f"{backend.describe()}: it is {lock_id}, held by ")
    assert f"pid {holder.pid} on " in text and text.endswith(". Nothing was unlocked.")
    assert held_lock_id(target) == lock_id  # still held, by the same holder


def test_unlock_clears_what_a_dead_holder_left_after_asking(
        target: Target, start_holder: Callable[..., subprocess.Popen[str]]) -> None:
    holder = start_holder()
    lock_id = held_lock_id(target)
    kill(target, holder)
    asked: list[str] = []
    backend = target.open()
    done = backend.force_unlock(lock_id, asked.append)
    assert len(asked) == 1
    assert asked[0].startswith(f"Clear lock {lock_id} on state {backend.describe()}, left by ")
    assert f"pid {holder.pid} on " in asked[0]
    assert done.startswith(f"Cleared lock {lock_id} on state {backend.describe()}, left by ")
    told: list[str] = []
    backend = target.open(on_wait=told.append)
    backend.lock("apply", 0)
    backend.unlock()
    assert told == []  # nothing left to take over
    with pytest.raises(StateError, match="is not locked: there is nothing to unlock"):
        backend.force_unlock(lock_id)


def test_a_cancelled_unlock_leaves_the_lock_record(
        target: Target, start_holder: Callable[..., subprocess.Popen[str]]) -> None:
    holder = start_holder()
    lock_id = held_lock_id(target)
    kill(target, holder)

    def say_no(question: str) -> None:
        raise StateError("cancelled")

    with pytest.raises(StateError, match="^cancelled$"):
        target.open().force_unlock(lock_id, say_no)
    told: list[str] = []
    backend = target.open(on_wait=told.append)
    backend.lock("apply", 0)  # the record is still there: taken over and reported
    backend.unlock()
    assert len(told) == 1 and f"lock ID {lock_id}), ended without releasing it" in told[0]


def test_unlock_of_a_live_holder(
        target: Target, start_holder: Callable[..., subprocess.Popen[str]]) -> None:
    holder = start_holder()
    lock_id = held_lock_id(target)
    if target.url is None:  # a file lock: only its process can let go
        with pytest.raises(StateError) as caught:
            target.open().force_unlock(lock_id, never_asked)
        text = str(caught.value)
        assert f"process {holder.pid} on this host still holds the lock" in text
        assert f"stop it (kill {holder.pid}) instead of unlocking under it" in text
        assert held_lock_id(target) == lock_id and holder.poll() is None
        return
    asked: list[str] = []
    backend = target.open()
    done = backend.force_unlock(lock_id, asked.append)  # PostgreSQL: end the holder's session
    assert len(asked) == 1 and asked[0].startswith(f"Clear lock {lock_id} on state "
                                                   f"{backend.describe()}, held by ")
    assert "is still open and will be terminated" in asked[0]
    assert done.startswith(f"Cleared lock {lock_id} on state {backend.describe()}, held by ")
    assert "ended its database session (backend pid " in done
    told: list[str] = []
    backend = target.open(on_wait=told.append)
    backend.lock("apply", 0)  # free at once, and no record left to take over
    backend.unlock()
    assert told == []


def record_holder_pid(target: Target, pid: int) -> None:
    """Make the lock record name ``pid`` as its holder: what is seen when the process that
    took the lock is gone but the lock lives on (a child that inherited the file lock, a
    network filesystem, a database session the server has not ended yet)."""
    if target.url is None:
        info = json.loads(lock_file(target).read_text(encoding="utf-8"))
        lock_file(target).write_text(json.dumps({**info, "pid": pid}), encoding="utf-8")
        return
    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute("UPDATE mwin_locks SET pid = %s", (pid,))


def test_a_held_lock_whose_process_on_this_host_is_gone_says_so(
        target: Target, start_holder: Callable[..., subprocess.Popen[str]]) -> None:
    start_holder()
    lock_id = held_lock_id(target)
    gone = dead_pid()
    record_holder_pid(target, gone)
    with pytest.raises(StateLocked) as caught:
        target.open().lock("apply", 0)
    text = str(caught.value)
    assert f"pid {gone} on {socket.gethostname()} (operation apply" in text
    if target.url is None:  # the flock is held by some process: only stopping it helps
        assert text.endswith(f"; process {gone} on this host is gone, yet the lock is held (a "
                             "child process it started may have inherited it, or a network "
                             "filesystem has not released it yet): stop the process that holds "
                             f"it (`fuser {lock_file(target)}` names it)")
        with pytest.raises(StateError) as refused:
            target.open().force_unlock(lock_id, never_asked)
        assert f"process {gone} on this host is gone, yet the lock is held" in str(refused.value)
        assert str(refused.value).endswith("names it); nothing was unlocked")
        assert json.loads(lock_file(target).read_text(encoding="utf-8"))["id"] == lock_id
        return
    assert text.endswith(f"; process {gone} on this host is gone, yet its database session "
                         f"(backend pid {session_of(target)}) still holds the lock; if that "
                         "process is gone or hung, clear the lock with "
                         f"`mwin state unlock {lock_id}`")
    done = target.open().force_unlock(lock_id)
    assert "ended its database session" in done
    backend = target.open()
    backend.lock("apply", 0)
    backend.unlock()


def session_of(target: Target) -> int:
    with psycopg.connect(target.url or "", autocommit=True) as conn:
        row = conn.execute("SELECT backend_pid FROM mwin_locks").fetchone()
    assert row is not None
    return int(row[0])


def test_locks_are_per_workspace(
        target: Target, start_holder: Callable[..., subprocess.Popen[str]]) -> None:
    start_holder("zone-a")
    other = target.open("zone-b")
    other.lock("apply", 0)
    other.unlock()
    with pytest.raises(StateLocked):
        target.open("zone-a").lock("apply", 0)


WRITER = textwrap.dedent("""\
    import sys
    from pathlib import Path
    from reconciler.errors import StateError
    from reconciler.state import ResourceState, open_backend
    backend = open_backend(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
    done = refused = 0
    while done < int(sys.argv[4]):
        state = backend.read()
        record = state.resources.get("counter")
        n = record.attributes["n"] if record else 0
        try:
            backend.write(state.with_resource("counter", ResourceState(id="c", attributes={
                "n": n + 1})))
            done += 1
        except StateError:
            refused += 1
    print(done, refused)
""")


def test_concurrent_writers_never_lose_an_update(target: Target) -> None:
    writers, each = 4, 5
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, *target.argv(), str(each)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for _ in range(writers)]
    results = [proc.communicate(timeout=90) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), results
    final = target.open().read()
    # Every accepted write was based on the one before it: none was lost or overwritten.
    assert final.resources["counter"].attributes["n"] == writers * each == final.serial

"""StateRecorder: actions finishing together share state writes (group commit), and each
record returns only once a written state holds it. A real state file, a slow write."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from reconciler.executor import StateRecorder
from reconciler.model import Outcome
from reconciler.state import State
from reconciler.state.local import LocalState


class SlowFile(LocalState):
    """A state file whose every write takes a while, and says what each one held."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writes: list[set[str]] = []
        self.lock = threading.Lock()

    def write(self, state: State, *, force: bool = False) -> State:
        time.sleep(0.05)
        written = super().write(state, force=force)
        with self.lock:
            self.writes.append(set(written.resources))
        return written


def test_records_that_arrive_during_a_write_go_out_together_and_each_waits_for_its_own(
        tmp_path: Path) -> None:
    backend = SlowFile(tmp_path / "s.json")
    recorder = StateRecorder(backend, backend.read())
    held_when_returned: dict[str, bool] = {}

    def finish(i: int) -> None:
        address = f"iso.i{i}"
        recorder.record(address, Outcome(f"id-{i}", {"name": f"i{i}"}))
        with backend.lock:
            held_when_returned[address] = any(address in w for w in backend.writes)

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(held_when_returned.values()) and len(held_when_returned) == 10
    assert 1 <= len(backend.writes) <= 3  # not one write per action
    stored = LocalState(tmp_path / "s.json").read()
    assert sorted(stored.resources) == sorted(f"iso.i{i}" for i in range(10))
    assert stored.serial == len(backend.writes)
    assert recorder.id_of("iso.i3") == "id-3" and recorder.state.serial == stored.serial


def test_a_record_that_changes_nothing_writes_nothing(tmp_path: Path) -> None:
    backend = SlowFile(tmp_path / "s.json")
    recorder = StateRecorder(backend, backend.read())
    recorder.record("iso.a", Outcome("id-a", {"name": "a"}))
    recorder.record("iso.a", Outcome("id-a", {"name": "a"}))
    recorder.record("iso.b", Outcome(removed=True))
    assert len(backend.writes) == 1

"""The local state file: atomic writes with a backup, owner-only modes, versions, locking."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.errors import StateError, StateLocked
from reconciler.state import FORMAT_VERSION, LocalState, ResourceState, State


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_missing_file_reads_as_empty_state(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "s.json").read()
    assert state.serial == 0 and state.resources == {} and state.format_version == FORMAT_VERSION


def test_write_increments_serial_keeps_a_backup_and_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "s.json"  # the directory is created on first write
    backend = LocalState(path)
    first = backend.write(State().with_resource("iso.a", ResourceState(id="1", attributes={"x": 1})))
    assert first.serial == 1
    assert not backend.backup.exists()
    second = backend.write(first.with_resource("iso.b", ResourceState(id="2")))
    assert second.serial == 2 and second.lineage == first.lineage

    assert backend.read() == second
    previous = json.loads(backend.backup.read_text(encoding="utf-8"))
    assert previous["serial"] == 1 and sorted(previous["resources"]) == ["iso.a"]
    assert backend.backup.name == "s.json.backup"
    assert mode(path) == 0o600 and mode(backend.backup) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["s.json", "s.json.backup"]  # no temp


def test_file_is_stable_json_with_hangul_kept_readable(tmp_path: Path) -> None:
    backend = LocalState(tmp_path / "s.json")
    backend.write(State().with_resource("iso.a", ResourceState(id="1", attributes={
        "display_text": "윈도우"})))
    text = backend.path.read_text(encoding="utf-8")
    assert "윈도우" in text and text.endswith("\n")
    assert list(json.loads(text)) == ["format_version", "lineage", "owner", "resources", "serial"]


def test_corrupt_file_names_the_file_and_the_backup(tmp_path: Path) -> None:
    backend = LocalState(tmp_path / "s.json")
    backend.write(backend.write(State()))
    backend.path.write_text("{not json", encoding="utf-8")
    with pytest.raises(StateError) as caught:
        backend.read()
    text = str(caught.value)
    assert text.startswith(f"state file {backend.path} is not valid JSON (")
    assert f"A previous version is kept in {backend.backup}" in text


def test_corrupt_file_without_backup_and_wrong_shape(tmp_path: Path) -> None:
    backend = LocalState(tmp_path / "s.json")
    backend.path.write_text('{"format_version": 1, "serial": "many"}', encoding="utf-8")
    with pytest.raises(StateError) as caught:
        backend.read()
    assert str(caught.value) == (f"state file {backend.path} does not match the state format "
                                 "(1 problems).")
    backend.path.write_bytes(b"\xff\xfe")
    with pytest.raises(StateError, match="is not valid JSON"):
        backend.read()


def test_unreadable_file_is_not_called_corrupt(tmp_path: Path) -> None:
    (tmp_path / "s.json").mkdir()
    with pytest.raises(StateError) as caught:
        LocalState(tmp_path / "s.json").read()
    assert str(caught.value) == f"state file {tmp_path / 's.json'} cannot be read: Is a directory"


def test_future_format_version_is_refused(tmp_path: Path) -> None:
    backend = LocalState(tmp_path / "s.json")
    backend.path.write_text(json.dumps({"format_version": FORMAT_VERSION + 1, "lineage": "l",
                                        "serial": 3, "resources": {}}), encoding="utf-8")
    with pytest.raises(StateError) as caught:
        backend.read()
    assert str(caught.value) == (
        f"state file {backend.path} has format_version {FORMAT_VERSION + 1}; this mwin reads up "
        f"to {FORMAT_VERSION}. Upgrade mwin.")


# --- locking across processes ----------------------------------------------------------

HOLDER = textwrap.dedent("""\
    import sys
    from reconciler.state import LocalState
    backend = LocalState(sys.argv[1])
    backend.lock("apply", 5)
    print("locked", flush=True)
    sys.stdin.readline()  # hold until told (or killed)
    backend.unlock()
""")


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "s.json")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[3])
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


def test_second_locker_waits_then_fails_naming_the_holder(
        tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    backend = LocalState(tmp_path / "s.json", poll=0.02)
    started = time.monotonic()
    with pytest.raises(StateLocked) as caught:
        backend.lock("plan", 0.3)
    assert time.monotonic() - started >= 0.3
    text = str(caught.value)
    assert text.startswith(f"state {backend.path} is locked by pid {holder.pid} on "
                           f"{socket.gethostname()} (operation apply, since ")
    assert "; waited 0.3s (raise --lock-timeout to wait longer); if that process is gone or " \
           "hung, clear the lock with `mwin state unlock " in text


def test_waiter_gets_the_lock_once_the_holder_releases_it(
        tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    stdin = holder.stdin
    assert stdin is not None

    def release() -> None:
        stdin.write("release\n")
        stdin.flush()

    timer = threading.Timer(0.2, release)
    timer.start()
    backend = LocalState(tmp_path / "s.json", poll=0.02)
    started = time.monotonic()
    backend.lock("apply", 10)
    assert time.monotonic() - started >= 0.15  # it waited for the holder
    timer.join()
    info = json.loads(backend.lock_path.read_text(encoding="utf-8"))
    assert info["pid"] == os.getpid() and info["operation"] == "apply"
    assert mode(backend.lock_path) == 0o600
    backend.unlock()
    assert backend.lock_path.read_text(encoding="utf-8") == ""  # no stale holder named


def test_lock_is_released_when_the_holder_process_dies(
        tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    holder.kill()
    holder.wait(timeout=10)
    backend = LocalState(tmp_path / "s.json", poll=0.02)
    backend.lock("apply", 0)
    assert json.loads(backend.lock_path.read_text(encoding="utf-8"))["pid"] == os.getpid()
    backend.unlock()
    backend.unlock()  # a second unlock is harmless

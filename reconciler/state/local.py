"""Local JSON state file.

Invariants: the file on disk is always a complete document of the previous or
the new serial (temp file + fsync + rename); the previous version is kept as
``<file>.backup``; both are mode 0600. The lock is an ``fcntl`` lock on
``<file>.lock`` (released by the kernel if the holder dies) whose content names
the holder for whoever waits: ``{id, pid, host, operation, since}``, emptied on
unlock. Content found by whoever gets the flock was left by a holder that died:
it is reported and replaced. The content is only ever changed under the flock,
and the file is never deleted (a second opener would lock another inode).

Workspaces: ``default`` is the ``--state`` file itself; workspace ``NAME`` lives beside it
in ``<stem>.d/NAME.json`` (``state/mwin.state.json`` → ``state/mwin.state.d/NAME.json``), with
its own backup and lock. Writes compare the stored lineage and serial with the written
state's base under a short ``flock`` on the state file's directory, so two writers cannot
both succeed from the same base, whether or not they hold the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from reconciler import failpoints
from reconciler.errors import StateError, StateLocked
from reconciler.state.base import (
    DEFAULT_WORKSPACE,
    UNLOCK_HINT,
    Confirm,
    Locking,
    State,
    check_base,
    check_format_version,
    check_workspace,
    gone_here,
    not_locked,
    with_owner,
    wrong_lock_id,
)

__all__ = ["LocalState"]


class LocalState(Locking):
    def __init__(self, path: str | Path, workspace: str = DEFAULT_WORKSPACE, *, poll: float = 0.1,
                 on_wait: Callable[[str], None] | None = None) -> None:
        self.root = Path(path)
        self.workspace = check_workspace(workspace)
        self.path = self.root if workspace == DEFAULT_WORKSPACE else (
            self._workspace_dir() / f"{workspace}.json")
        self.backup = self.path.with_name(self.path.name + ".backup")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._poll = poll
        self._lock_file: IO[str] | None = None
        self._on_wait = on_wait

    def _workspace_dir(self) -> Path:
        stem = self.root.name.removesuffix(".json")
        return self.root.with_name(f"{stem}.d")

    def describe(self) -> str:
        return str(self.path)

    def workspaces(self) -> list[str]:
        found = {DEFAULT_WORKSPACE}
        folder = self._workspace_dir()
        if folder.is_dir():
            found |= {p.name.removesuffix(".json") for p in folder.glob("*.json")
                      if p.is_file() and not p.name.startswith(".")}
        return sorted(found)

    def identity(self) -> str:
        return f"file:{self.path.resolve()}"

    def read(self) -> State:
        return with_owner(self._read(), self.identity(), self.workspace)

    def _read(self) -> State:
        if not self.path.exists():
            return State()
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise StateError(f"state file {self.path} cannot be read: {exc.strerror or exc}") from None
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError(self._corrupt(f"is not valid JSON ({exc})")) from None
        check_format_version(data, f"state file {self.path}")
        try:
            return State.model_validate(data)
        except ValidationError as exc:
            raise StateError(self._corrupt(f"does not match the state format ({exc.error_count()} "
                                           "problems)")) from None

    def _corrupt(self, why: str) -> str:
        hint = (f" A previous version is kept in {self.backup}: inspect it and copy it over "
                f"{self.path} to go back one step." if self.backup.exists() else "")
        return f"state file {self.path} {why}.{hint}"

    def write(self, state: State, *, force: bool = False) -> State:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _dir_lock(self.path.parent):
            if not force:
                check_base(self._stored(), state, f"state {self.path}")
            state = with_owner(state, self.identity(), self.workspace)
            new = state.model_copy(update={"serial": state.serial + 1})
            text = json.dumps(new.model_dump(mode="json"), indent=2, ensure_ascii=False,
                              sort_keys=True)
            if self.path.exists():
                _atomic_write(self.backup, self.path.read_bytes())
            _atomic_write(self.path, text.encode("utf-8") + b"\n", failpoint="state-write")
        return new

    def _stored(self) -> State | None:
        """What is stored now, for the serial check; a corrupt file compares as nothing (only
        `mwin state rebuild` writes without a readable base, and the backup is kept)."""
        if not self.path.exists():
            return None
        try:
            return self._read()
        except StateError:
            return None

    def lock(self, operation: str, timeout: float) -> None:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - held until unlock
        os.chmod(self.lock_path, 0o600)
        deadline = time.monotonic() + timeout
        told = False
        while not _try_flock(handle):
            if not told and timeout > 0 and self._on_wait is not None:
                self._on_wait(f"state {self.path} is locked by {_holder(self.lock_path)}; "
                              f"waiting up to {timeout:g}s for it")
                told = True
            if time.monotonic() >= deadline:
                handle.close()
                raise StateLocked(self._locked_message(timeout))
            time.sleep(self._poll)
        left = _read_info(self.lock_path)
        if left and self._on_wait is not None:  # a holder that died (flock went with it)
            self._on_wait(f"note: the previous holder of the lock on state {self.path}, "
                          f"{_describe(left)}, ended without releasing it; taken over")
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({
            "id": str(uuid.uuid4()), "operation": operation, "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }))
        handle.flush()
        self._lock_file = handle

    def _locked_message(self, timeout: float) -> str:
        info = _read_info(self.lock_path)
        text = (f"state {self.path} is locked by {_describe(info)}; waited {timeout:g}s (raise "
                "--lock-timeout to wait longer)")
        if gone_here(info.get("host"), info.get("pid")):  # unlocking cannot help here
            return (f"{text}; {_held_after_exit(info)}: stop the process that holds it "
                    f"(`fuser {self.lock_path}` names it)")
        if info.get("id"):
            text += "; " + UNLOCK_HINT.format(id=info["id"])
        return text

    def force_unlock(self, lock_id: str, confirm: Confirm | None = None) -> str:
        """Clear what a dead holder left in the lock file. Only under our own flock: while
        another process holds it, the info is that live holder's and stays (deleting or
        rewriting it would let a second holder in, or hide the first)."""
        info = self._lock_to_clear(lock_id)
        with open(self.lock_path, "a+", encoding="utf-8") as handle:
            if not _try_flock(handle):
                raise StateError(self._cannot_break(info))
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)  # not held while the user decides
            if confirm is not None:
                confirm(f"Clear lock {lock_id} on state {self.path}, left by {_describe(info)}? "
                        "No process holds the file lock now; only that record remains.")
            if not _try_flock(handle):
                raise StateError(self._cannot_break(_read_info(self.lock_path)))
            info = self._lock_to_clear(lock_id)  # again: it may have changed while asking
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return (f"Cleared lock {lock_id} on state {self.path}, left by {_describe(info)}: that "
                "process had already ended without releasing it.")

    def _lock_to_clear(self, lock_id: str) -> dict[str, Any]:
        info = _read_info(self.lock_path)
        if not info:
            raise not_locked(str(self.path))
        if info.get("id") != lock_id:
            raise wrong_lock_id(lock_id, str(self.path), info.get("id"), _describe(info))
        return info

    def _cannot_break(self, info: dict[str, Any]) -> str:
        """Why a held file lock stays: only its holder (or the kernel, when it exits) frees it."""
        pid, host = info.get("pid"), info.get("host")
        if not info:  # taken a moment ago, its holder has not written who it is yet
            return (f"the lock on state {self.path} was just taken by another process; "
                    "nothing was unlocked")
        if gone_here(host, pid):
            return (f"the lock on state {self.path} is still held: {_held_after_exit(info)}. "
                    f"Stop the process that holds it (`fuser {self.lock_path}` names it); "
                    "nothing was unlocked")
        if host == socket.gethostname():
            return (f"process {pid} on this host still holds the lock on state {self.path} "
                    f"({_describe(info)}); stop it (kill {pid}) instead of unlocking under it. "
                    "Nothing was unlocked")
        return (f"the lock on state {self.path} is held by pid {pid} on {host}; a file lock is "
                "released only by its holder: stop that process there. Nothing was unlocked")

    def unlock(self) -> None:
        if self._lock_file is None:
            return
        self._lock_file.seek(0)
        self._lock_file.truncate()
        fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
        self._lock_file.close()
        self._lock_file = None


def _read_info(lock_path: Path) -> dict[str, Any]:
    """Who holds (or last held) the lock: {id, pid, host, operation, since}, or {}."""
    try:
        info = json.loads(lock_path.read_text(encoding="utf-8") or "{}")
    except (OSError, json.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def _holder(lock_path: Path) -> str:
    return _describe(_read_info(lock_path))


def _describe(info: dict[str, Any]) -> str:
    if not info:
        return "another process"
    text = (f"pid {info.get('pid')} on {info.get('host')} (operation {info.get('operation')}, "
            f"since {info.get('since')}")
    return text + (f", lock ID {info['id']})" if info.get("id") else ")")


def _held_after_exit(info: dict[str, Any]) -> str:
    return (f"process {info.get('pid')} on this host is gone, yet the lock is held (a child "
            "process it started may have inherited it, or a network filesystem has not "
            "released it yet)")


def _try_flock(handle: IO[str]) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def _dir_lock(folder: Path) -> Iterator[None]:
    """Serialise the read-compare-replace of writers to files in ``folder`` (milliseconds)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes, failpoint: str | None = None) -> None:
    """Write a temp file, fsync, rename over ``path``: readers see the old or the new bytes."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        half = len(data) // 2
        os.write(fd, data[:half])
        if failpoint:
            failpoints.hit(failpoint)
        os.write(fd, data[half:])
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

"""The State value and the backend protocol every storage implements."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from reconciler.errors import StateError

__all__ = ["FORMAT_VERSION", "DEFAULT_WORKSPACE", "ResourceState", "State", "StateBackend",
           "Locking", "derive_owner", "with_owner", "check_base", "check_format_version", "check_workspace",
           "Confirm", "UNLOCK_HINT",
           "gone_here", "not_locked", "wrong_lock_id"]

DEFAULT_WORKSPACE = "default"

FORMAT_VERSION = 1


class ResourceState(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str  # Mold's uuid of the object
    attributes: dict[str, Any] = Field(default_factory=dict)  # as last applied/seen, spec vocabulary
    protected: bool = False  # lifecycle.protect as last applied: deleting it needs it lifted


class State(BaseModel):
    """lineage names one state's history (a new file gets a new one); serial grows by one on
    every write. A saved plan is only valid for the lineage+serial it was computed against.

    ``owner`` is the identity this state tags its Mold objects with (``mwin:owner``): fixed when
    the state is first written and kept by every later write and by ``state push``, so a state
    adopts, changes and deletes only objects carrying it. Backends fill it in on read (derived
    from where the state lives, see ``derive_owner``) when nothing is stored yet."""

    model_config = ConfigDict(frozen=True)

    format_version: int = FORMAT_VERSION
    lineage: str = Field(default_factory=lambda: str(uuid.uuid4()))
    serial: int = 0
    owner: str | None = None
    resources: dict[str, ResourceState] = Field(default_factory=dict)  # address -> record

    def id_of(self, address: str) -> str | None:
        record = self.resources.get(address)
        return record.id if record else None

    def with_resource(self, address: str, record: ResourceState | None) -> State:
        resources = dict(self.resources)
        if record is None:
            resources.pop(address, None)
        else:
            resources[address] = record
        return self.model_copy(update={"resources": resources})


def derive_owner(identity: str, workspace: str) -> str:
    """The owner of a state that records none yet: ``<workspace>.<12 hex>``, a digest of where
    the state lives (``identity``: the backend and location, workspace included). The same
    place always derives the same owner, so a state deleted and made again there adopts its
    own objects; states in another file, backend or workspace never share it."""
    digest = hashlib.sha256(f"{identity}\0{workspace}".encode()).hexdigest()[:12]
    return f"{workspace}.{digest}"


def with_owner(state: State, identity: str, workspace: str) -> State:
    """``state`` as read from a backend: its recorded owner, else the derived one."""
    if state.owner:
        return state
    return state.model_copy(update={"owner": derive_owner(identity, workspace)})


Confirm = Callable[[str], None]
"""Asked before a lock is cleared, with what will be done to whom; raises to cancel."""


class StateBackend(Protocol):
    """Where one workspace's state lives. Every implementation passes
    ``tests/unit/state/test_conformance.py``.

    Rules all backends keep:

    * ``read`` of a workspace never written returns a fresh ``State()`` (serial 0).
    * ``write(state)`` stores ``state`` with serial + 1 and returns what it stored. ``state.serial``
      is the *base* serial: the serial of the state it was derived from. If a state is stored
      and its lineage or serial differs from the base, someone else wrote in between and the
      write is refused with ``StateError`` -- never silently overwritten. ``force=True`` (only
      for ``mwin state push --force``) skips that check; the serial still grows.
    * ``lock`` takes the workspace's exclusive lock, waiting up to ``timeout`` seconds, then
      raises ``StateLocked`` naming the holder (who, pid, host, operation, since). The lock is
      released by ``unlock`` or when the holder's process dies; ``unlock`` twice is harmless.
      Every lock has an ID, shown in that message. Taking a lock whose previous holder ended
      without releasing it reports that holder through the ``on_wait`` callback.
    * ``with backend.locked(operation, timeout):`` is ``lock`` … ``unlock`` around the block,
      whatever way it is left (backends get it from ``Locking``).
    * ``force_unlock(lock_id, confirm)`` clears the lock with that ID when its holder cannot
      release it (gone, or hung on another machine) and returns what it did; a wrong ID, no
      lock, or a holder that must be stopped instead raise ``StateError`` saying so, before
      ``confirm`` is asked. ``confirm(question)`` is called once the ID is checked, with what
      is about to be done to whom; it raises to cancel. The ID is checked again after it.
    * ``workspaces`` lists the workspaces that hold a state, always including ``default``.
    * ``describe`` names the backend and workspace for messages; it never contains a secret.
    * ``read`` always returns a state with an ``owner``: the stored one, else the one derived
      from ``identity()`` (which names the backend and location without secrets).
    """

    workspace: str

    def identity(self) -> str: ...

    def read(self) -> State: ...

    def write(self, state: State, *, force: bool = False) -> State: ...

    def lock(self, operation: str, timeout: float) -> None: ...

    def unlock(self) -> None: ...

    def locked(self, operation: str, timeout: float) -> AbstractContextManager[None]: ...

    def force_unlock(self, lock_id: str, confirm: Confirm | None = None) -> str: ...

    def workspaces(self) -> list[str]: ...

    def describe(self) -> str: ...


class _Lockable(Protocol):
    def lock(self, operation: str, timeout: float) -> None: ...

    def unlock(self) -> None: ...


class Locking:
    """``locked()`` for every backend, from the backend's own ``lock`` and ``unlock``."""

    @contextmanager
    def locked(self: _Lockable, operation: str, timeout: float) -> Iterator[None]:
        """Hold the workspace's lock for the ``with`` block: taken as ``lock`` takes it
        (waiting up to ``timeout`` seconds, reporting a dead holder), released however the
        block ends."""
        self.lock(operation, timeout)
        try:
            yield
        finally:
            self.unlock()


def check_format_version(data: Any, where: str) -> None:
    """Refuse a stored document written by a newer mwin before trying to read it."""
    version = data.get("format_version") if isinstance(data, dict) else None
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise StateError(f"{where} has format_version {version}; this mwin reads up to "
                         f"{FORMAT_VERSION}. Upgrade mwin.")


def check_base(stored: State | None, state: State, where: str) -> None:
    """Refuse a write whose base (lineage, serial) is not what is stored."""
    if stored is None:
        return
    if stored.lineage != state.lineage:
        raise StateError(f"refusing to write {where}: it holds another state (lineage "
                         f"{stored.lineage}, this one is {state.lineage}). Use `mwin state push "
                         "--force` to replace it on purpose.")
    if stored.serial != state.serial:
        raise StateError(f"refusing to write {where}: it changed since it was read (serial "
                         f"{state.serial} was read, {stored.serial} is stored now; another mwin "
                         "wrote in between). Nothing was overwritten; run `mwin plan` again.")


WORKSPACE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_workspace(name: str) -> str:
    if not WORKSPACE_NAME.match(name):
        raise StateError(f"{name!r} is not a workspace name: use letters, digits, '.', '_' and "
                         "'-' (at most 64, starting with a letter or digit)")
    return name


UNLOCK_HINT = "if that process is gone or hung, clear the lock with `mwin state unlock {id}`"


def gone_here(host: object, pid: object) -> bool:
    """A lock holder recorded as ``pid`` on this host whose process no longer exists. False
    when it lives, runs on another host (its pid means nothing here) or cannot be told."""
    if host != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by another user
        return False
    return False


def not_locked(where: str) -> StateError:
    return StateError(f"state {where} is not locked: there is nothing to unlock")


def wrong_lock_id(lock_id: str, where: str, current: object, holder: str) -> StateError:
    """``mwin state unlock`` with an ID that is not the current lock's."""
    shown = (f"it is {current}" if current else
             "the current lock has no ID (taken by an older mwin; it ends with its run)")
    return StateError(f"lock ID {lock_id} does not match the lock on state {where}: {shown}, "
                      f"held by {holder}. Nothing was unlocked.")

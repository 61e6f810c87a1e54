"""State in PostgreSQL, shared by a team: one row per workspace, advisory locks.

Invariants:

* Tables are created on first use (``mwin_states``, ``mwin_locks``), under a transaction-level
  advisory lock so two first users do not race. ``options=-csearch_path=SCHEMA`` in the URL
  puts them in another schema.
* ``mwin_states`` holds one row per workspace: the state document (``data``, jsonb), its
  lineage and serial as columns, the previous document (``previous``, the backup) and who
  wrote it when. A write is one transaction that locks the row (``SELECT … FOR UPDATE``),
  compares the stored lineage/serial with the written state's base and refuses on a
  mismatch; a first write inserts with ``ON CONFLICT DO NOTHING`` and refuses if another
  writer inserted first.
* The lock is ``pg_try_advisory_lock(CLASS, hashtext(workspace))`` taken on a connection
  this object keeps open until ``unlock``. It is session-level: when the holder's process
  dies, its connection closes and PostgreSQL frees the lock at once. While locked, every
  read and write goes through that same connection, so a lost connection (and with it a
  lost lock) fails the next write instead of going unnoticed. Who holds it (user, pid,
  host, operation, since, backend pid, lock ID) is written to ``mwin_locks`` for whoever
  waits; a row whose backend no longer holds the lock is stale: ignored while waiting,
  reported and replaced by the next holder. ``force_unlock`` terminates the backend that
  holds the lock (``pg_terminate_backend``), which frees it, then deletes the row.
* Credentials never come from the spec: the URL names host, port, database and user; the
  password comes from ``PGPASSWORD``/``PGPASSFILE`` (``~/.pgpass``) as libpq reads them.
  A password written into the URL is accepted but masked in every message.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from pydantic import ValidationError

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
from reconciler.state.select import mask_url

__all__ = ["LOCK_CLASS", "PostgresState"]

LOCK_CLASS = 0x6D77696E  # "mwin": first key of every advisory lock mwin takes
_SCHEMA_LOCK = LOCK_CLASS + 1  # held while creating the tables

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS mwin_states (
         workspace  text PRIMARY KEY,
         lineage    text NOT NULL,
         serial     bigint NOT NULL,
         data       jsonb NOT NULL,
         previous   jsonb,
         updated_at timestamptz NOT NULL DEFAULT now(),
         updated_by text NOT NULL DEFAULT '')""",
    """CREATE TABLE IF NOT EXISTS mwin_locks (
         workspace   text PRIMARY KEY,
         who         text NOT NULL,
         pid         integer NOT NULL,
         host        text NOT NULL,
         operation   text NOT NULL,
         since       timestamptz NOT NULL,
         backend_pid integer NOT NULL)""",
    "ALTER TABLE mwin_locks ADD COLUMN IF NOT EXISTS lock_id text",  # added in mwin 0.2
]


class PostgresState(Locking):
    def __init__(self, url: str, workspace: str = DEFAULT_WORKSPACE, *, poll: float = 0.25,
                 on_wait: Callable[[str], None] | None = None,
                 connect_timeout: int = 10) -> None:
        self.url = url
        self.workspace = check_workspace(workspace)
        self._poll = poll
        self._on_wait = on_wait
        self._connect_timeout = connect_timeout
        try:
            self._secrets = [str(v) for k, v in conninfo_to_dict(url).items()
                             if k == "password" and v]
        except psycopg.Error:
            raise StateError(f"{mask_url(url)} is not a valid PostgreSQL URL") from None
        self._conn: psycopg.Connection[Any] | None = None  # held while locked
        self._mutex = threading.Lock()  # one statement at a time on the held connection
        self._ready = False

    def describe(self) -> str:
        return f"{mask_url(self.url)} (workspace {self.workspace})"

    def identity(self) -> str:
        """Where the state lives, spelled the same whatever URL form names it: server, port,
        database and schema (search_path in ``options``); never the user or a password."""
        info = conninfo_to_dict(self.url)
        host = str(info.get("host") or info.get("hostaddr") or "localhost").lower()
        port = str(info.get("port") or 5432)
        return (f"postgresql://{host}:{port}/{info.get('dbname') or ''}"
                f"?options={info.get('options') or ''}")

    # --- connections -------------------------------------------------------------------

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            detail = self._mask(str(exc).strip()) or type(exc).__name__
            lost = " (the state lock went with the connection)" if self._conn is not None else ""
            raise StateError(f"PostgreSQL state {self.describe()}: {doing} failed: "
                             f"{detail}{lost}") from None

    def _connect(self) -> psycopg.Connection[Any]:
        with self._errors("connecting"):
            params: dict[str, Any] = {"autocommit": True, "application_name": "mwin"}
            if "connect_timeout" not in conninfo_to_dict(self.url):
                params["connect_timeout"] = self._connect_timeout
            conn = psycopg.connect(self.url, **params)
        try:
            self._ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _ensure_schema(self, conn: psycopg.Connection[Any]) -> None:
        if self._ready:
            return
        with self._errors("creating the state tables"), conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_SCHEMA_LOCK,))
            for statement in _SCHEMA:
                conn.execute(statement)
        self._ready = True

    @contextmanager
    def _session(self) -> Iterator[psycopg.Connection[Any]]:
        """The held connection while locked (serialised), else a short-lived one."""
        if self._conn is not None:
            with self._mutex:
                yield self._conn
            return
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    # --- state ---------------------------------------------------------------------------

    def read(self) -> State:
        with self._session() as conn, self._errors("reading"):
            row = conn.execute("SELECT data FROM mwin_states WHERE workspace = %s",
                               (self.workspace,)).fetchone()
        state = State() if row is None else self._parse(row[0])
        return with_owner(state, self.identity(), self.workspace)

    def _parse(self, data: Any) -> State:
        check_format_version(data, f"state {self.describe()}")
        try:
            return State.model_validate(data)
        except ValidationError as exc:
            raise StateError(f"state {self.describe()} does not match the state format "
                             f"({exc.error_count()} problems). The previous version is kept in "
                             "the column mwin_states.previous.") from None

    def write(self, state: State, *, force: bool = False) -> State:
        state = with_owner(state, self.identity(), self.workspace)
        new = state.model_copy(update={"serial": state.serial + 1})
        data = Jsonb(new.model_dump(mode="json"))
        by = _who()
        with self._session() as conn, self._errors("writing"), conn.transaction():
            row = conn.execute("SELECT data FROM mwin_states WHERE workspace = %s FOR UPDATE",
                               (self.workspace,)).fetchone()
            if not force:
                check_base(self._stored(row), state, f"state {self.describe()}")
            if row is not None:
                conn.execute("UPDATE mwin_states SET lineage = %s, serial = %s, data = %s, "
                             "previous = data, updated_at = now(), updated_by = %s "
                             "WHERE workspace = %s",
                             (new.lineage, new.serial, data, by, self.workspace))
                return new
            inserted = conn.execute(
                "INSERT INTO mwin_states (workspace, lineage, serial, data, updated_by) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (workspace) DO NOTHING",
                (self.workspace, new.lineage, new.serial, data, by)).rowcount
            if inserted != 1:
                raise StateError(f"refusing to write state {self.describe()}: another mwin "
                                 "created it at the same moment. Nothing was overwritten; run "
                                 "`mwin plan` again.")
        return new

    def _stored(self, row: Any) -> State | None:
        if row is None:
            return None
        try:
            return self._parse(row[0])
        except StateError:  # corrupt: only `mwin state rebuild` writes without a base
            return None

    def workspaces(self) -> list[str]:
        with self._session() as conn, self._errors("listing workspaces"):
            rows = conn.execute("SELECT workspace FROM mwin_states").fetchall()
        return sorted({DEFAULT_WORKSPACE, *(r[0] for r in rows)})

    # --- lock ----------------------------------------------------------------------------

    def lock(self, operation: str, timeout: float) -> None:
        if self._conn is not None:
            raise StateError(f"state {self.describe()} is already locked by this process")
        conn = self._connect()
        try:
            self._acquire(conn, operation, timeout)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _acquire(self, conn: psycopg.Connection[Any], operation: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        told = False
        with self._errors("locking"):
            while not conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                                   (LOCK_CLASS, self.workspace)).fetchone()[0]:  # type: ignore[index]
                if time.monotonic() >= deadline:
                    raise StateLocked(self._locked_message(conn, timeout))
                if not told and timeout > 0 and self._on_wait is not None:
                    self._on_wait(f"state {self.describe()} is locked by {self._holder(conn)}; "
                                  f"waiting up to {timeout:g}s for it")
                    told = True
                time.sleep(min(self._poll, max(0.0, deadline - time.monotonic())))
            left = self._lock_row(conn)  # we hold the lock now: any row is a dead holder's
            if left is not None and self._on_wait is not None:
                self._on_wait(f"note: the previous holder of the lock on state "
                              f"{self.describe()}, {_describe(left)}, ended without releasing "
                              "it; taken over")
            conn.execute(
                "INSERT INTO mwin_locks (workspace, who, pid, host, operation, since, backend_pid, "
                "lock_id) VALUES (%s, %s, %s, %s, %s, %s, pg_backend_pid(), %s) ON CONFLICT "
                "(workspace) DO UPDATE SET who = excluded.who, pid = excluded.pid, "
                "host = excluded.host, operation = excluded.operation, since = excluded.since, "
                "backend_pid = excluded.backend_pid, lock_id = excluded.lock_id",
                (self.workspace, _user(), os.getpid(), socket.gethostname(), operation,
                 datetime.now(UTC), str(uuid.uuid4())))

    def _lock_row(self, conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
        """The recorded holder: who, pid, host, operation, since, backend_pid, lock_id, held
        (whether that backend still holds the advisory lock)."""
        row = conn.execute(
            "SELECT l.who, l.pid, l.host, l.operation, l.since, l.backend_pid, l.lock_id, "
            "EXISTS (SELECT 1 FROM pg_locks k WHERE k.pid = l.backend_pid AND k.locktype = "
            "'advisory' AND k.granted AND k.classid = %s::oid AND k.objid = "
            "hashtext(l.workspace)::oid AND k.objsubid = 2) "
            "FROM mwin_locks l WHERE l.workspace = %s",
            (LOCK_CLASS, self.workspace)).fetchone()
        if row is None:
            return None
        keys = ("who", "pid", "host", "operation", "since", "backend_pid", "lock_id", "held")
        return dict(zip(keys, row, strict=True))

    def _holder(self, conn: psycopg.Connection[Any]) -> str:
        row = self._lock_row(conn)
        if row is None or not row["held"]:
            return "another session (it has not recorded who it is yet)"
        return _describe(row)

    def _locked_message(self, conn: psycopg.Connection[Any], timeout: float) -> str:
        row = self._lock_row(conn)
        text = (f"state {self.describe()} is locked by {self._holder(conn)}; waited "
                f"{timeout:g}s (raise --lock-timeout to wait longer)")
        if row is None or not row["held"]:
            return text
        if gone_here(row["host"], row["pid"]):
            text += (f"; process {row['pid']} on this host is gone, yet its database session "
                     f"(backend pid {row['backend_pid']}) still holds the lock")
        if row["lock_id"]:
            text += "; " + UNLOCK_HINT.format(id=row["lock_id"])
        return text

    def force_unlock(self, lock_id: str, confirm: Confirm | None = None) -> str:
        conn = self._connect()
        try:
            with self._errors("unlocking"):
                row = self._lock_to_clear(conn, lock_id)
                if confirm is not None:
                    confirm(self._unlock_question(row))
                    row = self._lock_to_clear(conn, lock_id)  # it may have changed meanwhile
                done = self._end_holder(conn, row) if row["held"] else "its session had ended"
                conn.execute("DELETE FROM mwin_locks WHERE workspace = %s AND lock_id = %s",
                             (self.workspace, lock_id))
        finally:
            conn.close()
        return (f"Cleared lock {lock_id} on state {self.describe()}, {_held_or_left(row)} "
                f"{_describe(row)}: {done}.")

    def _lock_to_clear(self, conn: psycopg.Connection[Any], lock_id: str) -> dict[str, Any]:
        row = self._lock_row(conn)
        if row is None:
            raise not_locked(self.describe())
        if row["lock_id"] != lock_id:
            raise wrong_lock_id(lock_id, self.describe(), row["lock_id"], _describe(row))
        return row

    def _unlock_question(self, row: dict[str, Any]) -> str:
        where = (f"Clear lock {row['lock_id']} on state {self.describe()}, {_held_or_left(row)} "
                 f"{_describe(row)}?")
        if not row["held"]:
            return f"{where} Its session has ended; only its record remains."
        return (f"{where} Its database session (backend pid {row['backend_pid']}) is still "
                "open and will be terminated; if that run is still working, it fails at its "
                "next state write.")

    def _end_holder(self, conn: psycopg.Connection[Any], row: dict[str, Any]) -> str:
        """Terminate the holder's database session; PostgreSQL then frees its lock."""
        ended = conn.execute("SELECT pg_terminate_backend(%s)", (row["backend_pid"],)).fetchone()
        if not (ended and ended[0]):
            raise StateError(f"could not end the session (backend pid {row['backend_pid']}) "
                             "holding the lock: this database user may not signal it; ask "
                             "an administrator to run pg_terminate_backend on it")
        deadline = time.monotonic() + 10
        while (again := self._lock_row(conn)) is not None and again["held"]:
            if time.monotonic() >= deadline:
                raise StateError(f"the session (backend pid {row['backend_pid']}) was told to "
                                 "end but still holds the lock after 10s")
            time.sleep(0.05)
        return f"ended its database session (backend pid {row['backend_pid']})"

    def unlock(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            with self._mutex:
                conn.execute("DELETE FROM mwin_locks WHERE workspace = %s AND backend_pid = "
                             "pg_backend_pid()", (self.workspace,))
                conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))",
                             (LOCK_CLASS, self.workspace))
        except psycopg.Error:
            pass  # the connection is gone, and the lock with it
        finally:
            conn.close()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid {os.getuid()}"


def _who() -> str:
    return f"{_user()}@{socket.gethostname()} pid {os.getpid()}"


def _held_or_left(row: dict[str, Any]) -> str:
    return "held by" if row["held"] else "left by"


def _describe(row: dict[str, Any]) -> str:
    stamp = row["since"].astimezone(UTC).isoformat(timespec="seconds")
    text = (f"{row['who']}, pid {row['pid']} on {row['host']} (operation {row['operation']}, "
            f"since {stamp}")
    return text + (f", lock ID {row['lock_id']})" if row.get("lock_id") else ")")

"""What only the PostgreSQL backend has: tables, backup column, lock rows, lost connections."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from reconciler.errors import StateError, StateLocked
from reconciler.state import FORMAT_VERSION, ResourceState, State
from reconciler.state.postgres import LOCK_CLASS, PostgresState
from tests.helpers.postgres import PgServer


def sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params or None)
        return cur.fetchall() if cur.description else []


def test_first_users_create_the_tables_once_even_at_the_same_moment(pg_url: str) -> None:
    errors: list[Exception] = []

    def first_use() -> None:
        try:
            PostgresState(pg_url).read()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sql(pg_url, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'mwin_%' "
                       "ORDER BY 1") == [("mwin_locks",), ("mwin_states",)]


def test_one_row_per_workspace_with_the_previous_version_kept(pg_url: str) -> None:
    backend = PostgresState(pg_url, "zone-a")
    first = backend.write(State().with_resource("iso.a", ResourceState(id="1")))
    second = backend.write(first.with_resource("iso.b", ResourceState(id="2")))
    rows = sql(pg_url, "SELECT workspace, lineage, serial, previous->'serial', updated_by "
                       "FROM mwin_states")
    assert len(rows) == 1
    workspace, lineage, serial, previous, by = rows[0]
    assert (workspace, lineage, serial, previous) == ("zone-a", second.lineage, 2, 1)
    assert " pid " in by


def test_unreadable_rows_are_named_and_future_versions_refused(pg_url: str) -> None:
    backend = PostgresState(pg_url)
    backend.write(State())
    sql(pg_url, "UPDATE mwin_states SET data = %s", Jsonb({"serial": "many"}))
    with pytest.raises(StateError, match=r"does not match the state format \(.*mwin_states"
                                         r"\.previous"):
        backend.read()
    rebuilt = backend.write(State())  # only `state rebuild` writes over an unreadable row
    assert rebuilt.serial == 1
    sql(pg_url, "UPDATE mwin_states SET data = %s",
        Jsonb({"format_version": FORMAT_VERSION + 1, "serial": 3}))
    with pytest.raises(StateError, match=f"has format_version {FORMAT_VERSION + 1}; this mwin"):
        backend.read()


def test_the_lock_row_names_the_holder_and_goes_away_on_unlock(pg_url: str) -> None:
    backend = PostgresState(pg_url)
    backend.lock("apply", 0)
    with pytest.raises(StateError, match="already locked by this process"):
        backend.lock("apply", 0)
    rows = sql(pg_url, "SELECT operation, backend_pid > 0 FROM mwin_locks")
    assert rows == [("apply", True)]
    backend.unlock()
    assert sql(pg_url, "SELECT * FROM mwin_locks") == []


def test_a_holder_that_wrote_no_row_or_a_stale_row_is_reported_as_unknown(pg_url: str) -> None:
    PostgresState(pg_url).read()  # tables
    sql(pg_url, "INSERT INTO mwin_locks VALUES ('default', 'ghost', 1, 'h', 'apply', now(), 1)")
    with psycopg.connect(pg_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, hashtext('default'))", (LOCK_CLASS,))
        with pytest.raises(StateLocked) as caught:
            PostgresState(pg_url).lock("plan", 0)
    assert "locked by another session (it has not recorded who it is yet)" in str(caught.value)
    assert "ghost" not in str(caught.value)


def test_a_lost_connection_fails_the_next_write_instead_of_writing_unlocked(
        pg_url: str) -> None:
    backend = PostgresState(pg_url)
    backend.lock("apply", 0)
    pid = sql(pg_url, "SELECT backend_pid FROM mwin_locks")[0][0]
    sql(pg_url, "SELECT pg_terminate_backend(%s)", pid)
    with pytest.raises(StateError) as caught:
        backend.write(State())
    assert "writing failed" in str(caught.value)
    assert str(caught.value).endswith("(the state lock went with the connection)")
    backend.unlock()  # nothing left to release; harmless
    assert PostgresState(pg_url).read().serial == 0


def test_connection_errors_never_show_the_password(postgres_server: PgServer) -> None:
    url = f"postgresql://mwin:s3cr3t@127.0.0.1:{postgres_server.port}/nope?password=s3cr3t"
    with pytest.raises(StateError) as caught:
        PostgresState(url).read()
    text = str(caught.value)
    assert "s3cr3t" not in text and "connecting failed" in text and "nope" in text


def test_unlock_ends_the_session_of_a_live_holder_and_never_shows_the_password(
        pg_url: str) -> None:
    url = pg_url.replace("postgresql://mwin@", "postgresql://mwin:s3cr3t@")
    holder = PostgresState(url)  # another connection of this process holds the lock
    holder.lock("apply", 0)
    lock_id, session = sql(pg_url, "SELECT lock_id, backend_pid FROM mwin_locks")[0]
    with pytest.raises(StateLocked) as caught:
        PostgresState(url).lock("plan", 0)
    asked: list[str] = []
    done = PostgresState(url).force_unlock(lock_id, asked.append)
    assert done.endswith(f": ended its database session (backend pid {session}).")
    for text in (str(caught.value), *asked, done):
        assert "s3cr3t" not in text and "postgresql://mwin:***@127.0.0.1" in text
    assert sql(pg_url, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", session) == [(0,)]
    assert sql(pg_url, "SELECT * FROM mwin_locks") == []
    with pytest.raises(StateError) as lost:  # the holder cannot go on as if it still held it
        holder.write(State())
    assert str(lost.value).endswith("(the state lock went with the connection)")
    holder.unlock()

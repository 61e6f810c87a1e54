"""Team state: the real `mwin` CLI against moldsim with its state in a real PostgreSQL.

Two `mwin apply` runs share one state: the second waits for the first's lock, then plans on
top of its result; killing the lock holder frees the lock at once. Workspaces and
`state push`/`pull` move states between the file and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from moldsim.server import MoldSim
from reconciler.state import LocalState, ResourceState, State
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi
from tests.helpers.postgres import PgServer, postgres_server  # noqa: F401 - fixture

ONE = """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022: {url: https://example.com/ws2022.iso, os_type: Windows PV}
"""
TWO = ONE + "  virtio-win: {url: https://example.com/virtio-win.iso, bootable: false}\n"


@pytest.fixture
def pg(postgres_server: PgServer) -> str:  # noqa: F811 - the imported fixture
    return postgres_server.new_database()


@pytest.fixture
def slow_sim() -> Iterator[MoldSim]:
    with MoldSim(job_seconds=2.5) as server:  # the first apply outlasts the second's start
        yield server


def team_mwin(url: str, tmp_path: Path, pg: str, name: str = "op") -> Mwin:
    workdir = tmp_path / name
    workdir.mkdir()
    mwin = Mwin(url, workdir)
    mwin.env["MWIN_BACKEND"] = pg
    return mwin


def spawn_apply(mwin: Mwin, spec: Path, *extra: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "reconciler", "apply", str(spec), "--auto-approve",
            "--poll-interval", "50ms", "--parallelism", "1", *extra]
    return subprocess.Popen(argv, cwd=mwin.workdir, env=mwin.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


# The waiter's interpreter and mwin's imports take seconds on a loaded machine, longer than
# the lock holder may still hold the lock: it is started ahead, says when it is ready, and
# runs `python -m reconciler` only once told to.
_READY = "ready to apply"
_WARM = ("import runpy, sys; import reconciler.cli; "
         f"print({_READY!r}, file=sys.stderr, flush=True); sys.stdin.readline(); "
         "runpy.run_module('reconciler', run_name='__main__', alter_sys=True)")


def warm_apply(mwin: Mwin, spec: Path, *extra: str) -> subprocess.Popen[str]:
    """An apply whose process is started and imported; it runs at ``go``."""
    argv = [sys.executable, "-c", _WARM, "apply", str(spec), "--auto-approve",
            "--poll-interval", "50ms", "--parallelism", "1", *extra]
    proc = subprocess.Popen(argv, cwd=mwin.workdir, env=mwin.env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    assert proc.stderr.readline().strip() == _READY
    return proc


def go(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("\n")
    proc.stdin.flush()  # communicate() closes it


def stored(pg: str, workspace: str = "default") -> dict[str, Any]:
    with psycopg.connect(pg) as conn:
        row = conn.execute("SELECT data FROM mwin_states WHERE workspace = %s",
                           (workspace,)).fetchone()
    assert row is not None
    return dict(row[0])


def lock_holder(pg: str) -> tuple[int, str] | None:
    try:
        with psycopg.connect(pg) as conn:
            row = conn.execute("SELECT pid, operation FROM mwin_locks WHERE workspace = "
                               "'default'").fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return (row[0], row[1]) if row else None


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def isos(sim: MoldSim) -> list[str]:
    mold = MoldApi(sim.url)
    try:
        return sorted(r["name"] for r in mold.items("listIsos", "iso", isofilter="self",
                                                    listall=True))
    finally:
        mold.close()


def test_two_applies_take_turns_and_the_second_builds_on_the_first(
        slow_sim: MoldSim, tmp_path: Path, pg: str) -> None:
    alice, bob = team_mwin(slow_sim.url, tmp_path, pg, "alice"), team_mwin(
        slow_sim.url, tmp_path, pg, "bob")
    (alice.workdir / "spec.yaml").write_text(ONE)
    (bob.workdir / "spec.yaml").write_text(TWO)
    second = warm_apply(bob, bob.workdir / "spec.yaml", "--lock-timeout", "60s")
    first = spawn_apply(alice, alice.workdir / "spec.yaml")
    wait_for(lambda: lock_holder(pg) == (first.pid, "apply"))
    go(second)
    out1, err1 = first.communicate(timeout=60)
    out2, err2 = second.communicate(timeout=60)
    assert (first.returncode, second.returncode) == (0, 0), err1 + err2

    waiting = [line for line in err2.splitlines() if "waiting up to 60s" in line]
    assert len(waiting) == 1, err2
    assert f"pid {first.pid} on " in waiting[0] and "(operation apply, since " in waiting[0]
    assert "***" not in waiting[0] and "(workspace default)" in waiting[0]
    # Bob planned after Alice finished: her ISO was in state, only his was left to create.
    assert "Apply complete! 1 action(s) done." in out1
    assert "Apply complete! 1 action(s) done." in out2
    assert "iso.virtio-win" in out2 and "iso.win2022 will be created" not in out2

    final = stored(pg)
    assert sorted(final["resources"]) == ["iso.virtio-win", "iso.win2022"]
    assert isos(slow_sim) == ["virtio-win", "win2022"]
    assert lock_holder(pg) is None  # both released
    assert bob.plan_json(bob.workdir / "spec.yaml")["actions"] == []


def test_killing_the_lock_holder_lets_the_waiter_in_at_once(
        slow_sim: MoldSim, tmp_path: Path, pg: str) -> None:
    alice, bob = team_mwin(slow_sim.url, tmp_path, pg, "alice"), team_mwin(
        slow_sim.url, tmp_path, pg, "bob")
    (alice.workdir / "spec.yaml").write_text(TWO)
    (bob.workdir / "spec.yaml").write_text(TWO)
    second = warm_apply(bob, bob.workdir / "spec.yaml", "--lock-timeout", "60s")
    first = spawn_apply(alice, alice.workdir / "spec.yaml")
    wait_for(lambda: lock_holder(pg) == (first.pid, "apply"))
    go(second)
    assert second.stderr is not None and second.stdout is not None
    assert "waiting up to 60s" in second.stderr.readline()  # bob is queued behind alice
    os.kill(first.pid, signal.SIGKILL)
    killed = time.monotonic()
    first.communicate(timeout=10)
    second.stdout.readline()  # bob prints his plan as soon as he holds the lock
    assert time.monotonic() - killed < 3
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert sorted(stored(pg)["resources"]) == ["iso.virtio-win", "iso.win2022"]
    assert isos(slow_sim) == ["virtio-win", "win2022"]  # what alice left is adopted, not doubled


def test_push_pull_and_workspaces_through_the_cli(tmp_path: Path, pg: str) -> None:
    mwin = Mwin("http://127.0.0.1:9/unused", tmp_path)  # none of these commands talk to Mold
    LocalState(mwin.state).write(State().with_resource("iso.win2022", ResourceState(id="i-1"))
                                 .with_resource("iso.virtio-win", ResourceState(id="i-2")))
    local = json.loads(mwin.state.read_text())

    pushed = mwin("state", "push", str(mwin.state), "--backend", pg)
    assert pushed.code == 0, pushed.err
    assert f"(lineage {local['lineage']}, serial {local['serial'] + 1})" in pushed.out
    assert mwin("state", "push", str(mwin.state), "--backend", pg).code == 1  # newer there now
    garbled = mwin("state", "push", "-", "--backend", pg, stdin="{")
    assert garbled.code == 1 and "stdin does not hold a state" in garbled.err
    mwin.env["MWIN_BACKEND"] = pg
    pulled = json.loads(mwin("state", "pull").out)
    assert (pulled["lineage"], pulled["resources"]) == (local["lineage"], local["resources"])

    made = mwin("workspace", "new", "zone-b")
    assert made.code == 0 and (mwin.workdir / ".mwin" / "workspace").read_text() == "zone-b\n"
    assert mwin("workspace", "list").out == "  default\n* zone-b\n"
    assert mwin("state", "list").out == ""  # zone-b is empty; default still holds two
    assert mwin("state", "list", "--workspace", "default").out.count("\n") == 2
    assert mwin("workspace", "new", "zone-b").code == 1
    missing = mwin("workspace", "select", "nope")
    assert missing.code == 1 and "mwin workspace new nope" in missing.err
    assert mwin("workspace", "select", "default").code == 0
    assert mwin("workspace", "list").out == "* default\n  zone-b\n"


def test_a_password_in_the_url_is_never_printed(mwin: Mwin, postgres_server: PgServer  # noqa: F811
                                                ) -> None:
    url = f"postgresql://mwin:s3cr3t-pw@127.0.0.1:{postgres_server.port}/no_such_db"
    run = mwin("state", "list", "--backend", url)
    assert run.code == 1 and "Traceback" not in run.err
    assert "s3cr3t" not in run.err + run.out
    assert "postgresql://mwin:***@127.0.0.1" in run.err and "no_such_db" in run.err

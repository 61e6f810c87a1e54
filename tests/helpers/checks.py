"""Small checks the tests share: a run that must succeed, a spec written to disk, the
operations of a JSON plan, what Mold holds, an async job awaited with an outside client."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.helpers.cli import Run
from tests.helpers.mold_api import MoldApi

__all__ = ["ok", "write", "ops", "isos_in_mold", "wait_job", "tags_of", "STOP_AT_ONCE"]

# apply flags for specs whose VMs are stopped for a template while no guest powers itself off
STOP_AT_ONCE = ("--wait-for-guest-shutdown", "0", "--force-stop")


def ok(run: Run) -> Run:
    """``run``, asserted to have exited 0 (its output in the failure message)."""
    assert run.code == 0, f"exit {run.code}\nstdout:\n{run.out}\nstderr:\n{run.err}"
    return run


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def ops(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """(address, operation) of every action of a plan as `mwin plan --json` prints it."""
    return [(a["address"], a["operation"]) for a in plan["actions"]]


def isos_in_mold(mold: MoldApi) -> dict[str, dict[str, Any]]:
    """The caller's ISOs by name (one row each: the tests' ISOs are in one zone); two ISOs of
    one name fail here, so that a duplicate or a replaced ISO left behind never hides."""
    rows = mold.items("listIsos", "iso", isofilter="self", listall=True)
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names)), f"ISOs of the same name in Mold: {sorted(names)}"
    return {r["name"]: r for r in rows}


def wait_job(mold: MoldApi, jobid: str, seconds: float = 10.0) -> dict[str, Any]:
    """queryAsyncJobResult until the job ends; its answer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = mold.call("queryAsyncJobResult", jobid=jobid)
        if job["jobstatus"] != 0:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {jobid} did not finish in {seconds}s")


def tags_of(row: dict[str, Any]) -> dict[str, str]:
    """A listed object's tags as a mapping."""
    return {t["key"]: t["value"] for t in row.get("tags") or []}

"""SIGKILL at every step kind of the Windows template workflow, then recovery.

`mwin apply` kills itself (MWIN_FAILPOINTS, a real SIGKILL: no handler, no cleanup) right after
Mold answered a change (its job still running), after an action finished but before state
recorded it, and in the middle of a state write. The next plan must adopt what the killed run
made (never create it again), show only what is really left, and the apply after it must
converge with exactly one object per declared resource.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from moldsim.server import MoldSim
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

ROOT = Path(__file__).resolve().parents[2]
STAGES = ROOT / "specs" / "windows-11"
FINAL = STAGES / "06-template.yaml"
APPLY = ("--auto-approve", "--wait-for-guest-shutdown", "0", "--force-stop")
LISTS = {  # kind → how to list every object of it in Mold
    "iso": ("listIsos", "iso", {"isofilter": "self"}),
    "network": ("listNetworks", "network", {}),
    "vm": ("listVirtualMachines", "virtualmachine", {}),
    "template": ("listTemplates", "template", {"templatefilter": "self"}),
}


@pytest.fixture
def slow_jobs() -> Iterator[MoldSim]:
    """Jobs take long enough that a kill right after an answer finds them still running."""
    with MoldSim(job_seconds=0.3) as server:
        yield server


def names_in_mold(mold: MoldApi) -> dict[str, Counter[str]]:
    return {kind: Counter(str(row.get("name")) for row in
                          mold.items(command, key, listall=True, **params))
            for kind, (command, key, params) in LISTS.items()}


def killed_apply(mwin: Mwin, spec: Path, failpoint: str) -> None:
    mwin.env["MWIN_FAILPOINTS"] = failpoint
    try:
        run = mwin("apply", str(spec), *APPLY, process=True)  # it kills its own process
    finally:
        del mwin.env["MWIN_FAILPOINTS"]
    assert run.code == -signal.SIGKILL, (failpoint, run.code, run.err)


def state_serial(mwin: Mwin) -> int | None:
    """The state file is whole JSON (or absent): never half-written."""
    if not mwin.state.exists():
        return None
    return int(json.loads(mwin.state.read_text())["serial"])


def assert_recovers(mwin: Mwin, mold: MoldApi, spec: Path) -> dict:
    """The plan after a kill creates nothing that exists; the apply after it converges."""
    state_serial(mwin)
    present = names_in_mold(mold)
    plan = mwin.plan_json(spec)
    for action in plan["actions"]:
        name = str((action.get("after") or {}).get("name"))
        if action["operation"] == "create":
            assert present[action["kind"]][name] == 0, f"{action['address']} exists: {plan}"
        if action["operation"] == "adopt":
            assert present[action["kind"]][name] == 1, action
    run = mwin("apply", str(spec), *APPLY)
    assert run.code == 0, run.err
    assert mwin("plan", str(spec), "--detailed-exitcode").code == 0
    after = names_in_mold(mold)
    duplicates = {kind: [n for n, c in names.items() if c > 1] for kind, names in after.items()}
    assert duplicates == {kind: [] for kind in LISTS}
    assert sum(after["vm"].values()) == 1
    assert sum(after["template"].values()) == (1 if spec == FINAL else 0)
    return plan


def settle(mold: MoldApi, timeout: float = 20.0) -> None:
    """Wait until no VM has a job running (the killed apply's job finishes on its own)."""
    deadline = time.monotonic() + timeout
    while any(vm.get("jobid") for vm in mold.items("listVirtualMachines", "virtualmachine",
                                                     listall=True)):
        assert time.monotonic() < deadline, "a VM job did not finish"
        time.sleep(0.05)


def ops_of(plan: dict) -> list[tuple[str, str]]:
    return [(a["address"], a["operation"]) for a in plan["actions"]]


@pytest.mark.parametrize("failpoint, adopted", [
    ("answered:registerIso", "iso"),
    ("answered:createNetwork", "network.prep-net"),
    ("answered:deployVirtualMachine", "vm.win11-master"),
    ("answered:createTemplate", "template.win11-base"),
    ("before-record:create", ""),  # ISOs, networks, VMs: recorded when Mold answered
    ("before-record:create_template", ""),  # recorded when Mold answered: nothing to adopt
])
def test_killed_after_a_create_the_next_run_adopts_it(
        slow_jobs: MoldSim, tmp_path: Path, failpoint: str, adopted: str | None) -> None:
    mwin, mold = Mwin(slow_jobs.url, tmp_path), MoldApi(slow_jobs.url)
    killed_apply(mwin, FINAL, failpoint)
    settle(mold)  # the killed run's deploy ends in Mold before the next plan looks at it
    plan = assert_recovers(mwin, mold, FINAL)
    adopts = [address for address, op in ops_of(plan) if op == "adopt"]
    mold.close()
    if adopted == "":  # the killed action's object is in state: it is not adopted
        assert adopts == [], plan
        return
    assert adopts, plan
    if adopted is not None:
        assert any(a.startswith(adopted) for a in adopts), adopts


@pytest.mark.parametrize("failpoint, stage, left", [
    ("answered:detachIso", "02-virtio-drivers", [("vm.win11-master", "attach_iso")]),
    ("answered:attachIso", "02-virtio-drivers", []),
    ("answered:stopVirtualMachine", "06-template",
     [("vm.win11-master", "create_snapshot"), ("template.win11-base", "create_template")]),
])
def test_killed_after_a_step_the_next_plan_shows_only_what_is_left(
        slow_jobs: MoldSim, tmp_path: Path, failpoint: str, stage: str,
        left: list[tuple[str, str]]) -> None:
    mwin, mold = Mwin(slow_jobs.url, tmp_path), MoldApi(slow_jobs.url)
    before = "05-guest-tools" if stage == "06-template" else "01-deploy"
    prepared = mwin("apply", str(STAGES / f"{before}.yaml"), *APPLY)
    assert prepared.code == 0, prepared.err
    spec = STAGES / f"{stage}.yaml"
    killed_apply(mwin, spec, failpoint)
    settle(mold)  # the killed run's job ends in Mold; then only what is left remains
    plan = mwin.plan_json(spec)
    assert ops_of(plan) == left
    assert_recovers(mwin, mold, spec)
    mold.close()


def test_killed_in_the_middle_of_a_state_write_keeps_the_last_whole_state(
        slow_jobs: MoldSim, tmp_path: Path) -> None:
    mwin, mold = Mwin(slow_jobs.url, tmp_path), MoldApi(slow_jobs.url)
    killed_apply(mwin, FINAL, "state-write@3")
    settle(mold)
    assert state_serial(mwin) == 2  # two whole writes; the third died half-way in its temp file
    leftovers = [p.name for p in mwin.state.parent.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1
    kept = json.loads(mwin.state.read_text())["resources"]
    plan = assert_recovers(mwin, mold, FINAL)  # no create of what exists, one of each after
    # what the lost write held is adopted or was recorded early by a write before it (objects
    # are recorded when Mold answers, before their tags: one the kill left untagged is tagged,
    # an adopt): which, depends on how the records fell into writes. Nothing kept is made again
    assert not set(kept) & {a for a, op in ops_of(plan) if op == "create"}
    mold.close()

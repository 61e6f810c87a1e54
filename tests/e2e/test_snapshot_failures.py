"""VM snapshots through failures: the snapshot is recorded before its job, so one whose job
outlives the apply is known (and deleted once no longer declared), one still being taken is
left to its job with a warning (Mold deletes none in that state), and one left in Error is
deleted whether or not it is still declared."""

from __future__ import annotations

import json
import time
from pathlib import Path

from moldsim.server import MoldSim
from tests.helpers.checks import STOP_AT_ONCE, ok, write
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

SPEC = """\
version: 1
defaults: {{zone: Zone1}}
isos:
  win: {{url: "https://example.com/ws2022.iso", os_type: Windows PV}}
networks:
  prep-net: {{}}
vms:
  master: {{install_iso: win, compute_offering: 2vCore-4GB, disk_offering: 50GB,
           networks: [prep-net], state: stopped, snapshots: [{snaps}]}}
"""
FAST = ("--auto-approve", *STOP_AT_ONCE)


def declared(sim: MoldSim, tmp_path: Path, snaps: str) -> tuple[Mwin, Path]:
    """The VM applied without snapshots, then the spec declaring ``snaps``."""
    mwin = Mwin(sim.url, tmp_path)
    spec = write(tmp_path / "spec.yaml", SPEC.format(snaps=""))
    ok(mwin("apply", str(spec), *FAST))
    write(spec, SPEC.format(snaps=snaps))
    return mwin, spec


def snapshots(mold: MoldApi) -> list[tuple[str, str]]:
    return [(r["displayname"], r["state"])
            for r in mold.items("listVMSnapshot", "vmSnapshot", listall=True)]


def test_a_snapshot_whose_job_outlived_the_apply_is_known(tmp_path: Path) -> None:
    with MoldSim(job_seconds=0.05) as sim, MoldApi(sim.url) as mold:
        mwin, spec = declared(sim, tmp_path, "after-sysprep")
        sim.set_faults(hang_jobs=[{"command": "createVMSnapshot", "count": 1}])
        late = mwin("apply", str(spec), *FAST, "--job-timeout", "300ms")
        assert late.code == 1 and snapshots(mold) == [("after-sysprep", "Creating")]
        sim.set_faults(clear=True)
        held = mwin.plan_json(spec)
        assert held["actions"] == []
        assert any(w.endswith("VM snapshot 'after-sysprep' is still being taken in Mold (a job "
                              "works on it): how it ends shows in the next `mwin plan`")
                   for w in held["warnings"])
        write(spec, SPEC.format(snaps=""))
        assert mwin.plan_json(spec)["actions"] == []  # Mold deletes none while it is taken


def test_a_slow_snapshot_is_deleted_once_no_longer_declared(tmp_path: Path) -> None:
    with MoldSim(job_seconds=0.05) as sim, MoldApi(sim.url) as mold:
        mwin, spec = declared(sim, tmp_path, "after-sysprep")
        sim.config.job_seconds = 1.0
        assert mwin("apply", str(spec), *FAST, "--job-timeout", "200ms").code == 1
        sim.config.job_seconds = 0.05
        deadline = time.monotonic() + 10
        while snapshots(mold) != [("after-sysprep", "Ready")]:
            assert time.monotonic() < deadline, snapshots(mold)
            time.sleep(0.05)
        assert "No changes." in ok(mwin("plan", str(spec))).out
        write(spec, SPEC.format(snaps=""))
        plan = mwin.plan_json(spec)
        assert [(a["operation"], a["reason"]) for a in plan["actions"]] == [
            ("delete_snapshot", "VM snapshot 'after-sysprep' is no longer declared")]
        ok(mwin("apply", str(spec), *FAST))
        assert snapshots(mold) == []


def test_a_failed_snapshot_no_longer_declared_is_deleted(tmp_path: Path) -> None:
    with MoldSim(job_seconds=0.05) as sim, MoldApi(sim.url) as mold:
        mwin, spec = declared(sim, tmp_path, "after-sysprep")
        sim.set_faults(fail_jobs=[{"command": "createVMSnapshot", "count": 1}])
        assert mwin("apply", str(spec), *FAST).code == 1
        assert snapshots(mold) == [("after-sysprep", "Error")]
        write(spec, SPEC.format(snaps=""))
        plan = mwin.plan_json(spec)
        assert [(a["operation"], a["reason"]) for a in plan["actions"]] == [
            ("delete_snapshot", "VM snapshot 'after-sysprep' is in Error (an earlier try "
                                "failed) and no longer declared: delete it")]
        ok(mwin("apply", str(spec), *FAST))
        assert snapshots(mold) == []
        assert "No changes." in ok(mwin("plan", str(spec))).out


def test_a_snapshot_mold_refuses_at_once_is_not_recorded(tmp_path: Path) -> None:
    with MoldSim(job_seconds=0.05) as sim, MoldApi(sim.url) as mold:
        mwin = Mwin(sim.url, tmp_path)
        spec = write(tmp_path / "spec.yaml", SPEC.format(snaps="one"))
        ok(mwin("apply", str(spec), *FAST))
        mold.call("updateConfiguration", name="vmsnapshot.max", value="1")
        write(spec, SPEC.format(snaps="one, two"))
        refused = mwin("apply", str(spec), *FAST)
        assert refused.code == 1 and "createVMSnapshot failed (530)" in refused.err
        recorded = json.loads(mwin.state.read_text(encoding="utf-8"))["resources"]["vm.master"]
        assert recorded["attributes"]["snapshots"] == ["one"]
        assert [(a["operation"], a["drift"]) for a in mwin.plan_json(spec)["actions"]] == [
            ("create_snapshot", False)]


def test_a_snapshot_found_after_a_lost_answer_is_waited_for(tmp_path: Path) -> None:
    """createVMSnapshot carried out but its answer lost: the look finds the snapshot by its
    display name, with no job to follow (Mold lists none on a VM snapshot). The apply waits
    until the snapshot is Ready before it says it is done."""
    with MoldSim(job_seconds=0.05) as sim, MoldApi(sim.url) as mold:
        mwin, spec = declared(sim, tmp_path, "after-sysprep")
        sim.config.job_seconds = 0.8
        sim.set_faults(reset_after=[{"command": "createVMSnapshot", "count": 1}])
        run = ok(mwin("apply", str(spec), *FAST))
        assert "Mold did carry out createVMSnapshot" in run.err
        assert "is being taken: waiting for it to be Ready" in run.err
        assert snapshots(mold) == [("after-sysprep", "Ready")]
        sim.config.job_seconds = 0.05
        assert "No changes." in ok(mwin("plan", str(spec))).out
        # a snapshot whose job answered is not looked at again
        write(spec, SPEC.format(snaps="after-sysprep, second"))
        sim.control("POST", "/moldsim/stats/reset")
        run = ok(mwin("apply", str(spec), *FAST))
        assert "waiting for it to be Ready" not in run.err
        assert sim.control("GET", "/moldsim/stats")["by_command"].get("listVMSnapshot") == 1

"""A deploy whose job fails: Mold keeps the VM in state Error (it never ran). mwin records it
before the job ends, so nothing is left that state does not know, and the next plan replaces it
with its reason, lifecycle.protect or not (an Error VM holds no installed Windows)."""

from __future__ import annotations

import json
from pathlib import Path

from moldsim.server import MoldSim
from tests.helpers.checks import ok
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

DEPLOY = Path(__file__).resolve().parents[2] / "specs" / "windows-11-two-drives" / "01-deploy.yaml"
FAILED = "Unable to create a deployment for VM[User|i-2-9-VM]"


def vms(mold: MoldApi) -> list[tuple[str, str]]:
    return [(v["name"], v["state"])
            for v in mold.items("listVirtualMachines", "virtualmachine", listall=True)]


def test_a_failed_deploy_is_recorded_and_deployed_again(tmp_path: Path) -> None:
    with MoldSim(job_seconds=0.05, profile="mold-4.23") as sim, MoldApi(sim.url) as mold:
        sim.set_faults(fail_jobs=[{"command": "deployVirtualMachine", "errorcode": 530,
                                   "errortext": FAILED, "count": 1}])
        mwin = Mwin(sim.url, tmp_path)
        failed = mwin("apply", str(DEPLOY), "--auto-approve")
        assert failed.code == 1 and f"failed (530): {FAILED}" in failed.err
        assert vms(mold) == [("win11-master", "Error")]
        recorded = json.loads(mwin.state.read_text(encoding="utf-8"))["resources"]
        [error_vm] = mold.items("listVirtualMachines", "virtualmachine", listall=True)
        assert recorded["vm.win11-master"]["id"] == error_vm["id"]

        plan = mwin.plan_json(DEPLOY)  # the spec protects the master: not this one
        assert [(a["address"], a["operation"], a["reason"]) for a in plan["actions"]] == [
            ("vm.win11-master", "replace", "its deploy failed in Mold (state Error: it never "
             "ran, nothing is installed on it): deploy it again")]
        ok(mwin("apply", str(DEPLOY), "--auto-approve"))
        assert vms(mold) == [("win11-master", "Running")]
        assert "No changes." in ok(mwin("plan", str(DEPLOY))).out


def test_a_deploy_that_outlives_the_job_timeout_is_left_to_its_job(tmp_path: Path) -> None:
    """The VM is Starting while its job runs: no start is planned (Mold refuses one, "Unable
    to start VM … in state Starting"), no drift is claimed, and the plan says why."""
    with MoldSim(job_seconds=0.05, profile="mold-4.23") as sim, MoldApi(sim.url) as mold:
        sim.set_faults(hang_jobs=[{"command": "deployVirtualMachine", "count": 1}])
        mwin = Mwin(sim.url, tmp_path)
        late = mwin("apply", str(DEPLOY), "--auto-approve", "--job-timeout", "300ms")
        assert late.code == 1 and "did not finish within 0.3s (--job-timeout)" in late.err
        assert vms(mold) == [("win11-master", "Starting")]
        plan = mwin.plan_json(DEPLOY)
        assert plan["actions"] == []
        [warning] = [w for w in plan["warnings"] if "vm.win11-master" in w]
        assert warning.endswith(
            "it is starting in Mold: a job still works on it and takes it running; how that "
            "job ends shows in the next `mwin plan`")


def test_a_vm_starting_under_its_job_gets_no_stop(tmp_path: Path) -> None:
    """Declared stopped while the deploy's job still starts it: Mold refuses a stop then
    ("Unable to stop VM … in state Starting"), so none is planned until the job ends."""
    with MoldSim(job_seconds=0.05, profile="mold-4.23") as sim, MoldApi(sim.url) as mold:
        sim.set_faults(hang_jobs=[{"command": "deployVirtualMachine", "count": 1}])
        mwin = Mwin(sim.url, tmp_path)
        assert mwin("apply", str(DEPLOY), "--auto-approve", "--job-timeout", "300ms").code == 1
        assert vms(mold) == [("win11-master", "Starting")]
        stopped = tmp_path / "stopped.yaml"
        stopped.write_text(DEPLOY.read_text().replace("state: running", "state: stopped"))
        assert "state: stopped" in stopped.read_text()
        assert mwin.plan_json(stopped)["actions"] == []

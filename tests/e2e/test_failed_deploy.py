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

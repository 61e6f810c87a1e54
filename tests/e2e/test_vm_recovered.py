"""A VM destroyed by hand in Mold's UI and not yet expunged still holds its disk (with Windows
installed on it): the next plan recovers it (recoverVirtualMachine) instead of deploying an
empty VM that Mold would refuse anyway (its hostname is still taken in the network)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from moldsim.server import MoldSim
from tests.helpers.checks import ok, tags_of, wait_job
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

DEPLOY = Path(__file__).resolve().parents[2] / "specs" / "windows-11-two-drives" / "01-deploy.yaml"


def deployed(sim: MoldSim, mold: MoldApi, tmp_path: Path) -> tuple[Mwin, dict[str, Any]]:
    mwin = Mwin(sim.url, tmp_path)
    ok(mwin("apply", str(DEPLOY), "--auto-approve"))
    [vm] = mold.items("listVirtualMachines", "virtualmachine", listall=True)
    return mwin, vm


def test_a_vm_destroyed_by_hand_is_recovered_with_its_disk(tmp_path: Path) -> None:
    with MoldSim(job_seconds=0.05, profile="mold-4.23") as sim, MoldApi(sim.url) as mold:
        mwin, vm = deployed(sim, mold, tmp_path)
        [root] = mold.items("listVolumes", "volume", virtualmachineid=vm["id"], type="ROOT")
        wait_job(mold, mold.call("destroyVirtualMachine", id=vm["id"])["jobid"])  # no expunge

        plan = mwin.plan_json(DEPLOY)
        assert [(a["address"], a["operation"], a["actions"], a["drift"]) for a in plan["actions"]] \
            == [("vm.win11-master", "recover", ["recover"], True),
                ("vm.win11-master", "start", ["update"], True)]
        assert plan["actions"][0]["reason"] == (
            "destroyed in Mold outside mwin and not expunged yet: recover it (its disk, with "
            "what is installed on it, is kept)")
        assert plan["actions"][0]["destructive"] is False
        text = ok(mwin("plan", str(DEPLOY))).out
        assert "vm.win11-master will be recovered (destroyed outside mwin, its disk kept)" in text

        ok(mwin("apply", str(DEPLOY), "--auto-approve"))
        [back] = mold.items("listVirtualMachines", "virtualmachine", listall=True)
        assert (back["id"], back["state"]) == (vm["id"], "Running")  # the same VM
        assert [v["id"] for v in mold.items("listVolumes", "volume", virtualmachineid=vm["id"],
                                            type="ROOT")] == [root["id"]]
        assert "No changes." in ok(mwin("plan", str(DEPLOY))).out


def test_killed_right_after_the_recovery_the_next_plan_only_starts_it(tmp_path: Path) -> None:
    with MoldSim(job_seconds=0.05, profile="mold-4.23") as sim, MoldApi(sim.url) as mold:
        mwin, vm = deployed(sim, mold, tmp_path)
        wait_job(mold, mold.call("destroyVirtualMachine", id=vm["id"])["jobid"])
        mwin.env["MWIN_FAILPOINTS"] = "answered:recoverVirtualMachine"
        try:
            killed = mwin("apply", str(DEPLOY), "--auto-approve", process=True)
        finally:
            del mwin.env["MWIN_FAILPOINTS"]
        assert killed.code == -signal.SIGKILL, killed.err
        [back] = mold.items("listVirtualMachines", "virtualmachine", listall=True)
        assert (back["id"], back["state"]) == (vm["id"], "Stopped")
        plan = mwin.plan_json(DEPLOY)
        assert [(a["address"], a["operation"]) for a in plan["actions"]] == [
            ("vm.win11-master", "start")]
        ok(mwin("apply", str(DEPLOY), "--auto-approve"))
        assert "No changes." in ok(mwin("plan", str(DEPLOY))).out


def test_a_destroyed_vm_another_owner_holds_is_not_recovered(tmp_path: Path) -> None:
    with MoldSim(job_seconds=0.05, profile="mold-4.23") as sim, MoldApi(sim.url) as mold:
        mwin, vm = deployed(sim, mold, tmp_path)
        mine = tags_of(vm)["mwin:owner"]
        for command, value in (("deleteTags", mine), ("createTags", "another-state")):
            wait_job(mold, mold.call(command, resourcetype="UserVm", resourceids=vm["id"],
                                     **{"tags[0].key": "mwin:owner", "tags[0].value": value}
                                     )["jobid"])
        wait_job(mold, mold.call("destroyVirtualMachine", id=vm["id"])["jobid"])
        plan = mwin("plan", str(DEPLOY))
        assert plan.code == 1
        assert (f"state records its id {vm['id']}, but it belongs to another state (owner "
                "another-state): this state never adopts, changes or deletes it") in plan.err

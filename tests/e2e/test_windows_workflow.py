"""The guide's Windows template workflow, end to end: the real CLI against moldsim."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from moldsim.server import MoldSim
from tests.helpers.checks import ops
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {
    "windows-server-2022": ("vm.win2022-master", "template.win2022-base", "win2022"),
    "windows-11": ("vm.win11-master", "template.win11-base", "win11"),
}
EXPECTED_STAGE_OPS = {
    "01-deploy": None,  # checked separately: creates
    "02-virtio-drivers": ["detach_iso", "attach_iso"],
    "03-install-windows": ["detach_iso", "attach_iso"],
    "04-empty-drive": ["detach_iso"],
    "05-guest-tools": ["attach_iso"],
    "06-template": ["detach_iso", "stop", "create_snapshot", "create_template"],
}



def assert_valid_order(plan: dict) -> None:
    for index, action in enumerate(plan["actions"]):
        assert all(dep < index for dep in action["depends_on"]), action


def vm_in_mold(mold: MoldApi, name: str) -> dict:
    rows = mold.items("listVirtualMachines", "virtualmachine", name=name, listall=True)
    assert len(rows) == 1, rows
    return rows[0]


def test_final_stage_on_empty_mold_plans_the_whole_flow_in_order(mwin: Mwin, mold: MoldApi) -> None:
    spec = ROOT / "specs/windows-server-2022/06-template.yaml"
    plan = mwin.plan_json(spec)
    assert_valid_order(plan)
    sequence = ops(plan)
    position = {pair: i for i, pair in enumerate(sequence)}
    vm, template = "vm.win2022-master", "template.win2022-base"
    assert sorted(sequence) == sorted([
        ("iso.win2022", "create"), ("iso.virtio-win", "create"), ("network.prep-net", "create"),
        (vm, "create"), (vm, "detach_iso"), (vm, "stop"), (vm, "create_snapshot"),
        (template, "create_template")])
    assert position[("iso.win2022", "create")] < position[(vm, "create")]
    assert position[("network.prep-net", "create")] < position[(vm, "create")]
    assert position[(vm, "create")] < position[(vm, "detach_iso")] < position[(vm, "stop")]
    assert position[(vm, "stop")] < position[(template, "create_template")]
    stop = plan["actions"][position[(vm, "stop")]]
    create_template = plan["actions"][position[(template, "create_template")]]
    assert position[(vm, "create_snapshot")] in create_template["depends_on"]
    assert "template" in stop["reason"]
    assert plan["summary"]["add"] == 5

    refused = mwin("apply", str(spec), "--auto-approve", "--wait-for-guest-shutdown", "0")
    assert refused.code == 1
    assert "was deployed by this apply, so nothing is installed or generalized" in refused.err
    assert "--force-stop" in refused.err and "--wait-for-guest-shutdown" not in refused.err
    done = mwin("apply", str(spec), "--auto-approve", "--wait-for-guest-shutdown", "0",
                "--force-stop")
    assert done.code == 0, done.err
    assert mwin("plan", str(spec), "--detailed-exitcode").code == 0

    held = vm_in_mold(mold, "win2022-master")
    assert held["state"] == "Stopped" and "isoid" not in held
    assert "boottype" not in held  # BIOS: Mold reports boot type only for UEFI
    templates = mold.items("listTemplates", "template", templatefilter="self")
    assert [t["name"] for t in templates] == ["Windows Server 2022 기본 이미지 템플릿"]
    assert templates[0]["ostypename"] == "Windows PV" and templates[0]["ispublic"] is True


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_stages_of_the_guide_apply_in_order(example: str, sim: MoldSim, mwin: Mwin,
                                            mold: MoldApi) -> None:
    vm, template, iso = EXAMPLES[example]
    stages = sorted((ROOT / "specs" / example).glob("*.yaml"))
    assert [s.stem for s in stages] == list(EXPECTED_STAGE_OPS)
    for stage in stages:
        plan = mwin.plan_json(stage)
        assert_valid_order(plan)
        expected = EXPECTED_STAGE_OPS[stage.stem]
        if expected is None:
            assert sorted(ops(plan)) == sorted([(f"iso.{iso}", "create"), ("iso.virtio-win", "create"),
                                                ("network.prep-net", "create"), (vm, "create")])
        else:
            assert [op for _a, op in ops(plan)] == expected, ops(plan)
        if stage.stem == "06-template":  # the guest ran sysprep and powered itself off
            sim.guest_poweroff(vm_in_mold(mold, vm.split(".", 1)[1])["id"])
        run = mwin("apply", str(stage), "--auto-approve", "--wait-for-guest-shutdown", "5s")
        assert run.code == 0, run.err
        assert mwin("plan", str(stage), "--detailed-exitcode").code == 0, stage.name

    held = vm_in_mold(mold, vm.split(".", 1)[1])
    assert held["state"] == "Stopped" and "isoid" not in held
    if example == "windows-11":
        assert (held["boottype"], held["bootmode"]) == ("Uefi", "secure")
        assert held["details"]["tpmversion"] == "2.0"
        assert held["details"]["UEFI"] == "SECURE"
    else:
        assert "boottype" not in held and held["details"]["tpmversion"] == "NONE"
    snaps = mold.items("listVMSnapshot", "vmSnapshot", virtualmachineid=held["id"])
    # the declared name is Mold's display name; Mold names it <instancename>_VS_<UTC time>
    # (VMSnapshotManagerImpl.allocVMSnapshot)
    assert [s["displayname"] for s in snaps] == ["after-sysprep"]
    assert re.fullmatch(r"i-\d+-\d+-VM_VS_\d{14}", snaps[0]["name"]), snaps[0]["name"]
    again = mwin("apply", str(stages[-1]), "--auto-approve", "--wait-for-guest-shutdown", "5s")
    assert again.code == 0 and "No changes." in again.out, again.err
    assert len(mold.items("listVMSnapshot", "vmSnapshot", virtualmachineid=held["id"])) == 1
    templates = mold.items("listTemplates", "template", templatefilter="self")
    assert len(templates) == 1
    made = templates[0]
    assert made["isready"] is True and made["isfeatured"] is True and made["ispublic"] is True
    assert made["isdynamicallyscalable"] is True and made["requireshvm"] is True
    if example == "windows-11":
        assert made["details"]["UEFI"] == "SECURE" and made["details"]["tpmversion"] == "2.0"


def test_drift_behind_mwins_back_is_planned_back(sim: MoldSim, mwin: Mwin, mold: MoldApi,
                                                 tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    shutil.copy(ROOT / "specs/windows-11/06-template.yaml", spec)
    assert mwin("apply", str(spec), "--auto-approve", "--wait-for-guest-shutdown", "0",
                "--force-stop").code == 0
    vm = vm_in_mold(mold, "win11-master")
    iso = mold.items("listIsos", "iso", isofilter="self", name="win11")[0]
    template = mold.items("listTemplates", "template", templatefilter="self")[0]

    mold.call("attachIso", id=iso["id"], virtualmachineid=vm["id"])
    mold.call("startVirtualMachine", id=vm["id"])
    mold.call("deleteTemplate", id=template["id"])
    _wait_jobs(mold)

    plan = mwin.plan_json(spec)
    assert ops(plan) == [("vm.win11-master", "detach_iso"), ("vm.win11-master", "stop"),
                         ("template.win11-base", "create_template")]
    drift = {a["operation"]: a["drift"] for a in plan["actions"]}
    assert drift["detach_iso"] is True and drift["stop"] is True


def _wait_jobs(mold: MoldApi) -> None:
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        vms = mold.items("listVirtualMachines", "virtualmachine", listall=True)
        if all("jobid" not in v for v in vms) and all(v["state"] == "Running" for v in vms):
            return
        time.sleep(0.05)

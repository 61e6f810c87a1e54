"""Where a real Mold answers otherwise than the notes mwin was first written from (issue
"Behave like the real Mold"): each case against moldsim, which follows Mold's source."""

from __future__ import annotations

from pathlib import Path

import pytest

from moldsim.server import MoldSim
from tests.helpers.checks import STOP_AT_ONCE, ok
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

ROOT = Path(__file__).resolve().parents[2]
BASE = """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022: {url: "https://example.com/ws2022.iso", os_type: Windows PV}
networks:
  prep-net: {}
vms:
  master:
    install_iso: win2022
    compute_offering: 2vCore-4GB
    disk_offering: 50GB
    networks: [prep-net]
    state: stopped
"""
FAST = STOP_AT_ONCE



def requests(sim: MoldSim) -> dict[str, int]:
    return dict(sim.control("GET", "/moldsim/stats", {})["by_command"])


def test_a_vm_without_a_group_keeps_none(mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    """updateVirtualMachine group="" would make a group named "" (addInstanceToGroup)."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(BASE)
    ok(mwin("apply", str(spec), "--auto-approve", *FAST))
    spec.write_text(BASE.replace("master:\n", "master:\n    display_name: The master\n"))
    ok(mwin("apply", str(spec), "--auto-approve"))
    [vm] = mold.items("listVirtualMachines", "virtualmachine", listall=True)
    assert vm["displayname"] == "The master" and "group" not in vm and "groupid" not in vm
    assert "No changes." in ok(mwin("plan", str(spec))).out


def test_a_vm_from_a_uefi_template_without_boot_deploys_uefi(mwin: Mwin, mold: MoldApi,
                                                             sim: MoldSim, tmp_path: Path) -> None:
    """Mold copies the template's details (UEFI included) unless boot settings are given
    (UserVmManagerImpl.commitUserVm); mwin sends them only as declared."""
    uefi = BASE.replace("    state: stopped\n", "    state: stopped\n    boot: {type: UEFI, mode: "
                        "SECURE}\n") + "templates:\n  golden: {from_vm: master, os_type: Windows PV}\n"
    spec = tmp_path / "spec.yaml"
    spec.write_text(uefi)
    ok(mwin("apply", str(spec), "--auto-approve", *FAST))
    spec.write_text(uefi.replace("templates:", "  clone:\n    template: golden\n"
                                 "    compute_offering: 2vCore-4GB\n"
                                 "    networks: [prep-net]\ntemplates:"))
    planned = mwin.plan_json(spec)
    [deploy] = [a for a in planned["actions"] if a["address"] == "vm.clone"]
    assert deploy["operation"] == "create"
    ok(mwin("apply", str(spec), "--auto-approve"))
    [clone] = mold.items("listVirtualMachines", "virtualmachine", name="clone", listall=True)
    assert (clone["boottype"], clone["bootmode"]) == ("Uefi", "secure")
    assert "No changes." in ok(mwin("plan", str(spec))).out


def test_zone_all_with_a_lost_answer_is_registered_once(mwin: Mwin, mold: MoldApi, sim: MoldSim,
                                                        tmp_path: Path) -> None:
    """listIsos zoneid=-1 lists nothing (QueryManagerImpl.templateChecks): the lost answer
    of a cross-zone registerIso is looked for without a zone."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(BASE.split("networks:")[0].replace("os_type: Windows PV}",
                                                       "os_type: Windows PV, zone: all}"))
    sim.set_faults(reset_after=[{"command": "registerIso", "count": 1}])
    applied = ok(mwin("apply", str(spec), "--auto-approve"))
    assert "Mold did carry out registerIso" in applied.err
    rows = mold.items("listIsos", "iso", isofilter="self", listall=True, showunique=True)
    assert len(rows) == 1 and rows[0]["crossZones"] is True
    assert "No changes." in ok(mwin("plan", str(spec))).out


def test_listapis_is_asked_per_command_and_only_for_a_deploy(mwin: Mwin, sim: MoldSim,
                                                             tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(BASE.replace("    state: stopped\n", "    state: stopped\n    boot: {type: "
                                 "UEFI, mode: SECURE, tpm: \"2.0\"}\n"))
    before = requests(sim).get("listApis", 0)
    ok(mwin("plan", str(spec)))
    assert requests(sim).get("listApis", 0) - before == 1  # name=deployVirtualMachine
    ok(mwin("apply", str(spec), "--auto-approve", *FAST))
    settled = requests(sim).get("listApis", 0)
    assert "No changes." in ok(mwin("plan", str(spec))).out
    assert requests(sim).get("listApis", 0) == settled  # a plan with nothing to send asks nothing


@pytest.mark.parametrize("profile, example", [("cloudstack-4.17", "windows-server-2022"),
                                              ("mold-4.23", "windows-11")])
def test_guide_flow_on_other_releases(profile: str, example: str, tmp_path: Path) -> None:
    with MoldSim(job_seconds=0.05, profile=profile) as sim:
        mwin = Mwin(sim.url, tmp_path)
        if profile.startswith("cloudstack"):
            mwin.env["MOLD_SIGNATURE"] = "sha1"
        for stage in sorted((ROOT / "specs" / example).glob("*.yaml")):
            if stage.stem == "06-template":
                name = "win2022-master" if example.endswith("2022") else "win11-master"
                mold = MoldApi(sim.url, algo="sha1" if profile.startswith("cloudstack")
                               else "sha256")
                vm = mold.items("listVirtualMachines", "virtualmachine", name=name)[0]
                mold.close()
                sim.guest_poweroff(vm["id"])
            ok(mwin("apply", str(stage), "--auto-approve", "--wait-for-guest-shutdown", "5s"))
            assert "No changes." in ok(mwin("plan", str(stage))).out, stage.name


def test_windows_11_needs_tpm_which_upstream_cloudstack_lacks(tmp_path: Path) -> None:
    with MoldSim(job_seconds=0.05, profile="cloudstack-4.17") as sim:
        mwin = Mwin(sim.url, tmp_path)
        mwin.env["MOLD_SIGNATURE"] = "sha1"
        refused = mwin("plan", str(ROOT / "specs/windows-11/01-deploy.yaml"))
        assert refused.code == 1 and "Traceback" not in refused.err
        assert "this Mold does not offer TPM: deployVirtualMachine has no `tpmversion`" \
            in refused.err

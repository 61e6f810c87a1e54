"""A VM may install from an ISO or deploy from a template that exists in Mold and is not
managed (`{name: …}` or `{id: …}`): the plan reads that kind even when the spec declares
none of it."""

from __future__ import annotations

from pathlib import Path

from moldsim.server import MoldSim
from tests.helpers.checks import STOP_AT_ONCE, ok, wait_job, write
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

SPEC = """\
version: 1
defaults: {{zone: Zone1}}
networks:
  net: {{}}
vms:
  vm1:
    {source}
    compute_offering: 2vCore-4GB
    disk_offering: 50GB
    networks: [net]
    state: stopped
"""


def test_an_iso_and_a_template_made_by_hand_are_found_by_name_and_id(
        sim: MoldSim, mold: MoldApi, tmp_path: Path) -> None:
    zone = mold.items("listZones", "zone")[0]["id"]
    winpv = mold.items("listOsTypes", "ostype", description="Windows PV")[0]["id"]
    iso = mold.call("registerIso", name="golden", url="https://example.com/golden.iso",
                    zoneid=zone, ostypeid=winpv)["iso"][0]["id"]
    mwin = Mwin(sim.url, tmp_path)
    for source in ("install_iso: {name: golden}", f"install_iso: {{id: {iso}}}"):
        spec = write(tmp_path / "spec.yaml", SPEC.format(source=source))
        assert [a["operation"] for a in mwin.plan_json(spec)["actions"]] == [
            "create", "create", "stop"]
    ok(mwin("apply", str(spec), "--auto-approve", *STOP_AT_ONCE))
    [vm] = mold.items("listVirtualMachines", "virtualmachine", name="vm1")
    [root] = mold.items("listVolumes", "volume", virtualmachineid=vm["id"], type="ROOT")
    made = mold.call("createTemplate", name="golden-tpl", displaytext="by hand",
                     volumeid=root["id"], ostypeid=winpv)
    assert wait_job(mold, made["jobid"])["jobstatus"] == 1
    ok(mwin("destroy", str(spec), "--auto-approve"))

    for source in ("template: {name: golden-tpl}", f"template: {{id: {made['id']}}}"):
        spec = write(tmp_path / "spec.yaml", SPEC.format(source=source))
        assert [a["operation"] for a in mwin.plan_json(spec)["actions"]] == ["create", "create"]
    ok(mwin("apply", str(spec), "--auto-approve", *STOP_AT_ONCE))
    [vm] = mold.items("listVirtualMachines", "virtualmachine", name="vm1")
    assert vm["templateid"] == made["id"]

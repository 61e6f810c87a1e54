"""Mold 4.23's CD-ROM drives (profile mold-4.23): isos/isomaxcount, additionalisoids, attach into
a free drive, detachIso id, vm.iso.max.count per cluster, ISO jobs serialised per VM (#1124).

Sources (M = ablecloud-team/ablestack-cloud, U = apache/cloudstack):
- M api/src/main/java/org/apache/cloudstack/api/response/UserVmResponse.java @0b10227:
  `isos` (AttachedIsoResponse, "The first entry mirrors isoid/isoname") and `isomaxcount`
- M server/src/main/java/com/cloud/api/query/dao/UserVmJoinDaoImpl.java @0b10227
  newUserVmResponse (first drive = CDROM_PRIMARY_DEVICE_SEQ with the ISO's bootable flag,
  vm_iso_map rows bootable false), effectiveCdromMaxCount (min of VmIsoMaxCount.valueIn(cluster)
  and the host's HOST_CDROM_MAX_COUNT)
- U api/src/main/java/org/apache/cloudstack/api/response/AttachedIsoResponse.java (id, name,
  displaytext, deviceseq), U api/src/main/java/org/apache/cloudstack/api/command/user/iso/
  DetachIsoCmd.java (`id`, since 4.23.0)
- Mold records "#1084 구현·배포·검증 기록" and "VM ISO 관리 개선 검증 — #1124" (moldsim/cdrom.py)
- L/M server/src/main/java/com/cloud/template/TemplateManagerImpl.java deleteIso ("Unable to
  delete iso, as it's used by other vms"), detachIso ("The specified VM has no ISO attached to
  it."), attachIso ("ISO is not available in the zone the VM is in.")
The refusal texts of the multi-drive checks are moldsim's (moldsim.cdrom, not found in Mold's
source); the tests take them from moldsim.cdrom rather than restating them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from moldsim import cdrom
from moldsim.server import MoldSim

from simclient import Workflow


@pytest.fixture
def wf() -> Iterator[Workflow]:
    with MoldSim(profile="mold-4.23") as sim, Workflow(sim.url) as client:
        client.sim = sim  # type: ignore[attr-defined]
        yield client


def _media(wf: Workflow) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(bootable install ISO, non-bootable VirtIO ISO, another non-bootable ISO, network)."""
    return (wf.ready_iso("win11", ostypeid=wf.os_type_id("Windows 11 (64-bit)"), displaytext="Windows 11"),
            wf.ready_iso("virtio-win", bootable=False, displaytext="VirtIO drivers"),
            wf.ready_iso("tools", bootable=False), wf.network())


def _entry(iso: dict[str, Any], seq: int, bootable: bool) -> dict[str, Any]:
    return {"id": iso["id"], "name": iso["name"], "displaytext": iso["displaytext"], "deviceseq": seq,
            "bootable": bootable}


def test_isos_and_isomaxcount(wf: Workflow) -> None:
    win, _, _, net = _media(wf)
    answer, job = wf.deploy(win["id"], net["id"])
    vm = wf.vm(answer["id"])
    assert vm["isos"] == [_entry(win, 3, True)] and vm["isomaxcount"] == 2
    assert (vm["isoid"], vm["isoname"]) == (win["id"], "win11")
    assert job["jobresult"]["virtualmachine"]["isos"] == [_entry(win, 3, True)]


def test_older_profiles_have_one_drive_and_no_isos_field() -> None:
    with MoldSim(profile="mold-4.21") as sim, Workflow(sim.url) as wf:
        win, virtio, _, net = _media(wf)
        answer, _ = wf.deploy(win["id"], net["id"], additionalisoids=virtio["id"])  # ignored
        vm = wf.vm(answer["id"])
        assert "isos" not in vm and "isomaxcount" not in vm and vm["isoid"] == win["id"]
        wf.run_job("attachIso", id=virtio["id"], virtualmachineid=answer["id"])
        assert wf.vm(answer["id"])["isoid"] == virtio["id"]  # the one drive: replaced


def test_deploy_with_an_additional_iso_keeps_it_for_the_start(wf: Workflow) -> None:
    win, virtio, _, net = _media(wf)
    answer, _ = wf.deploy(win["id"], net["id"], additionalisoids=virtio["id"], startvm=False)
    vm = wf.vm(answer["id"])
    assert vm["state"] == "Stopped"
    assert vm["isos"] == [_entry(win, 3, True), _entry(virtio, 4, False)]
    assert vm["isoid"] == win["id"]  # isoid/isoname: the first drive only
    wf.run_job("startVirtualMachine", id=answer["id"])
    vm = wf.vm(answer["id"])
    assert vm["state"] == "Running" and [i["deviceseq"] for i in vm["isos"]] == [3, 4]


@pytest.mark.parametrize("case", ["bootable", "duplicate", "two", "template"])
def test_additional_iso_refusals_come_before_the_vm(wf: Workflow, case: str) -> None:
    win, virtio, tools, net = _media(wf)
    extra, source, text = {
        "bootable": (win["id"], wf.ready_iso("other-win")["id"], cdrom.EXTRA_BOOTABLE.format(name="win11")),
        "duplicate": (win["id"], win["id"], cdrom.EXTRA_DUPLICATE.format(id=win["id"])),
        "two": (f"{virtio['id']},{tools['id']}", win["id"], cdrom.EXTRA_ONE),
        "template": (virtio["id"], None, cdrom.EXTRA_FROM_ISO),
    }[case]
    if source is None:
        source = _template(wf, win, net)
    status, body = wf.call("deployVirtualMachine", **wf.deploy_params(source, net["id"], name="second",
                                                                      additionalisoids=extra))
    assert (status, body["errorcode"], body["errortext"]) == (431, 431, text)
    assert all(v["name"] != "second" for v in wf.ok("listVirtualMachines").get("virtualmachine", []))


def _template(wf: Workflow, win: dict[str, Any], net: dict[str, Any]) -> str:
    answer, _ = wf.deploy(win["id"], net["id"], name="master")
    wf.run_job("stopVirtualMachine", id=answer["id"])
    volume = wf.first("listVolumes", "volume", virtualmachineid=answer["id"])
    created = wf.ok("createTemplate", name="tpl", displaytext="tpl", volumeid=volume["id"],
                    ostypeid=wf.os_type_id("Windows 11 (64-bit)"))
    wf.wait_job(created["jobid"])
    deadline = time.monotonic() + 10
    while not wf.first("listTemplates", "template", templatefilter="self", id=created["id"])["isready"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return str(created["id"])


def test_a_template_vm_has_an_empty_isos_list(wf: Workflow) -> None:
    win, _, _, net = _media(wf)
    template = _template(wf, win, net)
    answer, _ = wf.deploy(template, net["id"], name="from-template", hypervisor=None, diskofferingid=None)
    vm = wf.vm(answer["id"])
    assert vm["isos"] == [] and vm["isomaxcount"] == 2 and "isoid" not in vm


def test_attach_fills_free_drives_and_detach_names_the_iso(wf: Workflow) -> None:
    win, virtio, tools, net = _media(wf)
    vm_id = wf.deploy(win["id"], net["id"])[0]["id"]
    job = wf.run_job("attachIso", id=virtio["id"], virtualmachineid=vm_id)
    assert job["jobresult"]["virtualmachine"]["isos"] == [_entry(win, 3, True), _entry(virtio, 4, False)]
    full = wf.run_job("attachIso", id=tools["id"], virtualmachineid=vm_id)
    assert (full["jobstatus"], full["jobresultcode"], full["jobresult"]["errortext"]) == \
        (2, 431, cdrom.FULL.format(count=2, cap=2))
    again = wf.run_job("attachIso", id=virtio["id"], virtualmachineid=vm_id)
    assert again["jobresult"]["errortext"] == cdrom.ALREADY.format(name="virtio-win")
    which = wf.run_job("detachIso", virtualmachineid=vm_id)
    assert (which["jobresultcode"], which["jobresult"]["errortext"]) == (431, cdrom.WHICH)
    # detaching the first drive leaves the second one as it is (#1124 record)
    wf.run_job("detachIso", virtualmachineid=vm_id, id=win["id"])
    vm = wf.vm(vm_id)
    assert "isoid" not in vm and vm["isos"] == [_entry(virtio, 4, False)]
    wf.run_job("attachIso", id=tools["id"], virtualmachineid=vm_id)
    assert wf.vm(vm_id)["isos"] == [_entry(tools, 3, False), _entry(virtio, 4, False)]
    assert wf.vm(vm_id)["isoid"] == tools["id"]
    wf.run_job("detachIso", virtualmachineid=vm_id, id=tools["id"])
    wf.run_job("detachIso", virtualmachineid=vm_id)  # the only one left
    empty = wf.run_job("detachIso", virtualmachineid=vm_id)
    assert empty["jobresult"]["errortext"] == "The specified VM has no ISO attached to it."
    assert wf.vm(vm_id)["isos"] == []


def test_delete_iso_refused_while_in_the_second_drive(wf: Workflow) -> None:
    win, virtio, _, net = _media(wf)
    vm_id = wf.deploy(win["id"], net["id"], additionalisoids=virtio["id"])[0]["id"]
    job = wf.run_job("deleteIso", id=virtio["id"])
    assert (job["jobresultcode"], job["jobresult"]["errortext"]) == \
        (431, "Unable to delete iso, as it's used by other vms")
    wf.run_job("detachIso", virtualmachineid=vm_id, id=virtio["id"])
    assert wf.run_job("deleteIso", id=virtio["id"])["jobstatus"] == 1


def test_vm_iso_max_count_per_cluster_and_the_host_cap(wf: Workflow) -> None:
    win, virtio, _, net = _media(wf)
    vm_id = wf.deploy(win["id"], net["id"])[0]["id"]
    cluster = wf.first("listClusters", "cluster")
    assert (cluster["name"], cluster["zoneid"], cluster["hypervisortype"]) == ("Cluster1", wf.zone_id(), "KVM")
    setting = wf.first("listConfigurations", "configuration", name="vm.iso.max.count")
    assert (setting["value"], setting["defaultvalue"], setting["scope"]) == ("2", "2", "cluster")
    wf.ok("updateConfiguration", name="vm.iso.max.count", value="1", clusterid=cluster["id"])
    scoped = wf.first("listConfigurations", "configuration", name="vm.iso.max.count", clusterid=cluster["id"])
    assert (scoped["value"], scoped["id"]) == ("1", cluster["id"])
    assert wf.vm(vm_id)["isomaxcount"] == 1
    full = wf.run_job("attachIso", id=virtio["id"], virtualmachineid=vm_id)
    assert full["jobresult"]["errortext"] == cdrom.FULL.format(count=1, cap=1)
    wf.ok("updateConfiguration", name="vm.iso.max.count", value="3", clusterid=cluster["id"])
    assert wf.vm(vm_id)["isomaxcount"] == 2  # the host advertises two drives
    wf.sim.control("POST", "/moldsim/config", {"host_cdrom_max_count": 1})  # type: ignore[attr-defined]
    assert wf.vm(vm_id)["isomaxcount"] == 1


def test_a_stored_value_of_one_is_kept(tmp_path: Path) -> None:
    with MoldSim(profile="mold-4.23", data_dir=tmp_path) as sim, Workflow(sim.url) as wf:
        wf.ok("updateConfiguration", name="vm.iso.max.count", value="1")
    with MoldSim(profile="mold-4.23", data_dir=tmp_path) as sim, Workflow(sim.url) as wf:
        setting = wf.first("listConfigurations", "configuration", name="vm.iso.max.count")
        assert (setting["value"], setting["defaultvalue"]) == ("1", "2")
        win, _, _, net = _media(wf)
        assert wf.vm(wf.deploy(win["id"], net["id"])[0]["id"])["isomaxcount"] == 1


def test_iso_jobs_on_one_vm_run_one_after_the_other() -> None:
    """#1124: two attach jobs submitted at once both succeed into different drives, the second
    ending a job duration after the first; a stale detach finds its ISO gone."""
    with MoldSim(profile="mold-4.23", job_seconds=0.3) as sim, Workflow(sim.url) as wf:
        win, virtio, tools, net = _media(wf)
        vm_id = wf.deploy(win["id"], net["id"])[0]["id"]
        wf.run_job("detachIso", virtualmachineid=vm_id)
        first = wf.ok("attachIso", id=virtio["id"], virtualmachineid=vm_id)["jobid"]
        second = wf.ok("attachIso", id=tools["id"], virtualmachineid=vm_id)["jobid"]
        one, two = wf.wait_job(first), wf.wait_job(second)
        assert (one["jobstatus"], two["jobstatus"]) == (1, 1)
        assert two["jobresult"]["virtualmachine"]["isos"] == [_entry(virtio, 3, False), _entry(tools, 4, False)]
        assert sim.store.coll("jobs")[second]["due"] - sim.store.coll("jobs")[first]["due"] >= 0.29
        stale = [wf.ok("detachIso", virtualmachineid=vm_id, id=tools["id"])["jobid"] for _ in range(2)]
        done, late = wf.wait_job(stale[0]), wf.wait_job(stale[1])
        assert done["jobstatus"] == 1
        assert (late["jobresultcode"], late["jobresult"]["errortext"]) == \
            (431, cdrom.NOT_ATTACHED.format(id=tools["id"]))

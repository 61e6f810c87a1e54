"""Templates from a stopped VM's ROOT volume, and VM snapshots (reference §4.6, §4.7, §6)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from moldsim.server import MoldSim

from simclient import Workflow


@pytest.fixture
def wf(sim: MoldSim) -> Iterator[Workflow]:
    with Workflow(sim.url) as w:
        yield w


def _vm_and_root(wf: Workflow) -> tuple[dict, dict, dict]:
    """A running UEFI/SECURE/TPM VM installed from an ISO: (iso, vm, its ROOT volume)."""
    iso = wf.ready_iso("win11", ostypeid=wf.os_type_id("Windows 11 (64-bit)"), isextractable=True)
    answer, _ = wf.deploy(iso["id"], wf.network()["id"], keyboard="us",
                          **{"details[0].rootDiskController": "virtio"})
    root = wf.first("listVolumes", "volume", virtualmachineid=answer["id"], type="ROOT", listall=True)
    return iso, wf.vm(answer["id"]), root


def _template_params(wf: Workflow, root: dict, **extra: object) -> dict:
    return {"volumeid": root["id"], "name": "Windows 11 기본 이미지 템플릿", "displaytext": "base image",
            "ostypeid": wf.os_type_id("Windows 11 (64-bit)"), "ispublic": True, "isfeatured": True,
            "isdynamicallyscalable": True, "requireshvm": True, "passwordenabled": True, **extra}


def test_create_template_while_running_is_a_synchronous_530(wf: Workflow) -> None:
    _, _, root = _vm_and_root(wf)
    status, body = wf.call("createTemplate", **_template_params(wf, root))
    assert (status, body["errorcode"], body["cserrorcode"]) == (530, 530, 4250)
    assert body["errortext"] == (
        f"Unable to create private template for volume: {root['name']}; volume is attached to a "
        "non-stopped VM, please stop the VM first")
    assert wf.ok("listTemplates", templatefilter="all") == {}


def test_template_from_stopped_vm_with_iso_still_attached(wf: Workflow) -> None:
    iso, vm, root = _vm_and_root(wf)
    wf.run_job("stopVirtualMachine", id=vm["id"])
    assert wf.vm(vm["id"])["isoid"] == iso["id"]  # the drive is not emptied: Mold allows this
    answer = wf.ok("createTemplate", **_template_params(wf, root))
    assert set(answer) == {"id", "jobid"}
    job = wf.wait_job(answer["jobid"])
    assert (job["jobstatus"], job["jobinstancetype"], job["jobinstanceid"]) == (1, "Template", answer["id"])
    tpl = job["jobresult"]["template"]
    assert (tpl["name"], tpl["displaytext"], tpl["ostypename"]) == \
        ("Windows 11 기본 이미지 템플릿", "base image", "Windows 11 (64-bit)")
    assert (tpl["ispublic"], tpl["isfeatured"], tpl["isdynamicallyscalable"], tpl["requireshvm"],
            tpl["passwordenabled"], tpl["isextractable"]) == (True, True, True, True, True, True)
    assert (tpl["templatetype"], tpl["hypervisor"], tpl["format"]) == ("USER", "KVM", "QCOW2")
    assert tpl["sourcetemplateid"] == iso["id"]
    assert tpl["details"] == {"UEFI": "SECURE", "tpmversion": "2.0", "keyboard": "us",
                              "rootDiskController": "virtio"}


def test_template_is_not_ready_until_job_and_copy_are_done() -> None:
    # the job takes long enough that the first look surely comes before it ends, even on a
    # loaded machine
    with MoldSim(job_seconds=1.0, download_seconds=0.3) as sim, Workflow(sim.url) as wf:
        _, vm, root = _vm_and_root(wf)
        wf.run_job("stopVirtualMachine", id=vm["id"])
        answer = wf.ok("createTemplate", **_template_params(wf, root))
        row = wf.first("listTemplates", "template", templatefilter="self", id=answer["id"])
        assert row["isready"] is False
        assert wf.ok("listTemplates", templatefilter="selfexecutable") == {}
        wf.wait_job(answer["jobid"])
        statuses = []
        deadline = time.monotonic() + 5
        while True:  # at least one look after the job
            row = wf.first("listTemplates", "template", templatefilter="self", id=answer["id"])
            statuses.append(row["status"])
            if row["isready"] or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert row["isready"] is True and statuses[-1] == "Download Complete"
        assert wf.first("listTemplates", "template", templatefilter="featured")["id"] == answer["id"]


def test_list_templates_requires_a_valid_filter(wf: Workflow) -> None:
    status, body = wf.call("listTemplates")
    assert (status, body["errortext"]) == (431, "Unable to execute API command listtemplates due to missing parameter templatefilter")
    status, _ = wf.call("listTemplates", templatefilter="mine")
    assert status == 431


def test_update_permissions_and_delete_template(wf: Workflow) -> None:
    _, vm, root = _vm_and_root(wf)
    wf.run_job("stopVirtualMachine", id=vm["id"])
    answer = wf.ok("createTemplate", **_template_params(wf, root, ispublic=False, isfeatured=False))
    tpl_id = answer["id"]
    wf.wait_job(answer["jobid"])
    resp = wf.ok("updateTemplate", id=tpl_id, name="renamed", displaytext="new text",
                 ostypeid=wf.os_type_id("Windows PV"), passwordenabled=False)
    assert (resp["template"]["name"], resp["template"]["displaytext"], resp["template"]["ostypename"],
            resp["template"]["passwordenabled"]) == ("renamed", "new text", "Windows PV", False)
    assert wf.ok("updateTemplatePermissions", id=tpl_id, ispublic=True, isfeatured=True) == {"success": True}
    row = wf.first("listTemplates", "template", templatefilter="all", id=tpl_id)
    assert (row["ispublic"], row["isfeatured"]) == (True, True)
    assert wf.run_job("deleteTemplate", id=tpl_id)["jobresult"] == {"success": True}
    assert wf.ok("listTemplates", templatefilter="all") == {}


def test_vm_snapshots(sim: MoldSim, wf: Workflow) -> None:
    """The basic cycle; the rules are in test_sim_vmsnapshots.py."""
    _, vm, _ = _vm_and_root(wf)
    sim.guest_agent(vm["id"])  # a running VM's disk snapshot freezes the guest
    answer = wf.ok("createVMSnapshot", virtualmachineid=vm["id"], name="before-sysprep",
                   description="rollback point")
    assert set(answer) == {"id", "jobid"}
    job = wf.wait_job(answer["jobid"])
    assert (job["jobstatus"], job["jobinstancetype"]) == (1, "VmSnapshot")
    snap = job["jobresult"]["vmsnapshot"]
    assert (snap["id"], snap["displayname"], snap["state"], snap["virtualmachineid"]) == \
        (answer["id"], "before-sysprep", "Ready", vm["id"])
    listed = wf.ok("listVMSnapshot", virtualmachineid=vm["id"])
    assert listed["count"] == 1 and listed["vmSnapshot"][0]["description"] == "rollback point"
    assert wf.run_job("deleteVMSnapshot", vmsnapshotid=answer["id"])["jobresult"] == {"success": True}
    assert wf.ok("listVMSnapshot") == {}


def test_tags_on_vm_and_template_resources(wf: Workflow) -> None:
    _, vm, _ = _vm_and_root(wf)
    job = wf.run_job("createTags", resourcetype="UserVm", resourceids=vm["id"],
                     **{"tags[0].key": "mwin", "tags[0].value": "vm.win11-master"})
    assert job["jobstatus"] == 1
    found = wf.ok("listVirtualMachines", **{"tags[0].key": "mwin", "tags[0].value": "vm.win11-master"})
    assert [v["id"] for v in found["virtualmachine"]] == [vm["id"]]
    assert found["virtualmachine"][0]["tags"][0]["resourcetype"] == "UserVm"
    bad = wf.run_job("createTags", resourcetype="UserVm", resourceids="no-such-vm",
                     **{"tags[0].key": "k", "tags[0].value": "v"})
    assert (bad["jobstatus"], bad["jobresultcode"]) == (2, 431)

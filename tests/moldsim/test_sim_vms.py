"""Networks, VM deployment from an ISO, power, the CD drive, guest power-off (§4.3, §4.4, §6)."""

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


@pytest.fixture
def ready(wf: Workflow) -> tuple[dict, dict, dict]:
    """(windows iso, virtio iso, network)."""
    return (wf.ready_iso("win11", ostypeid=wf.os_type_id("Windows 11 (64-bit)")),
            wf.ready_iso("virtio-win", bootable=False), wf.network())


def test_create_network_defaults_and_listing(wf: Workflow) -> None:
    net = wf.network("prep-net", displaytext="Template preparation network")
    assert (net["state"], net["cidr"], net["gateway"], net["netmask"]) == \
        ("Allocated", "10.1.1.0/24", "10.1.1.1", "255.255.255.0")
    assert (net["type"], net["displaytext"]) == ("Isolated", "Template preparation network")
    second = wf.network("second", gateway="192.168.50.1", netmask="255.255.255.0")
    assert second["cidr"] == "192.168.50.0/24"
    listed = wf.ok("listNetworks")
    assert listed["count"] == 2 and [n["name"] for n in listed["network"]] == ["prep-net", "second"]
    # NetworkServiceImpl.createGuestNetwork: a gateway without a netmask (or a netmask
    # without a gateway) is ignored, no error: Mold picks both
    alone = wf.network("x", gateway="10.9.9.1")
    assert (alone["gateway"], alone["netmask"], alone["cidr"]) == \
        ("10.1.3.1", "255.255.255.0", "10.1.3.0/24")
    assert wf.network("y", netmask="255.255.0.0")["cidr"] == "10.1.4.0/24"


def test_network_names_repeat_unless_allow_duplicate_networkname_is_false(wf: Workflow) -> None:
    """NetworkServiceImpl.createGuestNetwork: AllowDuplicateNetworkName (Account, true)."""
    first = wf.network("same")
    assert wf.network("same")["id"] != first["id"]
    wf.ok("updateConfiguration", name="allow.duplicate.networkname", value="false")
    status, body = wf.call("createNetwork", name="same", zoneid=wf.zone_id(),
                           networkofferingid=first["networkofferingid"])
    assert (status, body["errortext"]) == \
        (431, "Another network with same name already exists within account: admin")
    assert wf.network("other")["name"] == "other"


def test_update_network_is_a_job(wf: Workflow) -> None:
    net = wf.network()
    job = wf.run_job("updateNetwork", id=net["id"], displaytext="new text", name="renamed")
    assert (job["jobstatus"], job["jobinstancetype"]) == (1, "Network")
    assert (job["jobresult"]["network"]["displaytext"], job["jobresult"]["network"]["name"]) == \
        ("new text", "renamed")


def test_deploy_from_iso_uefi_secure_tpm(wf: Workflow, ready: tuple) -> None:
    win, _, net = ready
    answer, job = wf.deploy(win["id"], net["id"], displayname="Windows 11 master", group="templates",
                            keyboard="us", **{"details[0].rootDiskController": "scsi"})
    assert set(answer) == {"id", "jobid"}
    assert (job["jobstatus"], job["jobinstancetype"], job["jobinstanceid"]) == (1, "VirtualMachine", answer["id"])
    vm = wf.vm(answer["id"])
    assert job["jobresult"]["virtualmachine"]["state"] == "Running" == vm["state"]
    assert (vm["templateid"], vm["isoid"], vm["templatename"]) == (win["id"], win["id"], "win11")
    assert (vm["boottype"], vm["bootmode"]) == ("Uefi", "secure")
    assert vm["details"] == {"UEFI": "SECURE", "tpmversion": "2.0", "keyboard": "us",
                             "rootDiskController": "scsi"}
    assert "tpmversion" not in vm
    assert (vm["name"], vm["displayname"], vm["group"]) == ("win-master", "Windows 11 master", "templates")
    assert (vm["cpunumber"], vm["memory"], vm["diskofferingname"], vm["hypervisor"]) == (4, 8192, "100GB", "KVM")
    assert vm["osdisplayname"] == "Windows 11 (64-bit)"
    assert [n["networkid"] for n in vm["nic"]] == [net["id"]] and vm["nic"][0]["isdefault"] is True
    root = wf.first("listVolumes", "volume", virtualmachineid=vm["id"], type="ROOT", listall=True)
    assert (root["name"].startswith("ROOT-"), root["state"], root["size"]) == (True, "Ready", 100 * 1024 ** 3)
    assert wf.first("listNetworks", "network", id=net["id"])["state"] == "Implemented"


def test_deploy_bios_legacy_has_no_boot_fields(wf: Workflow, ready: tuple) -> None:
    win, _, net = ready
    answer, _ = wf.deploy(win["id"], net["id"], boottype="BIOS", bootmode="LEGACY", tpmversion=None)
    vm = wf.vm(answer["id"])
    assert "boottype" not in vm and "bootmode" not in vm
    assert vm["details"] == {"tpmversion": "NONE"}


def test_vm_is_listable_at_once_in_stopped_with_its_job() -> None:
    with MoldSim(job_seconds=0.4) as sim, Workflow(sim.url) as wf:
        win, net = wf.ready_iso("win"), wf.network()
        answer = wf.ok("deployVirtualMachine", **wf.deploy_params(win["id"], net["id"]))
        vm = wf.vm(answer["id"])
        assert (vm["state"], vm["jobid"], vm["jobstatus"]) == ("Stopped", answer["jobid"], 0)
        root = wf.first("listVolumes", "volume", virtualmachineid=vm["id"])
        assert root["state"] == "Allocated"
        assert wf.wait_job(answer["jobid"])["jobstatus"] == 1
        vm = wf.vm(answer["id"])
        assert vm["state"] == "Running" and "jobid" not in vm


def test_startvm_false_stays_stopped_with_allocated_root(wf: Workflow, ready: tuple) -> None:
    win, _, net = ready
    answer, job = wf.deploy(win["id"], net["id"], startvm=False)
    assert job["jobresult"]["virtualmachine"]["state"] == "Stopped"
    assert wf.first("listVolumes", "volume", virtualmachineid=answer["id"])["state"] == "Allocated"
    assert wf.first("listNetworks", "network", id=net["id"])["state"] == "Allocated"


@pytest.mark.parametrize("change, code, text", [
    ({"hypervisor": None}, 431,
     "hypervisor parameter is needed to deploy VM or the hypervisor parameter value passed is invalid"),
    ({"diskofferingid": None}, 431,
     "Installing from ISO requires a disk offering to be specified for the root disk."),
    ({"bootmode": None}, 431,
     "bootmode must be specified for the VM with boot type: UEFI. Valid values are: [LEGACY, SECURE]"),
    ({"tpmversion": "V3"}, 431, "Invalid TpmVersion V3Specified for vm win-master Valid values are: [UEFI, BIOS]"),
    ({"name": "9lives"}, 431, None),
    ({"name": "bad_name"}, 431, None),
    ({"boottype": "BIOS", "bootmode": None}, 530, None),
])
def test_deploy_create_phase_errors_are_synchronous(wf: Workflow, ready: tuple, change: dict,
                                                    code: int, text: str | None) -> None:
    win, _, net = ready
    status, body = wf.call("deployVirtualMachine", **wf.deploy_params(win["id"], net["id"], **change))
    assert (status, body["errorcode"]) == (code, code)
    if text is not None:
        assert body["errortext"] == text
    assert wf.ok("listVirtualMachines") == {}


def test_deploy_custom_disk_needs_size_and_non_bootable_iso_is_refused(wf: Workflow, ready: tuple) -> None:
    win, virtio, net = ready
    custom = wf.offering("listDiskOfferings", "diskoffering", "Custom")
    status, _ = wf.call("deployVirtualMachine", **wf.deploy_params(win["id"], net["id"], diskofferingid=custom))
    assert status == 431
    answer, _ = wf.deploy(win["id"], net["id"], diskofferingid=custom, size=120)
    assert wf.first("listVolumes", "volume", virtualmachineid=answer["id"])["size"] == 120 * 1024 ** 3
    status, body = wf.call("deployVirtualMachine", **wf.deploy_params(virtio["id"], net["id"], name="other"))
    assert (status, body["errortext"]) == (431, f"Installing from ISO requires an ISO that is bootable: {virtio['id']}")


def test_duplicate_hostname_in_network_is_431(wf: Workflow, ready: tuple) -> None:
    win, _, net = ready
    wf.deploy(win["id"], net["id"])
    status, body = wf.call("deployVirtualMachine", **wf.deploy_params(win["id"], net["id"]))
    assert status == 431 and body["errortext"].startswith("The vm with hostName win-master already exists")


def test_iso_swaps_in_the_single_drive(wf: Workflow, ready: tuple) -> None:
    win, virtio, net = ready
    answer, _ = wf.deploy(win["id"], net["id"])
    vm_id = answer["id"]
    job = wf.run_job("detachIso", virtualmachineid=vm_id)
    assert job["jobstatus"] == 1 and "isoid" not in job["jobresult"]["virtualmachine"]
    failed = wf.run_job("detachIso", virtualmachineid=vm_id)
    assert (failed["jobstatus"], failed["jobresultcode"], failed["jobresult"]) == \
        (2, 431, {"errorcode": 431, "errortext": "The specified VM has no ISO attached to it."})
    assert wf.run_job("attachIso", id=virtio["id"], virtualmachineid=vm_id)["jobstatus"] == 1
    assert wf.vm(vm_id)["isoid"] == virtio["id"]
    job = wf.run_job("attachIso", id=win["id"], virtualmachineid=vm_id)  # replaces, as classic Mold
    assert job["jobresult"]["virtualmachine"]["isoid"] == win["id"]
    assert wf.vm(vm_id)["templateid"] == win["id"]
    used = wf.run_job("deleteIso", id=win["id"])
    assert (used["jobstatus"], used["jobresultcode"]) == (2, 431)


def test_stop_start_change_service_update(wf: Workflow, ready: tuple) -> None:
    win, _, net = ready
    answer, _ = wf.deploy(win["id"], net["id"])
    vm_id = answer["id"]
    bigger = wf.offering("listServiceOfferings", "serviceoffering", "8vCore-16GB")
    status, body = wf.call("changeServiceForVirtualMachine", id=vm_id, serviceofferingid=bigger)
    assert status == 431 and "not in stopped state" in body["errortext"]
    job = wf.run_job("stopVirtualMachine", id=vm_id, forced=True)
    assert job["jobresult"]["virtualmachine"]["state"] == "Stopped"
    resp = wf.ok("changeServiceForVirtualMachine", id=vm_id, serviceofferingid=bigger)
    assert (resp["virtualmachine"]["cpunumber"], resp["virtualmachine"]["memory"]) == (8, 16384)
    resp = wf.ok("updateVirtualMachine", id=vm_id, displayname="New name", group="g2",
                 **{"details[0].UEFI": "SECURE", "details[0].tpmversion": "2.0"})
    vm = resp["virtualmachine"]
    assert (vm["displayname"], vm["group"], vm["details"]) == \
        ("New name", "g2", {"UEFI": "SECURE", "tpmversion": "2.0"})  # details replaced as a whole
    assert wf.run_job("startVirtualMachine", id=vm_id)["jobresult"]["virtualmachine"]["state"] == "Running"


def test_destroy_with_expunge_frees_the_network(wf: Workflow, ready: tuple) -> None:
    win, _, net = ready
    answer, _ = wf.deploy(win["id"], net["id"])
    blocked = wf.run_job("deleteNetwork", id=net["id"])
    assert (blocked["jobstatus"], blocked["jobresult"]["errortext"]) == (2, "Failed to delete network")
    assert wf.run_job("destroyVirtualMachine", id=answer["id"], expunge=True)["jobstatus"] == 1
    assert wf.ok("listVirtualMachines") == {} and wf.ok("listVolumes") == {}
    assert wf.run_job("deleteNetwork", id=net["id"])["jobresult"] == {"success": True}
    assert wf.ok("listNetworks") == {}


def test_guest_poweroff_is_noticed_after_the_detect_delay() -> None:
    with MoldSim(guest_poweroff_detect_seconds=0.4) as sim, Workflow(sim.url) as wf:
        answer, _ = wf.deploy(wf.ready_iso("w")["id"], wf.network()["id"])
        sim.guest_poweroff(answer["id"])
        assert wf.vm(answer["id"])["state"] == "Running"
        time.sleep(0.45)
        assert wf.vm(answer["id"])["state"] == "Stopped"


def test_stop_after_guest_poweroff_completes_at_once_over_http() -> None:
    with MoldSim(job_seconds=0.0, guest_poweroff_detect_seconds=60) as sim, Workflow(sim.url) as wf:
        answer, _ = wf.deploy(wf.ready_iso("w")["id"], wf.network()["id"])
        sim.config.job_seconds = 30.0  # a normal stop would now take 30 s
        resp = wf.http.post(sim.base_url + "/moldsim/guest-poweroff", json={"id": answer["id"]})
        assert resp.status_code == 200 and resp.json()["state"] == "Running"
        assert wf.vm(answer["id"])["state"] == "Running"  # Mold has not noticed yet
        jobid = wf.ok("stopVirtualMachine", id=answer["id"])["jobid"]
        job = wf.ok("queryAsyncJobResult", jobid=jobid)
        assert (job["jobstatus"], job["jobresult"]["virtualmachine"]["state"]) == (1, "Stopped")
        assert wf.http.post(sim.base_url + "/moldsim/guest-poweroff", json={"id": answer["id"]}).status_code == 409
        assert wf.http.post(sim.base_url + "/moldsim/guest-poweroff", json={"id": "nope"}).status_code == 404


def test_list_vms_filters_and_apis(wf: Workflow, ready: tuple) -> None:
    win, _, net = ready
    a, _ = wf.deploy(win["id"], net["id"], name="vm-a")
    wf.deploy(win["id"], net["id"], name="vm-b", startvm=False)
    names = lambda **p: [v["name"] for v in wf.ok("listVirtualMachines", **p).get("virtualmachine", [])]
    assert names(name="vm-a") == ["vm-a"] and names(name="vm") == []
    assert names(state="Stopped") == ["vm-b"]
    assert names(id=a["id"]) == ["vm-a"]
    page = wf.ok("listVirtualMachines", page=2, pagesize=1)
    assert page["count"] == 2 and [v["name"] for v in page["virtualmachine"]] == ["vm-b"]
    deploy_api = wf.first("listApis", "api", name="deployVirtualMachine")
    params = {p["name"]: p for p in deploy_api["params"]}
    assert deploy_api["isasync"] is True and params["tpmversion"]["type"] == "string"
    assert params["zoneid"]["required"] is True


def test_failed_deploy_job_leaves_the_vm_in_error(sim: MoldSim, wf: Workflow, ready: tuple) -> None:
    win, _, net = ready
    sim.set_faults(fail_jobs=[{"command": "deployVirtualMachine", "errorcode": 533,
                               "errortext": "Unable to create a deployment for VM[User|i-2-1-VM]"}])
    answer, job = wf.deploy(win["id"], net["id"])
    assert (job["jobstatus"], job["jobresultcode"], job["jobresult"]["errortext"]) == \
        (2, 533, "Unable to create a deployment for VM[User|i-2-1-VM]")
    assert wf.vm(answer["id"])["state"] == "Error"


def test_a_stop_of_a_vm_in_error_succeeds_and_changes_nothing(sim: MoldSim, wf: Workflow,
                                                               ready: tuple[dict, dict, dict]) -> None:
    """L engine/orchestration/src/main/java/com/cloud/vm/VirtualMachineManagerImpl.java
    advanceStop: a VM Destroyed, Expunging or in Error is logged ("Stopped called on … but the
    state is …") and left as it is; the job succeeds."""
    iso, _, net = ready
    sim.set_faults(fail_jobs=[{"command": "deployVirtualMachine", "count": 1}])
    answer, failed = wf.deploy(iso["id"], net["id"], name="broken")
    assert failed["jobstatus"] == 2 and wf.vm(answer["id"])["state"] == "Error"
    job = wf.run_job("stopVirtualMachine", id=answer["id"])
    assert job["jobstatus"] == 1 and job["jobresult"]["virtualmachine"]["state"] == "Error"
    assert wf.vm(answer["id"])["state"] == "Error"

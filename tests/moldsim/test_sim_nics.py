"""NIC commands: addNicToVirtualMachine, removeNicFromVirtualMachine,
updateDefaultNicForVirtualMachine, as Mold has them.

Sources (Mold = ablecloud-team/ablestack-cloud, upstream = apache/cloudstack), cited next to
each group of assertions:
- UVM = Mold server/src/main/java/com/cloud/vm/UserVmManagerImpl.java
- VMM = Mold engine/orchestration/src/main/java/com/cloud/vm/VirtualMachineManagerImpl.java
- NO  = Mold engine/orchestration/.../engine/orchestration/NetworkOrchestrator.java
- API = upstream api/src/main/java/org/apache/cloudstack/api/command/{user,admin}/vm/
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cs import CloudStack, CloudStackApiException

from moldsim.server import MoldSim

from simclient import API_KEY, SECRET_KEY, Workflow

ADMIN_VM = "org.apache.cloudstack.api.command.admin.vm."
BINDING = ("due to incorrect long value format, or entity does not exist or due to incorrect "
           "parameter annotation for the field in api cmd class.")


@pytest.fixture
def wf(sim: MoldSim) -> Iterator[Workflow]:
    with Workflow(sim.url) as w:
        yield w


@pytest.fixture
def iso(wf: Workflow) -> dict[str, Any]:
    return wf.ready_iso("win11", ostypeid=wf.os_type_id("Windows 11 (64-bit)"))


def _snapshot(wf: Workflow, vm: dict[str, Any]) -> dict[str, Any]:
    """A VM snapshot of a Stopped VM: VMSnapshotManagerImpl.allocVMSnapshot needs a Ready ROOT
    volume (a VM deployed with startvm=false has an Allocated one), so start and stop it first."""
    if wf.first("listVolumes", "volume", virtualmachineid=vm["id"])["state"] != "Ready":
        wf.run_job("startVirtualMachine", id=vm["id"])
        wf.run_job("stopVirtualMachine", id=vm["id"])
    job = wf.run_job("createVMSnapshot", virtualmachineid=vm["id"], name="before")
    assert job["jobstatus"] == 1, job
    return job


def _vm(wf: Workflow, iso: dict[str, Any], net: dict[str, Any], **params: Any) -> dict[str, Any]:
    answer, job = wf.deploy(iso["id"], net["id"], **params)
    assert job["jobstatus"] == 1
    return wf.vm(answer["id"])


def _failed(job: dict[str, Any]) -> tuple[int, int, str]:
    return job["jobstatus"], job["jobresultcode"], job["jobresult"]["errortext"]


def _nic(vm: dict[str, Any], net: dict[str, Any]) -> dict[str, Any]:
    return next(n for n in vm["nic"] if n["networkid"] == net["id"])


def test_the_three_commands_are_async_and_declared(wf: Workflow) -> None:
    """API: AddNicToVMCmd / RemoveNicFromVMCmd / UpdateDefaultNicForVMCmd extend BaseAsyncCmd;
    @Parameter declarations (virtualmachineid, networkid, ipaddress, macaddress, dhcpoptions;
    virtualmachineid, nicid)."""
    apis = {a["name"]: a for a in wf.ok("listApis")["api"]}
    expected = {
        "addNicToVirtualMachine": {"virtualmachineid": True, "networkid": True,
                                   "ipaddress": False, "macaddress": False, "dhcpoptions": False},
        "removeNicFromVirtualMachine": {"virtualmachineid": True, "nicid": True},
        "updateDefaultNicForVirtualMachine": {"virtualmachineid": True, "nicid": True},
    }
    for name, params in expected.items():
        assert apis[name]["isasync"] is True
        assert {p["name"]: p["required"] for p in apis[name]["params"]} == params
    assert apis["addNicToVirtualMachine"]["description"] == \
        "Adds VM to specified network by creating a NIC"
    dhcp = next(p for p in apis["addNicToVirtualMachine"]["params"] if p["name"] == "dhcpoptions")
    assert dhcp["type"] == "map"


def test_add_nic_to_a_stopped_vm(sim: MoldSim, wf: Workflow, iso: dict[str, Any]) -> None:
    net1, net2 = wf.network("prep-net"), wf.network("build-net")
    vm = _vm(wf, iso, net1, startvm=False)
    sim.config.job_seconds = 0.3  # long enough to see the job on the VM
    jobid = wf.ok("addNicToVirtualMachine", virtualmachineid=vm["id"], networkid=net2["id"],
                  ipaddress="10.1.2.50", macaddress="02-AA-bb-c-0d-0e")["jobid"]
    # API AddNicToVMCmd: getApiResourceType/Id = VirtualMachine / the VM, so the VM item
    # carries the running job (and so does the job's own result, built while it runs)
    assert (wf.vm(vm["id"])["jobid"], wf.vm(vm["id"])["jobstatus"]) == (jobid, 0)
    sim.config.job_seconds = 0.0
    job = wf.wait_job(jobid)
    # API admin/vm/AddNicToVMCmdByAdmin is the class the root admin's job runs
    assert (job["jobstatus"], job["jobresultcode"], job["cmd"]) == \
        (1, 0, ADMIN_VM + "AddNicToVMCmdByAdmin")
    assert (job["jobinstancetype"], job["jobinstanceid"]) == ("VirtualMachine", vm["id"])
    result = job["jobresult"]["virtualmachine"]
    # API execute(): createUserVmResponse(..., details = {nics}) — UserVmJoinDaoImpl leaves
    # out what the tmpl/iso/servoff/diskoff/group details gate
    assert (result["id"], result["state"], result["name"]) == (vm["id"], "Stopped", "win-master")
    # UserVmJoinDaoImpl.newUserVmResponse sets jobid/jobstatus from the VM's pending job
    assert (result["jobid"], result["jobstatus"]) == (jobid, 0)
    for absent in ("templateid", "isoid", "serviceofferingid", "diskofferingid", "cpunumber",
                   "memory"):
        assert absent not in result
    new = _nic(result, net2)
    # NO.createNicForVm: deviceId = NicDaoImpl.getFreeDeviceId (lowest free);
    # UVM.setNicAsDefaultIfNeeded: not default while the VM has one; AddNicToVMCmd.getMacAddress:
    # NetUtils.standardizeMacAddress
    assert (new["deviceid"], new["isdefault"], new["networkname"]) == ("1", False, "build-net")
    assert (new["ipaddress"], new["macaddress"]) == ("10.1.2.50", "02:aa:bb:0c:0d:0e")
    assert (new["gateway"], new["netmask"]) == ("10.1.2.1", "255.255.255.0")
    assert _nic(result, net1)["isdefault"] is True
    listed = wf.vm(vm["id"])
    assert [(n["networkid"], n["deviceid"], n["isdefault"]) for n in listed["nic"]] == \
        [(net1["id"], "0", True), (net2["id"], "1", False)]
    assert "jobid" not in listed
    # NO.createNicForVm(prepare=false) for a Stopped VM: the network is not implemented
    assert wf.first("listNetworks", "network", id=net2["id"])["state"] == "Allocated"


def test_add_nic_to_a_running_vm_implements_the_network(wf: Workflow, iso: dict[str, Any]) -> None:
    """VMM.orchestrateAddVmToNetwork: Running → createNicForVm(..., prepare=true), which calls
    NO.implementNetwork; then the NIC is hot-plugged (plugNic)."""
    net1, net2 = wf.network("prep-net"), wf.network("build-net")
    vm = _vm(wf, iso, net1)
    assert wf.first("listNetworks", "network", id=net2["id"])["state"] == "Allocated"
    job = wf.run_job("addNicToVirtualMachine", virtualmachineid=vm["id"], networkid=net2["id"])
    result = job["jobresult"]["virtualmachine"]
    assert (job["jobstatus"], result["state"]) == (1, "Running")
    new = _nic(result, net2)
    assert (new["deviceid"], new["isdefault"], new["ipaddress"]) == ("1", False, "10.1.2.101")
    assert new["macaddress"].startswith("02:02:")
    assert wf.first("listNetworks", "network", id=net2["id"])["state"] == "Implemented"


def test_add_nic_rules_fail_the_job(sim: MoldSim, wf: Workflow, iso: dict[str, Any]) -> None:
    net1, net2, net3 = wf.network("prep-net"), wf.network("build-net"), wf.network("third-net")
    vm = _vm(wf, iso, net1, startvm=False)
    add = lambda **p: wf.run_job("addNicToVirtualMachine", virtualmachineid=vm["id"], **p)
    # UVM.checkIfNetExistsForVM: CloudRuntimeException → 530
    assert _failed(add(networkid=net1["id"])) == \
        (2, 530, f"A NIC already exists for VM:i-2-1-VM in network: {net1['id']}")
    # AddNicToVMCmd.getMacAddress: InvalidParameterValueException → 431
    assert _failed(add(networkid=net2["id"], macaddress="02:00:zz:00:00:01")) == \
        (2, 431, "Mac address is not valid: 02:00:zz:00:00:01")
    assert _failed(add(networkid=net2["id"], macaddress="01:00:5e:00:00:01")) == \
        (2, 431, "Mac address is not unicast: 01:00:5e:00:00:01")
    # UVM.addNicToVirtualMachine: MAC already used in that network → 530
    other = _vm(wf, iso, net2, name="other", startvm=False)
    taken = other["nic"][0]["macaddress"]
    assert _failed(add(networkid=net2["id"], macaddress=taken)) == \
        (2, 530, f"A NIC with this MAC address exists for network: {net2['id']}")
    # UVM.addNicToVirtualMachine: NetUtils.isValidIp4/isValidIp6 → 431
    assert _failed(add(networkid=net2["id"], ipaddress="10.1.2.300")) == \
        (2, 431, "Invalid format for IP address parameter: 10.1.2.300")
    # UVM.addNicToVirtualMachine: hostnames of the network (VmInstanceDao.listDistinctHostNames) → 530
    twin = _vm(wf, iso, net3, name="win-master", startvm=False)
    assert twin["name"] == vm["name"]
    assert _failed(add(networkid=net3["id"])) == \
        (2, 530, "Network third-net already has an Instance with host name: win-master")
    # nothing above changed the VM
    assert [n["networkid"] for n in wf.vm(vm["id"])["nic"]] == [net1["id"]]
    # binding (ParamProcessWorker): an unknown network is a synchronous 431
    status, body = wf.call("addNicToVirtualMachine", virtualmachineid=vm["id"], networkid="nope")
    assert (status, body["errortext"]) == (431, f"Invalid parameter networkid value=nope {BINDING}")
    status, body = wf.call("addNicToVirtualMachine", virtualmachineid=vm["id"])
    assert (status, body["errortext"]) == \
        (431, "Unable to execute API command addnictovirtualmachine due to missing parameter networkid")


def test_add_nic_needs_no_vm_snapshots_and_a_running_or_stopped_vm(
        wf: Workflow, iso: dict[str, Any]) -> None:
    net1, net2 = wf.network("prep-net"), wf.network("build-net")
    vm = _vm(wf, iso, net1, startvm=False)
    snap = _snapshot(wf, vm)
    # UVM.addNicToVirtualMachine: _vmSnapshotDao.findByVm(...) not empty → 431
    job = wf.run_job("addNicToVirtualMachine", virtualmachineid=vm["id"], networkid=net2["id"])
    assert _failed(job) == (2, 431, "NIC cannot be added to Instance with Instance Snapshots")
    wf.run_job("deleteVMSnapshot", vmsnapshotid=snap["jobresult"]["vmsnapshot"]["id"])
    assert wf.run_job("destroyVirtualMachine", id=vm["id"])["jobstatus"] == 1
    # VMM.orchestrateAddVmToNetwork: neither Running nor Stopped → ResourceUnavailableException,
    # which UVM wraps in a CloudRuntimeException → 530
    job = wf.run_job("addNicToVirtualMachine", virtualmachineid=vm["id"], networkid=net2["id"])
    assert _failed(job) == (2, 530, (
        "Unable to add NIC to VM[User|i-2-1-VM]: com.cloud.exception.ResourceUnavailableException: "
        "Resource [DataCenter:1] is unreachable: Unable to add vm VM[User|i-2-1-VM] to network, "
        "is not in the right state"))


def test_add_nic_from_another_zone_is_refused(sim: MoldSim, wf: Workflow, iso: dict[str, Any]) -> None:
    """UVM.addNicToVirtualMachine "ensure network belongs in zone": CloudRuntimeException → 530.
    moldsim serves one zone, so the second one is put into the store directly."""
    net1, net2 = wf.network("prep-net"), wf.network("build-net")
    vm = _vm(wf, iso, net1, startvm=False)
    with sim.store.lock:
        zone1 = next(iter(sim.store.data["zones"].values()))
        zone2 = {**zone1, "id": "00000000-0000-4000-8000-000000000002", "name": "Zone2"}
        sim.store.data["zones"][zone2["id"]] = zone2
        sim.store.data["networks"][net2["id"]]["zoneid"] = zone2["id"]
    job = wf.run_job("addNicToVirtualMachine", virtualmachineid=vm["id"], networkid=net2["id"])
    assert _failed(job) == (2, 530, "VM[User|i-2-1-VM] is in zone: Zone1 but Ntwk[2|Guest|1] is in zone: Zone2")


def test_a_vm_without_nics_gets_a_default_one(wf: Workflow, iso: dict[str, Any]) -> None:
    """UVM.setNicAsDefaultIfNeeded: no default NIC yet → the new one is default (device 0)."""
    net = wf.network("prep-net")
    vm = _vm(wf, iso, net, networkids=None, startvm=False)
    assert vm["nic"] == []
    job = wf.run_job("addNicToVirtualMachine", virtualmachineid=vm["id"], networkid=net["id"])
    new = _nic(job["jobresult"]["virtualmachine"], net)
    assert (new["deviceid"], new["isdefault"]) == ("0", True)


def test_remove_nic(sim: MoldSim, wf: Workflow, iso: dict[str, Any]) -> None:
    net1, net2 = wf.network("prep-net"), wf.network("build-net")
    vm = _vm(wf, iso, net1)
    added = wf.run_job("addNicToVirtualMachine", virtualmachineid=vm["id"], networkid=net2["id"])
    nic = _nic(added["jobresult"]["virtualmachine"], net2)
    sim.config.job_seconds = 0.3
    jobid = wf.ok("removeNicFromVirtualMachine", virtualmachineid=vm["id"], nicid=nic["id"])["jobid"]
    sim.config.job_seconds = 0.0
    # API RemoveNicFromVMCmd has no getApiResourceId: the job has no instance, and the VM item
    # (user_vm_view joins jobs by instance) shows no job
    assert "jobid" not in wf.vm(vm["id"])
    job = wf.wait_job(jobid)
    assert (job["jobstatus"], job["cmd"]) == (1, ADMIN_VM + "RemoveNicFromVMCmdByAdmin")
    assert "jobinstancetype" not in job and "jobinstanceid" not in job
    result = job["jobresult"]["virtualmachine"]
    assert "jobid" not in result
    assert [n["networkid"] for n in result["nic"]] == [net1["id"]] == \
        [n["networkid"] for n in wf.vm(vm["id"])["nic"]]
    # VMM.orchestrateRemoveNicFromVm unplugs and removes the NIC; the network stays implemented
    assert wf.first("listNetworks", "network", id=net2["id"])["state"] == "Implemented"
    # binding looks ids up including removed rows (ParamProcessWorker.translateUuidToInternalId),
    # so removing it again fails in the job: UVM "Unable to find a NIC with ID <internal id>" → 431
    again = wf.run_job("removeNicFromVirtualMachine", virtualmachineid=vm["id"], nicid=nic["id"])
    assert _failed(again) == (2, 431, "Unable to find a NIC with ID 2")
    # a NIC id that never existed does not bind: synchronous 431
    status, body = wf.call("removeNicFromVirtualMachine", virtualmachineid=vm["id"], nicid="nope")
    assert (status, body["errortext"]) == (431, f"Invalid parameter nicid value=nope {BINDING}")


def test_remove_nic_rules(wf: Workflow, iso: dict[str, Any]) -> None:
    net1, net2 = wf.network("prep-net"), wf.network("build-net")
    vm = _vm(wf, iso, net1, startvm=False)
    other = _vm(wf, iso, net2, name="other", startvm=False)
    remove = lambda nic: wf.run_job("removeNicFromVirtualMachine",
                                    virtualmachineid=vm["id"], nicid=nic)
    # UVM.removeNicFromVirtualMachine "check to see if nic is attached to VM" → 431
    assert _failed(remove(other["nic"][0]["id"])) == \
        (2, 431, "Nic[2-2-0-null-10.1.2.102] is not a NIC on VM[User|i-2-1-VM]")
    # UVM "don't delete default NIC on a user VM" → 431
    assert _failed(remove(vm["nic"][0]["id"])) == \
        (2, 431, "Unable to remove NIC from VM[User|i-2-1-VM] in Ntwk[1|Guest|1], NIC is default.")
    added = wf.run_job("addNicToVirtualMachine", virtualmachineid=vm["id"], networkid=net2["id"])
    extra = _nic(added["jobresult"]["virtualmachine"], net2)["id"]
    # UVM: VM snapshots → 431
    snap = _snapshot(wf, vm)
    assert _failed(remove(extra)) == (2, 431, "NIC cannot be removed from Instance with Instance Snapshots")
    wf.run_job("deleteVMSnapshot", vmsnapshotid=snap["jobresult"]["vmsnapshot"]["id"])
    # VMM.orchestrateRemoveNicFromVm: not Running/Stopped → ResourceUnavailableException, wrapped → 530
    assert wf.run_job("destroyVirtualMachine", id=vm["id"])["jobstatus"] == 1
    assert _failed(remove(extra)) == (2, 530, (
        "Unable to remove Ntwk[2|Guest|1] from VM[User|i-2-1-VM]: "
        "com.cloud.exception.ResourceUnavailableException: Resource [DataCenter:1] is unreachable: "
        "Unable to remove vm VM[User|i-2-1-VM] from network, is not in the right state"))


def test_device_ids_fill_the_lowest_gap(wf: Workflow, iso: dict[str, Any]) -> None:
    """NicDaoImpl.getFreeDeviceId: the first device id (from 0) that no NIC of the VM holds."""
    nets = [wf.network(f"net-{i}") for i in range(4)]
    vm = _vm(wf, iso, nets[0], startvm=False)
    ids = {}
    for net in nets[1:3]:
        job = wf.run_job("addNicToVirtualMachine", virtualmachineid=vm["id"], networkid=net["id"])
        ids[net["name"]] = _nic(job["jobresult"]["virtualmachine"], net)
    assert (ids["net-1"]["deviceid"], ids["net-2"]["deviceid"]) == ("1", "2")
    wf.run_job("removeNicFromVirtualMachine", virtualmachineid=vm["id"], nicid=ids["net-1"]["id"])
    job = wf.run_job("addNicToVirtualMachine", virtualmachineid=vm["id"], networkid=nets[3]["id"])
    assert _nic(job["jobresult"]["virtualmachine"], nets[3])["deviceid"] == "1"


def test_update_default_nic_swaps_device_ids(wf: Workflow, iso: dict[str, Any]) -> None:
    net1, net2 = wf.network("prep-net"), wf.network("build-net")
    vm = _vm(wf, iso, net1)
    added = wf.run_job("addNicToVirtualMachine", virtualmachineid=vm["id"], networkid=net2["id"])
    new = _nic(added["jobresult"]["virtualmachine"], net2)
    jobid = wf.ok("updateDefaultNicForVirtualMachine", virtualmachineid=vm["id"],
                  nicid=new["id"])["jobid"]
    job = wf.wait_job(jobid)
    # API UpdateDefaultNicForVMCmd: no getApiResourceId, so no instance on the job
    assert (job["jobstatus"], job["cmd"]) == (1, ADMIN_VM + "UpdateDefaultNicForVMCmdByAdmin")
    assert "jobinstancetype" not in job
    # VMM.orchestrateUpdateDefaultNicForVM: chosen NIC default with the old default's device id,
    # the old default gets the chosen one's
    for seen in (job["jobresult"]["virtualmachine"], wf.vm(vm["id"])):
        assert (_nic(seen, net2)["isdefault"], _nic(seen, net2)["deviceid"]) == (True, "0")
        assert (_nic(seen, net1)["isdefault"], _nic(seen, net1)["deviceid"]) == (False, "1")
    # the old default can now go; the new one cannot (UVM.removeNicFromVirtualMachine)
    old = _nic(wf.vm(vm["id"]), net1)["id"]
    refused = wf.run_job("removeNicFromVirtualMachine", virtualmachineid=vm["id"], nicid=new["id"])
    assert _failed(refused) == \
        (2, 431, "Unable to remove NIC from VM[User|i-2-1-VM] in Ntwk[2|Guest|1], NIC is default.")
    assert wf.run_job("removeNicFromVirtualMachine", virtualmachineid=vm["id"],
                      nicid=old)["jobstatus"] == 1
    assert [(n["networkid"], n["deviceid"]) for n in wf.vm(vm["id"])["nic"]] == [(net2["id"], "0")]


def test_update_default_nic_rules(wf: Workflow, iso: dict[str, Any]) -> None:
    net1, net2 = wf.network("prep-net"), wf.network("build-net")
    vm = _vm(wf, iso, net1, startvm=False)
    other = _vm(wf, iso, net2, name="other", startvm=False)
    update = lambda nic: wf.run_job("updateDefaultNicForVirtualMachine",
                                    virtualmachineid=vm["id"], nicid=nic)
    # UVM.updateDefaultNicForVirtualMachine: not this VM's NIC → 431 (two spaces in Mold's text)
    assert _failed(update(other["nic"][0]["id"])) == \
        (2, 431, "Nic[2-2-0-null-10.1.2.102] is not a NIC on  VM[User|i-2-1-VM]")
    # UVM: the chosen NIC already is the default → CloudRuntimeException → 530
    assert _failed(update(vm["nic"][0]["id"])) == \
        (2, 530, "refusing to set default NIC because chosen NIC is already the default")
    added = wf.run_job("addNicToVirtualMachine", virtualmachineid=vm["id"], networkid=net2["id"])
    extra = _nic(added["jobresult"]["virtualmachine"], net2)["id"]
    snap = _snapshot(wf, vm)
    assert _failed(update(extra)) == (2, 431, "NIC cannot be updated for Instance with Instance Snapshots")
    wf.run_job("deleteVMSnapshot", vmsnapshotid=snap["jobresult"]["vmsnapshot"]["id"])
    # UVM: "make sure the VM is Running or Stopped" → 530
    assert wf.run_job("destroyVirtualMachine", id=vm["id"])["jobstatus"] == 1
    assert _failed(update(extra)) == \
        (2, 530, "refusing to set default VM[User|i-2-1-VM] is not Running or Stopped")


def test_delete_network_counts_added_nics(wf: Workflow, iso: dict[str, Any]) -> None:
    """deleteNetwork keeps refusing while a VM has a NIC there, added ones included."""
    net1, net2 = wf.network("prep-net"), wf.network("build-net")
    vm = _vm(wf, iso, net1, startvm=False)
    added = wf.run_job("addNicToVirtualMachine", virtualmachineid=vm["id"], networkid=net2["id"])
    blocked = wf.run_job("deleteNetwork", id=net2["id"])
    # NetworkOrchestrator.destroyNetwork only logs its reason; DeleteNetworkCmd.execute fails with
    assert _failed(blocked) == (2, 530, "Failed to delete network")
    nic = _nic(added["jobresult"]["virtualmachine"], net2)["id"]
    assert wf.run_job("removeNicFromVirtualMachine", virtualmachineid=vm["id"], nicid=nic)["jobstatus"] == 1
    assert wf.run_job("deleteNetwork", id=net2["id"])["jobresult"] == {"success": True}


def test_an_injected_job_failure_changes_nothing(sim: MoldSim, wf: Workflow, iso: dict[str, Any]) -> None:
    net1, net2 = wf.network("prep-net"), wf.network("build-net")
    vm = _vm(wf, iso, net1)
    sim.set_faults(fail_jobs=[{"command": "addNicToVirtualMachine", "errorcode": 530,
                               "errortext": "Unable to plug NIC"}])
    job = wf.run_job("addNicToVirtualMachine", virtualmachineid=vm["id"], networkid=net2["id"])
    assert _failed(job) == (2, 530, "Unable to plug NIC")
    assert [n["networkid"] for n in wf.vm(vm["id"])["nic"]] == [net1["id"]]
    assert wf.first("listNetworks", "network", id=net2["id"])["state"] == "Allocated"


def test_nic_commands_through_the_cs_client() -> None:
    """The third-party `cs` client (SHA-1) polls the jobs and raises on a failed one."""
    with MoldSim(signature="sha1", job_seconds=0.05) as sim, Workflow(sim.url, algo="sha1") as wf:
        iso = wf.ready_iso("win11")
        net1, net2 = wf.network("prep-net"), wf.network("build-net")
        vm = _vm(wf, iso, net1)
        cs = CloudStack(endpoint=sim.url, key=API_KEY, secret=SECRET_KEY, fetch_result=True,
                        poll_interval=0.02, job_timeout=10)
        added = cs.addNicToVirtualMachine(virtualmachineid=vm["id"], networkid=net2["id"])
        nics = {n["networkid"]: n for n in added["virtualmachine"]["nic"]}
        assert (nics[net2["id"]]["deviceid"], nics[net2["id"]]["isdefault"]) == ("1", False)
        switched = cs.updateDefaultNicForVirtualMachine(virtualmachineid=vm["id"],
                                                        nicid=nics[net2["id"]]["id"])
        assert [(n["networkid"], n["isdefault"], n["deviceid"])
                for n in switched["virtualmachine"]["nic"]] == \
            [(net1["id"], False, "1"), (net2["id"], True, "0")]
        with pytest.raises(CloudStackApiException) as info:
            cs.removeNicFromVirtualMachine(virtualmachineid=vm["id"], nicid=nics[net2["id"]]["id"])
        assert info.value.error == {
            "errorcode": 431,
            "errortext": "Unable to remove NIC from VM[User|i-2-1-VM] in Ntwk[2|Guest|1], NIC is default."}
        removed = cs.removeNicFromVirtualMachine(virtualmachineid=vm["id"],
                                                 nicid=nics[net1["id"]]["id"])
        assert [n["networkid"] for n in removed["virtualmachine"]["nic"]] == [net2["id"]]

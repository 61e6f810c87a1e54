"""Destroy, expunge and recover; groups; deploy details and boot types; what users see of a VM.

Sources (L = jeongda-young/ablestack-cloud; M = ablecloud-team/ablestack-cloud @001c69f):
- M server/src/main/java/com/cloud/vm/UserVmManagerImpl.java destroyVm/checkExpungeVmPermission,
  expungeVm, recoverVirtualMachine, updateVirtualMachine (details), addInstanceToGroup,
  commitUserVm (template details), checkIfHostNameUniqueInNtwkDomain
- L engine/orchestration/src/main/java/com/cloud/vm/VirtualMachineManagerImpl.java destroy
- L server/src/main/java/com/cloud/api/query/QueryManagerImpl.java searchForUserVMIdsAndCount
- L server/src/main/java/com/cloud/template/TemplateManagerImpl.java deleteIso, deleteTemplate,
  detachIso; engine/orchestration/.../NetworkOrchestrator.destroyNetwork, DeleteNetworkCmd
- L api/src/main/java/org/apache/cloudstack/api/ApiConstants.java TpmVersion; L/M
  api/.../user/vm/DeployVMCmd.java (M BaseDeployVMCmd) getDetails
- L server/src/main/java/com/cloud/api/query/dao/UserVmJoinDaoImpl.java newUserVmResponse;
  api/src/main/java/org/apache/cloudstack/query/QueryService.java (denied/read-only details)
- L engine/schema/src/main/java/com/cloud/storage/VMTemplateVO.java, vm/VMInstanceVO.java toString
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from moldsim.server import MoldSim

from simclient import Workflow


@pytest.fixture
def wf(sim: MoldSim) -> Iterator[Workflow]:
    with Workflow(sim.url) as w:
        yield w


def _setup(client: Workflow) -> tuple[dict, dict]:
    return client.ready_iso("win"), client.network()


def test_expunge_needs_admin_or_the_setting_and_fails_the_job(wf: Workflow, users: Any) -> None:
    alice, account = users(wf, "alice")
    iso, net = _setup(alice)
    answer, _ = alice.deploy(iso["id"], net["id"])
    job = alice.run_job("destroyVirtualMachine", id=answer["id"], expunge=True)
    assert (job["jobstatus"], job["jobresultcode"], job["jobresult"]) == \
        (2, 530, {"errorcode": 530, "errortext": "Account does not have permission for expunging."})
    assert alice.vm(answer["id"])["state"] == "Running"
    wf.ok("updateConfiguration", name="allow.user.expunge.recover.vm", value="true", accountid=account["id"])
    assert alice.run_job("destroyVirtualMachine", id=answer["id"], expunge=True)["jobstatus"] == 1
    assert wf.ok("listVirtualMachines", listall=True) == {}


def test_destroyed_vm_keeps_nics_iso_and_template_until_expunged(wf: Workflow) -> None:
    iso, net = _setup(wf)
    answer, _ = wf.deploy(iso["id"], net["id"])
    assert wf.run_job("destroyVirtualMachine", id=answer["id"])["jobresult"]["virtualmachine"]["state"] == "Destroyed"
    # the root admin sees it (admins are not filtered), with its ISO still in the drive
    vm = wf.vm(answer["id"])
    assert (vm["state"], vm["isoid"]) == ("Destroyed", iso["id"])
    assert [v["state"] for v in wf.ok("listVirtualMachines", state="present").get("virtualmachine", [])] == []
    # its host name stays taken in the network (synchronous, deploy's create phase)
    status, body = wf.call("deployVirtualMachine", **wf.deploy_params(iso["id"], net["id"]))
    assert (status, body["errortext"]) == (431, "The vm with hostName win-master already exists in the "
                                                f"network domain: {net['networkdomain']}; network=prep-net")
    # deleteNetwork: a failed job, 530, the reason only in Mold's log
    job = wf.run_job("deleteNetwork", id=net["id"])
    assert (job["jobstatus"], job["jobresult"]) == (2, {"errorcode": 530, "errortext": "Failed to delete network"})
    # deleteIso: listActiveByIsoId counts every VM that is not removed → failed job 431
    job = wf.run_job("deleteIso", id=iso["id"])
    assert job["jobresult"] == {"errorcode": 431, "errortext": "Unable to delete iso, as it's used by other vms"}
    # detachIso on a Destroyed VM
    job = wf.run_job("detachIso", virtualmachineid=answer["id"])
    assert job["jobresult"] == {"errorcode": 431, "errortext": "Please specify a VM that is either Stopped or Running."}
    # expungeVirtualMachine: the VM goes with its NICs; then the network and the ISO can go
    assert wf.run_job("expungeVirtualMachine", id=answer["id"])["jobresult"] == {"success": True}
    assert wf.run_job("deleteNetwork", id=net["id"])["jobstatus"] == 1
    assert wf.run_job("deleteIso", id=iso["id"])["jobstatus"] == 1


def test_users_do_not_see_destroyed_vms_even_by_id(wf: Workflow, users: Any) -> None:
    alice, account = users(wf, "alice")
    iso, net = _setup(alice)
    answer, _ = alice.deploy(iso["id"], net["id"])
    alice.run_job("destroyVirtualMachine", id=answer["id"])
    assert alice.ok("listVirtualMachines", id=answer["id"]) == {}
    assert alice.ok("listVirtualMachines", state="Destroyed") == {}
    assert wf.first("listVirtualMachines", "virtualmachine", id=answer["id"])["state"] == "Destroyed"
    wf.ok("updateConfiguration", name="allow.user.view.destroyed.vm", value="true", accountid=account["id"])
    assert alice.vm(answer["id"])["state"] == "Destroyed"


def test_expunge_delay_expunges_a_destroyed_vm(wf: Workflow) -> None:
    iso, net = _setup(wf)
    wf.ok("updateConfiguration", name="expunge.delay", value="0.2")  # moldsim takes fractions
    answer, _ = wf.deploy(iso["id"], net["id"])
    wf.run_job("destroyVirtualMachine", id=answer["id"])
    assert wf.vm(answer["id"])["state"] == "Destroyed"
    time.sleep(0.25)
    assert wf.ok("listVirtualMachines", id=answer["id"]) == {}
    assert wf.ok("listVolumes", virtualmachineid=answer["id"]) == {}


def test_expunge_and_recover_rules(wf: Workflow, users: Any) -> None:
    iso, net = _setup(wf)
    answer, _ = wf.deploy(iso["id"], net["id"])
    # expungeVm: the state first (CloudRuntimeException → 530)
    job = wf.run_job("expungeVirtualMachine", id=answer["id"])
    assert job["jobresult"] == {"errorcode": 530, "errortext": "Please destroy vm with specified vmId before expunge"}
    # recoverVirtualMachine is synchronous; VM ids in the text are internal numbers
    status, body = wf.call("recoverVirtualMachine", id=answer["id"])
    assert (status, body["errortext"]) == (431, "Vm with id 1 is not in the right state")
    wf.run_job("destroyVirtualMachine", id=answer["id"])
    vm = wf.ok("recoverVirtualMachine", id=answer["id"])["virtualmachine"]
    assert vm["state"] == "Stopped"
    alice, account = users(wf, "alice")
    aiso, anet = _setup(alice)
    mine, _ = alice.deploy(aiso["id"], anet["id"], name="alice-vm")
    alice.run_job("destroyVirtualMachine", id=mine["id"])
    status, body = alice.call("recoverVirtualMachine", id=mine["id"])
    assert (status, body["errortext"]) == (531, "Recovering a vm can only be done by an Admin. Or when the "
                                                "allow.user.expunge.recover.vm key is set.")
    job = alice.run_job("expungeVirtualMachine", id=mine["id"])
    assert job["jobresult"] == {"errorcode": 530, "errortext": "Expunging a vm can only be done by an Admin. "
                                                               "Or when the allow.user.expunge.recover.vm key is set."}


def test_group_empty_string_is_a_group(wf: Workflow) -> None:
    """updateVirtualMachine group="" → addInstanceToGroup(id, ""): a group named "" is made."""
    iso, net = _setup(wf)
    answer, _ = wf.deploy(iso["id"], net["id"], group="templates")
    vm = wf.vm(answer["id"])
    assert vm["group"] == "templates"
    moved = wf.ok("updateVirtualMachine", id=answer["id"], group="")["virtualmachine"]
    assert moved["group"] == "" and moved["groupid"] != vm["groupid"]
    assert wf.vm(answer["id"])["group"] == ""
    other, _ = wf.deploy(iso["id"], net["id"], name="other", group="")
    assert wf.vm(other["id"])["groupid"] == moved["groupid"]  # the same "" group of the account


def test_deploy_from_template_copies_details_and_bios_overrides_uefi(wf: Workflow) -> None:
    iso, net = _setup(wf)
    answer, _ = wf.deploy(iso["id"], net["id"], boottype="UEFI", bootmode="SECURE", tpmversion="V2_0")
    wf.run_job("stopVirtualMachine", id=answer["id"])
    root = wf.first("listVolumes", "volume", virtualmachineid=answer["id"])
    tpl = wf.wait_job(wf.ok("createTemplate", volumeid=root["id"], name="base",
                            ostypeid=wf.os_type_id("Windows PV"))["jobid"])["jobresult"]["template"]
    plain = dict(wf.deploy_params(tpl["id"], net["id"], name="from-tpl", hypervisor=None,
                                  diskofferingid=None, boottype=None, bootmode=None, tpmversion=None))
    vm = wf.vm(wf.wait_job(wf.ok("deployVirtualMachine", **plain)["jobid"])["jobinstanceid"])
    # commitUserVm copies the template's UEFI detail; tpmversion is the deploy's own (NONE)
    assert (vm["boottype"], vm["bootmode"], vm["details"]["UEFI"], vm["details"]["tpmversion"]) == \
        ("Uefi", "secure", "SECURE", "NONE")
    assert (vm["templatetype"], vm["templateformat"]) == ("USER", "QCOW2")
    bios = dict(plain, name="bios", boottype="BIOS", bootmode="LEGACY")
    vm = wf.vm(wf.wait_job(wf.ok("deployVirtualMachine", **bios)["jobid"])["jobinstanceid"])
    assert "UEFI" not in vm["details"] and "boottype" not in vm and "bootmode" not in vm


def test_tpm_values_and_iso_deployed_template_fields(wf: Workflow) -> None:
    iso, net = _setup(wf)
    answer, _ = wf.deploy(iso["id"], net["id"], tpmversion="TPM")
    vm = wf.vm(answer["id"])
    assert vm["details"]["tpmversion"] == "NONE"  # TpmVersion.TPM.toString() is "NONE"
    status, body = wf.call("deployVirtualMachine", **wf.deploy_params(iso["id"], net["id"], name="b",
                                                                       tpmversion="2.0"))
    assert (status, body["errortext"]) == (431, "Invalid TpmVersion 2.0Specified for vm b Valid values "
                                                "are: [UEFI, BIOS]")
    assert wf.vm(wf.deploy(iso["id"], net["id"], name="c", tpmversion="V2_0")[0]["id"])["details"]["tpmversion"] == "2.0"
    # an ISO deploy: templateid is the ISO, of type USER and format ISO
    assert (vm["templateid"], vm["templatetype"], vm["templateformat"]) == (iso["id"], "USER", "ISO")
    assert vm["instancename"] == "i-2-1-VM"


def test_delete_template_in_use_names_the_template_and_vms(wf: Workflow) -> None:
    """M TemplateManagerImpl.deleteTemplate: a failed job, 431; Destroyed VMs still count."""
    iso, net = _setup(wf)
    answer, _ = wf.deploy(iso["id"], net["id"])
    wf.run_job("stopVirtualMachine", id=answer["id"])
    root = wf.first("listVolumes", "volume", virtualmachineid=answer["id"])
    tpl = wf.wait_job(wf.ok("createTemplate", volumeid=root["id"], name="base",
                            ostypeid=wf.os_type_id("Windows PV"))["jobid"])["jobresult"]["template"]
    used, _ = wf.deploy(tpl["id"], net["id"], name="user-vm", hypervisor=None, diskofferingid=None)
    wf.run_job("destroyVirtualMachine", id=used["id"])
    job = wf.run_job("deleteTemplate", id=tpl["id"])
    unique = f"2{uuid.UUID(bytes=hashlib.md5(b'base').digest(), version=3)}"
    assert (job["jobstatus"], job["jobresultcode"]) == (2, 431)
    assert job["jobresult"]["errortext"] == (
        f'Unable to delete template: Template {{"format":"QCOW2","id":2,"uniqueName":"{unique}"}} because '
        f'VM instances: [VM instance {{"id":2,"instanceName":"i-2-2-VM","type":"User","uuid":"{used["id"]}"}}] '
        "are using it.")
    # M TemplateManagerImpl.deleteTemplate checks the VMs deployed from the image before it
    # checks that the image is no ISO: the ISO the VMs were installed from is "in use"
    wrong = wf.run_job("deleteTemplate", id=iso["id"])
    assert wrong["jobresult"]["errortext"].startswith('Unable to delete template: Template {"format":"ISO"')
    wrong = wf.run_job("deleteTemplate", id=iso["id"], forced=True)
    assert wrong["jobresult"]["errortext"] == "Please specify a valid template."
    assert wf.run_job("deleteTemplate", id=tpl["id"], forced=True)["jobstatus"] == 1


def test_users_see_read_only_details_but_not_denied_ones(wf: Workflow, users: Any) -> None:
    alice, _ = users(wf, "alice")
    iso, net = _setup(alice)
    answer, _ = alice.deploy(iso["id"], net["id"], **{"details[0].rootDiskController": "scsi",
                                                       "details[0].rootdisksize": "100"})
    vm = alice.vm(answer["id"])
    assert vm["details"] == {"rootDiskController": "scsi", "UEFI": "SECURE", "tpmversion": "2.0"}
    assert vm["readonlydetails"] == "dataDiskController, rootDiskController"
    assert "instancename" not in vm  # ResponseView.Full is for root admins only
    admin_view = wf.first("listVirtualMachines", "virtualmachine", id=answer["id"])
    assert admin_view["details"]["rootdisksize"] == "100" and "readonlydetails" not in admin_view
    assert admin_view["instancename"] == "i-3-1-VM"  # the owner account's internal id
    status, body = alice.call("updateVirtualMachine", id=answer["id"], **{"details[0].rootDiskController": "ide"})
    assert (status, body["errortext"]) == (431, "You're not allowed to add or edit the read-only setting: "
                                                "rootDiskController")
    status, body = alice.call("updateVirtualMachine", id=answer["id"], **{"details[0].rootdisksize": "1"})
    assert (status, body["errortext"]) == (431, "You're not allowed to add or edit the restricted setting: "
                                                "rootdisksize")
    kept = alice.ok("updateVirtualMachine", id=answer["id"], **{"details[0].keyboard": "us"})["virtualmachine"]
    assert kept["details"] == {"keyboard": "us", "rootDiskController": "scsi"}
    assert wf.first("listVirtualMachines", "virtualmachine", id=answer["id"])["details"]["rootdisksize"] == "100"

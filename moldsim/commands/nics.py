"""NIC commands: addNicToVirtualMachine, removeNicFromVirtualMachine and
updateDefaultNicForVirtualMachine, all three async, as Mold has them.

Sources (Mold = ablecloud-team/ablestack-cloud; upstream = apache/cloudstack):
- API classes: api/.../command/user/vm/{AddNicToVMCmd, RemoveNicFromVMCmd,
  UpdateDefaultNicForVMCmd}.java and their admin/vm/*ByAdmin subclasses (the ones the root
  admin gets: `cmd` of the job). Each extends BaseAsyncCmd; the result is the VM under
  `virtualmachine`, built with only the `nics` detail set.
- Rules: server/src/main/java/com/cloud/vm/UserVmManagerImpl.java (Mold), methods
  addNicToVirtualMachine, removeNicFromVirtualMachine, updateDefaultNicForVirtualMachine;
  the state rules and the device-id swap in engine/orchestration/.../VirtualMachineManagerImpl
  (orchestrateAddVmToNetwork, orchestrateRemoveNicFromVm, orchestrateUpdateDefaultNicForVM);
  device ids and network implementation in engine/orchestration/.../NetworkOrchestrator
  (createNicForVm) and engine/schema/.../NicDaoImpl (getFreeDeviceId).

Where errors surface: only binding is synchronous (a `virtualmachineid`/`networkid`/`nicid`
that resolves to nothing: 431). Mold's binding looks UUIDs up *including removed rows*
(ParamProcessWorker.translateUuidToInternalId), so a NIC removed earlier still binds and its
job fails with 431 "Unable to find a NIC with ID n" (kept in the VM record's `removed_nics`).
Everything else runs in the job: InvalidParameterValueException → 431, CloudRuntimeException
→ 530. Changes are applied when the job ends, after every check, so a failed job changes
nothing (Mold's own cleanup removes a NIC whose plug failed); no rollback is needed.

Java objects inside Mold's texts (`VM[User|i-2-5-VM]`, `Nic[...]`, `Ntwk[...]`) are rendered
in CloudStack's classic toString forms from moldsim's internal numbers; newer Mold versions
print them differently, so only the fixed parts of those texts are Mold's exact words.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from moldsim import errors, jobs
from moldsim.context import Ctx
from moldsim.registry import MAP, STRING, UUID, Param, api, job_kind
from moldsim.vmview import instance_name, view

_ADMIN_VM = "org.apache.cloudstack.api.command.admin.vm."
# NetUtils.isValidMac: six groups of one or two hex digits, one separator (- : .) throughout.
_MAC = re.compile(r"^(?:[0-9a-f]{1,2}([-:.]))(?:[0-9a-f]{1,2}\1){4}[0-9a-f]{1,2}$", re.IGNORECASE)
# UserVmJoinDaoImpl.newUserVmResponse: fields present only with the detail that gates them
# (tmpl, iso, servoff, diskoff, group, volume, secgrp, affgrp); NIC results ask for `nics` only.
_GATED = ("templateid", "templatename", "templatedisplaytext", "templatetype",
          "passwordenabled", "isoid", "isoname", "isodisplaytext", "serviceofferingid",
          "serviceofferingname", "diskofferingid", "diskofferingname", "cpunumber", "cpuspeed",
          "memory", "group", "groupid", "rootdeviceid", "rootdevicetype", "securitygroup",
          "affinitygroup", "isos", "isomaxcount")


# ---------------------------------------------------------------- Java toString stand-ins

def _vm_str(ctx: Ctx, vm: dict[str, Any]) -> str:
    return f"VM[User|{instance_name(ctx, vm)}]"


def _nic_number(ctx: Ctx, nic: dict[str, Any]) -> int:
    """The NIC's internal id (NicVO.id); NICs stored by older moldsim versions get it now."""
    if "n" not in nic:
        nic["n"] = ctx.store.next_seq("nic")
    number: int = nic["n"]
    return number


def _nic_str(ctx: Ctx, nic: dict[str, Any], vm: dict[str, Any]) -> str:
    return f"Nic[{_nic_number(ctx, nic)}-{vm['n']}-{nic['deviceid']}-null-{nic['ipaddress']}]"


def _net_str(ctx: Ctx, net: dict[str, Any]) -> str:
    offerings = list(ctx.coll("networkofferings"))
    index = offerings.index(net["networkofferingid"]) + 1 if net["networkofferingid"] in offerings else 0
    return f"Ntwk[{net['n']}|Guest|{index}]"


def _zone_number(ctx: Ctx, zone_id: str) -> int:
    zones = ctx.store.zone_ids()
    return zones.index(zone_id) + 1 if zone_id in zones else 0


def _unreachable(ctx: Ctx, vm: dict[str, Any], text: str) -> str:
    """str() of ResourceUnavailableException(text, DataCenter.class, zone id) as Mold wraps it."""
    return ("com.cloud.exception.ResourceUnavailableException: Resource "
            f"[DataCenter:{_zone_number(ctx, vm['zoneid'])}] is unreachable: {text}")


# ---------------------------------------------------------------- lookups and views

def _find_nic(ctx: Ctx, nic_id: str) -> tuple[dict[str, Any], dict[str, Any], bool] | None:
    """(nic, its VM, removed?) for a NIC id, removed NICs included (Mold's binding)."""
    for vm in ctx.coll("vms").values():
        for nic in vm["nics"]:
            if nic["id"] == nic_id:
                return nic, vm, False
        for nic in vm.get("removed_nics", []):
            if nic["id"] == nic_id:
                return nic, vm, True
    return None


def _bind_nic(ctx: Ctx, p: dict[str, Any]) -> None:
    """`nicid` is a UUID of NicResponse: it must name a NIC row (removed ones too), else 431."""
    if _find_nic(ctx, p["nicid"]) is None:
        raise errors.invalid_uuid("nicid", p["nicid"])


def result_view(ctx: Ctx, vm: dict[str, Any]) -> dict[str, Any]:
    """The job result's VM: createUserVmResponse with the `nics` detail only."""
    out = view(ctx, vm)
    for key in _GATED:
        out.pop(key, None)
    return {"virtualmachine": out}


def _job_vm(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    vm = ctx.coll("vms").get(job["params"]["virtualmachineid"])
    if vm is None:  # expunged while the job waited
        raise errors.param_error("Unable to find an Instance with ID " + job["params"]["virtualmachineid"])
    return vm


def _check_no_snapshots(ctx: Ctx, vm: dict[str, Any], text: str) -> None:
    """All three commands refuse a VM that has VM snapshots (any state), with 431."""
    if any(s["vmid"] == vm["id"] for s in ctx.coll("vmsnapshots").values()):
        raise errors.param_error(text)


def _job_nic(ctx: Ctx, job: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The NIC and the VM it belongs to; a removed NIC is 431 with its internal id."""
    found = _find_nic(ctx, job["params"]["nicid"])
    if found is None or found[2]:
        number = _nic_number(ctx, found[0]) if found else job["params"]["nicid"]
        raise errors.param_error(f"Unable to find a NIC with ID {number}")
    return found[0], found[1]


# ---------------------------------------------------------------- addNicToVirtualMachine

def _standard_mac(mac: str) -> str:
    """NetUtils.standardizeMacAddress: lower-case, two digits per group, colons."""
    return ":".join(part.zfill(2) for part in re.split(r"[-:.]", mac.lower()))


def _requested_mac(p: dict[str, Any]) -> str | None:
    """AddNicToVMCmd.getMacAddress (called first thing in the job): 431 when invalid/multicast."""
    mac = p.get("macaddress")
    if mac is None:
        return None
    if not _MAC.match(mac):
        raise errors.param_error("Mac address is not valid: " + mac)
    std = _standard_mac(mac)
    if int(std[:2], 16) & 1:
        raise errors.param_error("Mac address is not unicast: " + mac)
    return std


def _new_mac(ctx: Ctx) -> str:
    k = ctx.store.next_seq("mac")  # 02:02:... never meets deploy's 02:00:... or seeding's 02:01:...
    return f"02:02:{k >> 24 & 255:02x}:{k >> 16 & 255:02x}:{k >> 8 & 255:02x}:{k & 255:02x}"


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _free_device_id(vm: dict[str, Any]) -> int:
    """NicDaoImpl.getFreeDeviceId: the lowest device id no NIC of the VM holds."""
    taken = {nic["deviceid"] for nic in vm["nics"]}
    free = 0
    while free in taken:
        free += 1
    return free


@api("addNicToVirtualMachine", [
    Param("virtualmachineid", UUID, True, "Virtual Machine ID", entity="vms", acl="operate"),
    Param("networkid", UUID, True, "Network ID", entity="networks"),
    Param("ipaddress", STRING, description="IP Address for the new network"),
    Param("macaddress", STRING, description="Mac Address for the new network"),
    Param("dhcpoptions", MAP, description="DHCP options which are passed to the nic "
          "Example: dhcpoptions[0].dhcp:114=url&dhcpoptions[0].dhcp:66=www.test.com")],
    isasync=True, description="Adds VM to specified network by creating a NIC")
def add_nic(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """getApiResourceType/Id = VirtualMachine/the VM: the job names it, the VM item shows it."""
    return {"jobid": jobs.submit(ctx, "addNicToVirtualMachine", p["virtualmachineid"], p)["id"]}


@job_kind("addNicToVirtualMachine", "VirtualMachine", _ADMIN_VM + "AddNicToVMCmdByAdmin")
def finish_add_nic(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    """UserVmManagerImpl.addNicToVirtualMachine, checks in Mold's order."""
    p = job["params"]
    mac = _requested_mac(p)
    vm = _job_vm(ctx, job)
    _check_no_snapshots(ctx, vm, "NIC cannot be added to Instance with Instance Snapshots")
    net = ctx.coll("networks").get(p["networkid"])
    if net is None:
        raise errors.param_error("Unable to find a Network with ID " + p["networkid"])
    if any(nic["networkid"] == net["id"] for nic in vm["nics"]):  # checkIfNetExistsForVM
        raise errors.internal_error(f"A NIC already exists for VM:{instance_name(ctx, vm)} in network: "
                                    f"{net['id']}")
    mac = mac or _new_mac(ctx)
    in_network = [nic for other in ctx.coll("vms").values() for nic in other["nics"]
                  if nic["networkid"] == net["id"]]
    if any(nic["macaddress"] == mac for nic in in_network):
        raise errors.internal_error("A NIC with this MAC address exists for network: " + net["id"])
    if p.get("ipaddress") is not None and not _valid_ip(p["ipaddress"]):
        raise errors.param_error("Invalid format for IP address parameter: " + p["ipaddress"])
    if net["zoneid"] != vm["zoneid"]:
        zones = ctx.coll("zones")
        raise errors.internal_error(
            f"{_vm_str(ctx, vm)} is in zone: {zones.get(vm['zoneid'], {}).get('name')} but "
            f"{_net_str(ctx, net)} is in zone: {zones.get(net['zoneid'], {}).get('name')}")
    hostnames = {other["name"] for other in ctx.coll("vms").values()
                 if any(nic["networkid"] == net["id"] for nic in other["nics"])}
    if vm["name"] in hostnames:  # listDistinctHostNames: VMs not expunged with a NIC there
        raise errors.internal_error(f"Network {net['name']} already has an Instance with host "
                                    f"name: {vm['name']}")
    if vm["state"] not in ("Running", "Stopped"):  # orchestrateAddVmToNetwork
        raise errors.internal_error(f"Unable to add NIC to {_vm_str(ctx, vm)}: " + _unreachable(
            ctx, vm, f"Unable to add vm {_vm_str(ctx, vm)} to network, is not in the right state"))
    prefix = net["gateway"].rsplit(".", 1)[0]
    nic = {"id": ctx.new_id(), "n": ctx.store.next_seq("nic"), "networkid": net["id"],
           "deviceid": _free_device_id(vm),
           "isdefault": not any(n["isdefault"] for n in vm["nics"]),  # setNicAsDefaultIfNeeded
           "ipaddress": p.get("ipaddress") or f"{prefix}.{100 + vm['n']}", "macaddress": mac}
    vm["nics"].append(nic)
    if vm["state"] == "Running":  # createNicForVm(prepare=true) implements the network
        net["state"] = "Implemented"
    return result_view(ctx, vm)


# ---------------------------------------------------------------- removeNicFromVirtualMachine

@api("removeNicFromVirtualMachine", [
    Param("virtualmachineid", UUID, True, "Instance ID", entity="vms", acl="operate"),
    Param("nicid", UUID, True, "NIC ID")],
    isasync=True, description="Removes Instance from specified Network by deleting a NIC")
def remove_nic(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """No getApiResourceId: the job has no instance (no jobinstancetype/id, no jobid on the VM)."""
    _bind_nic(ctx, p)
    return {"jobid": jobs.submit(ctx, "removeNicFromVirtualMachine", None, p)["id"]}


@job_kind("removeNicFromVirtualMachine", None, _ADMIN_VM + "RemoveNicFromVMCmdByAdmin")
def finish_remove_nic(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    """UserVmManagerImpl.removeNicFromVirtualMachine, then orchestrateRemoveNicFromVm."""
    vm = _job_vm(ctx, job)
    _check_no_snapshots(ctx, vm, "NIC cannot be removed from Instance with Instance Snapshots")
    nic, owner = _job_nic(ctx, job)
    net = ctx.coll("networks").get(nic["networkid"])
    if net is None:
        raise errors.param_error("Unable to find a Network with ID " + nic["networkid"])
    if owner["id"] != vm["id"]:
        raise errors.param_error(f"{_nic_str(ctx, nic, owner)} is not a NIC on {_vm_str(ctx, vm)}")
    if nic["isdefault"]:
        raise errors.param_error(f"Unable to remove NIC from {_vm_str(ctx, vm)} in "
                                 f"{_net_str(ctx, net)}, NIC is default.")
    if vm["state"] not in ("Running", "Stopped"):
        raise errors.internal_error(
            f"Unable to remove {_net_str(ctx, net)} from {_vm_str(ctx, vm)}: " + _unreachable(
                ctx, vm, f"Unable to remove vm {_vm_str(ctx, vm)} from network, is not in the right state"))
    _nic_number(ctx, nic)
    vm["nics"].remove(nic)
    vm.setdefault("removed_nics", []).append(nic)
    return result_view(ctx, vm)


# ---------------------------------------------------------------- updateDefaultNicForVirtualMachine

@api("updateDefaultNicForVirtualMachine", [
    Param("virtualmachineid", UUID, True, "Instance ID", entity="vms", acl="operate"),
    Param("nicid", UUID, True, "NIC ID")],
    isasync=True, description="Changes the default NIC on an Instance")
def update_default_nic(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """No getApiResourceId either: a job without instance."""
    _bind_nic(ctx, p)
    return {"jobid": jobs.submit(ctx, "updateDefaultNicForVirtualMachine", None, p)["id"]}


@job_kind("updateDefaultNicForVirtualMachine", None, _ADMIN_VM + "UpdateDefaultNicForVMCmdByAdmin")
def finish_update_default_nic(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    """UserVmManagerImpl.updateDefaultNicForVirtualMachine, then orchestrateUpdateDefaultNicForVM:
    the chosen NIC becomes default and takes the old default's device id, which takes the
    chosen one's (a swap)."""
    vm = _job_vm(ctx, job)
    _check_no_snapshots(ctx, vm, "NIC cannot be updated for Instance with Instance Snapshots")
    nic, owner = _job_nic(ctx, job)
    if nic["networkid"] not in ctx.coll("networks"):
        raise errors.param_error("Unable to find a Network with ID " + nic["networkid"])
    if owner["id"] != vm["id"]:  # Mold's text has two spaces after "on"
        raise errors.param_error(f"{_nic_str(ctx, nic, owner)} is not a NIC on  {_vm_str(ctx, vm)}")
    if nic["isdefault"]:
        raise errors.internal_error("refusing to set default NIC because chosen NIC is already "
                                    "the default")
    if vm["state"] not in ("Running", "Stopped"):
        raise errors.internal_error(f"refusing to set default {_vm_str(ctx, vm)} is not Running or "
                                    "Stopped")
    old = next((n for n in vm["nics"] if n["isdefault"]), None)
    if old is None:
        raise errors.internal_error("Failed to find a NIC profile for the existing default "
                                    "Network. This is bad and probably means some sort of "
                                    "configuration corruption")
    nic["deviceid"], old["deviceid"] = old["deviceid"], nic["deviceid"]
    nic["isdefault"], old["isdefault"] = True, False
    return result_view(ctx, vm)

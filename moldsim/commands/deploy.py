"""deployVirtualMachine (reference §4.4): async-create. The whole create phase — parameter
checks, boot type/mode, TPM, ISO rules — answers synchronously; the VM record (Stopped) and
its ROOT volume (Allocated) exist before the job starts, and the job starts the VM when
`startvm` (default true)."""

from __future__ import annotations

import re
from typing import Any

from moldsim import cdrom, errors, guest, identity, images, jobs
from moldsim.context import Ctx
from moldsim.params import flat_map
from moldsim.registry import BOOLEAN, LIST, LONG, MAP, STRING, UUID, Param, api, job_kind
from moldsim.vmview import GIB, add_to_group, image, view

_HOSTNAME = re.compile(r"^[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
# ApiConstants.TpmVersion (Mold): toString of V1_2 is "1.2", of V2_0 "2.0", of anything else
# (TPM included) "NONE": tpmversion=TPM means no TPM.
TPM_VALUES = {"V2_0": "2.0", "V1_2": "1.2", "TPM": "NONE", "NONE": "NONE"}

DEPLOY_PARAMS = [
    Param("zoneid", UUID, True, entity="zones"),
    Param("serviceofferingid", UUID, True, entity="serviceofferings"),
    Param("templateid", UUID, entity="isos|templates", acl="use"), Param("hypervisor"),
    Param("diskofferingid", UUID, entity="diskofferings"), Param("size", LONG),
    Param("rootdisksize", LONG), Param("networkids", LIST, entity="networks"),
    Param("name"), Param("displayname"), Param("group"), Param("keyboard"),
    Param("startvm", BOOLEAN), Param("boottype"), Param("bootmode"),
    Param("tpmversion", STRING, description="Mold: TPM version of the VM (V2_0, V1_2, TPM, NONE)",
          mold_only=True),
    Param("details", MAP), Param("keypair"), Param("keypairs", LIST),
    Param("hostid", UUID), Param("podid", UUID), Param("clusterid", UUID),
    Param("account"), Param("domainid", UUID, entity="domains"),
    Param("projectid", UUID, entity="projects"),
    Param("ipaddress"), Param("macaddress"), Param("dynamicscalingenabled", BOOLEAN),
    Param("userdata"), Param("password"), Param("displayvm", BOOLEAN), Param("deploymentplanner"),
    Param("additionalisoids", LIST, entity="isos", only_in=("mold-4.23",),
          description="Mold 4.23: one non-bootable ISO for the second CD-ROM drive (KVM, ISO deploys)"),
]


def _boot_details(p: dict[str, Any], name: str) -> dict[str, str]:
    boottype, bootmode = p.get("boottype"), p.get("bootmode")
    if boottype is None:
        return {}
    if boottype.upper() not in ("BIOS", "UEFI"):
        raise errors.param_error(f"Invalid bootType {boottype}Specified for vm {name} Valid values are: [UEFI, BIOS]")
    if bootmode is None:
        if boottype.upper() == "UEFI":
            raise errors.param_error("bootmode must be specified for the VM with boot type: UEFI. "
                                     "Valid values are: [LEGACY, SECURE]")
        raise errors.internal_error("java.lang.NullPointerException")  # Mold's BIOS-without-mode path
    if bootmode.upper() not in ("LEGACY", "SECURE"):
        raise errors.param_error(f"Invalid bootmode: {bootmode} specified for VM: {name}. "
                                 "Valid values are: [LEGACY, SECURE]")
    return {"UEFI": bootmode.upper()} if boottype.upper() == "UEFI" else {}


def _tpm(p: dict[str, Any], name: str, details: dict[str, str]) -> str:
    if "tpmversion" in details:
        return details["tpmversion"]
    value = str(p.get("tpmversion") or "NONE").upper()
    if value not in TPM_VALUES:
        raise errors.param_error(f"Invalid TpmVersion {p.get('tpmversion')}Specified for vm {name} "
                                 "Valid values are: [UEFI, BIOS]")
    return TPM_VALUES[value]


def _check_iso_source(ctx: Ctx, p: dict[str, Any], source: dict[str, Any]) -> None:
    if not p.get("hypervisor") or p["hypervisor"].upper() not in ctx.store.data["hypervisors"]:
        raise errors.param_error("hypervisor parameter is needed to deploy VM or the hypervisor "
                                 "parameter value passed is invalid")
    if not source.get("bootable"):
        raise errors.param_error(f"Installing from ISO requires an ISO that is bootable: {source['id']}")
    if not p.get("diskofferingid"):
        raise errors.param_error("Installing from ISO requires a disk offering to be specified "
                                 "for the root disk.")


def _root_size(ctx: Ctx, p: dict[str, Any], source: dict[str, Any]) -> int:
    if source["kind"] == "template":
        return int(p.get("rootdisksize") or 0) * GIB or int(source["size"])
    disk = ctx.coll("diskofferings")[p["diskofferingid"]]
    if disk["iscustomized"]:
        if not p.get("size"):
            raise errors.param_error("Disk offering is customized, size must be specified")
        return int(p["size"]) * GIB
    return int(disk["disksize"]) * GIB


def _check_name(ctx: Ctx, name: str, network_ids: list[str]) -> None:
    """Host name rules; UserVmManagerImpl.checkIfHostNameUniqueInNtwkDomain: per network, the
    host names of every VM not expunged (Destroyed ones too: they keep their NICs) with a NIC
    there (VMInstanceDaoImpl.listDistinctHostNames)."""
    if not _HOSTNAME.match(name):
        raise errors.param_error(
            "Invalid name. Vm name can contain ASCII letters 'a' through 'z', the digits '0' "
            "through '9', and the hyphen ('-'), must be between 1 and 63 characters long, and "
            "can't start or end with \"-\" and can't start with digit")
    for net_id in network_ids:
        taken = any(vm["name"] == name and any(nic["networkid"] == net_id for nic in vm["nics"])
                    for vm in ctx.coll("vms").values())
        if taken:
            net = ctx.coll("networks")[net_id]
            raise errors.param_error(f"The vm with hostName {name} already exists in the network "
                                     f"domain: {net['networkdomain']}; network={net['name']}")


def _new_vm(ctx: Ctx, p: dict[str, Any], source: dict[str, Any], details: dict[str, str],
            owner: dict[str, Any]) -> dict[str, Any]:
    n = ctx.store.next_seq("vm")
    name = p.get("name") or f"VM-{ctx.new_id()}"
    networks = p.get("networkids") or []
    _check_name(ctx, name, networks)
    nics = [{"id": ctx.new_id(), "n": ctx.store.next_seq("nic"), "networkid": net,
             "deviceid": i, "isdefault": i == 0,
             "ipaddress": f"{ctx.coll('networks')[net]['gateway'].rsplit('.', 1)[0]}.{100 + n}",
             "macaddress": f"02:00:{n // 256:02x}:{n % 256:02x}:{i:02x}:01"}
            for i, net in enumerate(networks)]
    return {
        "id": ctx.new_id(), "n": n, "name": name, "displayname": p.get("displayname") or name,
        "accountid": owner["id"], "userid": ctx.user["id"],
        "group": None, "zoneid": p["zoneid"], "templateid": source["id"],
        "isoid": source["id"] if source["kind"] == "iso" else None,
        "serviceofferingid": p["serviceofferingid"], "diskofferingid": p.get("diskofferingid"),
        "hypervisor": (p.get("hypervisor") or "KVM").upper(), "keypair": p.get("keypair"),
        "state": "Stopped", "details": details, "nics": nics, "created": ctx.now,
        "poweroff_at": None,
    }


def _check_template_in_zone(ctx: Ctx, source: dict[str, Any], zone_id: str) -> None:
    """The ROOT volume of a template deploy is sized from the template's copy in the VM's zone
    (VolumeOrchestrator.allocateTemplatedVolume → TemplateManagerImpl.getTemplateSize), which
    throws a CloudRuntimeException naming the internal ids while no copy there is DOWNLOADED:
    530 in the create phase, before the VM exists (hidden from callers not root admin)."""
    if source["kind"] == "template" and not images.ready_in(source, zone_id, ctx.now):
        zone_n = ctx.store.zone_ids().index(zone_id) + 1
        raise errors.internal_error(f"Template {source['n']} has not been completely "
                                    f"downloaded to zone {zone_n}")


@api("deployVirtualMachine", DEPLOY_PARAMS, isasync=True)
def deploy(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    if not p.get("templateid"):
        raise errors.missing_param("deployVirtualMachine", "templateid")
    source = image(ctx, p["templateid"])
    assert source is not None  # binding checked the id
    if source["kind"] == "iso":
        _check_iso_source(ctx, p, source)
    name = p.get("name") or ""
    owner = identity.finalize_owner(ctx, p)
    extra_isos = cdrom.check_additional(ctx, p, source, owner)
    extra = flat_map(p.get("details"))
    # UserVmManagerImpl.commitUserVm: every template detail is copied to the VM, then the
    # deploy's own (boot type/mode, details); an explicit BIOS removes an inherited UEFI
    details = {**(source.get("details") or {}), **_boot_details(p, name), **extra}
    if p.get("boottype", "").upper() == "BIOS":
        details.pop("UEFI", None)
    if ctx.release.tpm:  # BaseDeployVMCmd.getDetails always puts tpmversion (Mold only)
        details["tpmversion"] = _tpm(p, name, extra)
    if p.get("keyboard"):
        details["keyboard"] = p["keyboard"]
    size = _root_size(ctx, p, source)
    vm = _new_vm(ctx, p, source, details, owner)
    _check_template_in_zone(ctx, source, p["zoneid"])
    if extra_isos:  # stored with the VM; startvm=false keeps them for its first start (#1084)
        vm["extra_isos"] = extra_isos
        vm["iso_boot_first"] = True  # #1084: install ISO boot order 1, ROOT disk 2 (moldsim.guest)
    if p.get("group") is not None:
        add_to_group(ctx, vm, p["group"])
    ctx.coll("vms")[vm["id"]] = vm
    vol = {"id": ctx.new_id(), "name": f"ROOT-{vm['n']}", "type": "ROOT", "vmid": vm["id"],
           "accountid": owner["id"],
           "size": size, "state": "Allocated", "diskofferingid": p.get("diskofferingid"),
           "zoneid": p["zoneid"], "created": ctx.now}
    ctx.coll("volumes")[vol["id"]] = vol
    job = jobs.submit(ctx, "deployVirtualMachine", vm["id"], {"startvm": p.get("startvm", True)})
    return {"id": vm["id"], "jobid": job["id"]}


def start(ctx: Ctx, vm: dict[str, Any]) -> None:
    """Power on: Running, ROOT volume Ready, its networks Implemented."""
    vm.update(state="Running", poweroff_at=None)
    for vol in ctx.coll("volumes").values():
        if vol["vmid"] == vm["id"]:
            vol["state"] = "Ready"
    for nic in vm["nics"]:
        ctx.coll("networks")[nic["networkid"]]["state"] = "Implemented"
    guest.on_start(ctx, vm)  # the guest boots from its media (Windows Setup: moldsim.guest)


def hold_starting(ctx: Ctx, job: dict[str, Any]) -> None:
    """A start (or a deploy with startvm) that never ends leaves the VM `Starting`."""
    vm = ctx.coll("vms").get(job["instanceid"])
    if vm is not None and job["params"].get("startvm", True):
        vm["state"] = "Starting"


def _deploy_failed(ctx: Ctx, job: dict[str, Any]) -> None:
    """A deploy whose job fails leaves the VM in Error (reference §3.1)."""
    vm = ctx.coll("vms").get(job["instanceid"])
    if vm is not None:
        vm["state"] = "Error"


@job_kind("deployVirtualMachine", "VirtualMachine",
          "org.apache.cloudstack.api.command.admin.vm.DeployVMCmdByAdmin", _deploy_failed,
          hold_starting)
def finish_deploy(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    vm = ctx.coll("vms").get(job["instanceid"])
    if vm is None:
        raise errors.internal_error("Unable to find the VM being deployed")
    if job["params"].get("startvm", True):
        start(ctx, vm)
    return {"virtualmachine": view(ctx, vm)}

"""Virtual machines: the record kept in the store and the UserVmResponse view (reference §5.1).

A VM record (in `data["vms"]`):
  id, n (internal number: ROOT-<n>, i-2-<n>-VM), name (hostname), displayname, group,
  zoneid, templateid (the ISO or template it was deployed from), isoid (in the drive or
  None), serviceofferingid, diskofferingid, hypervisor, keypair, state, details (dict, e.g.
  UEFI=SECURE, tpmversion=2.0, rootDiskController, keyboard), nics (list of {id, networkid,
  ipaddress, macaddress, deviceid, isdefault, n (internal NIC number; NICs stored by older
  moldsim versions get one on first use in moldsim.commands.nics)}), removed_nics (optional: NICs taken off by
  removeNicFromVirtualMachine, whose ids still bind as Mold's do), created,
  poweroff_at (when Mold notices a guest-initiated power-off; None when none is pending).
A volume record (in `data["volumes"]`): id, name ROOT-<n>, type, vmid, size (bytes), state
  (Allocated until the VM first starts, then Ready), diskofferingid, zoneid, created.
"""

from __future__ import annotations

from typing import Any

from moldsim import jobs, tagging
from moldsim.clock import stamp
from moldsim.context import Ctx

GIB = 1024 ** 3


def image(ctx: Ctx, image_id: str | None) -> dict[str, Any] | None:
    if not image_id:
        return None
    found: dict[str, Any] | None = ctx.coll("isos").get(image_id) or ctx.coll("templates").get(image_id)
    return found


def _nic_view(ctx: Ctx, nic: dict[str, Any]) -> dict[str, Any]:
    net = ctx.coll("networks").get(nic["networkid"], {})
    return {"id": nic["id"], "networkid": nic["networkid"], "networkname": net.get("name"),
            "ipaddress": nic["ipaddress"], "netmask": net.get("netmask"),
            "gateway": net.get("gateway"), "macaddress": nic["macaddress"],
            "isdefault": nic["isdefault"], "type": "Isolated", "traffictype": "Guest",
            "deviceid": str(nic["deviceid"]), "secondaryip": [], "extradhcpoption": []}


def _boot_fields(vm: dict[str, Any], out: dict[str, Any]) -> None:
    """boottype/bootmode only for UEFI VMs ("Uefi" + lower-case mode); absent means BIOS."""
    mode = vm["details"].get("UEFI")
    if mode:
        out["boottype"] = "Uefi"
        out["bootmode"] = str(mode).lower()


def view(ctx: Ctx, vm: dict[str, Any]) -> dict[str, Any]:
    offering = ctx.coll("serviceofferings").get(vm["serviceofferingid"], {})
    source = image(ctx, vm["templateid"]) or {}
    ostype = ctx.coll("ostypes").get(source.get("ostypeid"), {})
    zone = ctx.zone(vm["zoneid"]) or {}
    out: dict[str, Any] = {
        "id": vm["id"], "name": vm["name"], "displayname": vm["displayname"] or vm["name"],
        **ctx.owner(), "userid": ctx.store.account["userid"], "username": "admin",
        "created": stamp(vm["created"]), "state": vm["state"], "haenable": False,
        "zoneid": vm["zoneid"], "zonename": zone.get("name"), "hypervisor": vm["hypervisor"],
        "templateid": vm["templateid"], "templatename": source.get("name"),
        "templatedisplaytext": source.get("displaytext"),
        "templatetype": "USER" if source.get("kind") == "template" else "ISO",
        "passwordenabled": False, "serviceofferingid": vm["serviceofferingid"],
        "serviceofferingname": offering.get("name"), "cpunumber": offering.get("cpunumber"),
        "cpuspeed": offering.get("cpuspeed"), "memory": offering.get("memory"),
        "guestosid": source.get("ostypeid"), "ostypeid": source.get("ostypeid"),
        "osdisplayname": ostype.get("name"), "rootdeviceid": 0, "rootdevicetype": "ROOT",
        "nic": [_nic_view(ctx, nic) for nic in vm["nics"]], "securitygroup": [],
        "affinitygroup": [], "tags": tagging.tags_of(ctx, vm["id"]), "details": dict(vm["details"]),
        "isdynamicallyscalable": False, "deleteprotection": False, "displayvm": True,
        "kvdoenable": False, "kvdoinuse": False, "vbmcport": "None",
        "instancename": f"i-2-{vm['n']}-VM", "pooltype": "NetworkFilesystem",
    }
    _boot_fields(vm, out)
    if vm.get("group"):
        out["group"], out["groupid"] = vm["group"], f"group-{vm['group']}"
    iso = ctx.coll("isos").get(vm["isoid"]) if vm.get("isoid") else None
    if iso is not None:
        out.update(isoid=iso["id"], isoname=iso["name"], isodisplaytext=iso["displaytext"])
    disk = ctx.coll("diskofferings").get(vm.get("diskofferingid") or "")
    if disk is not None:
        out.update(diskofferingid=disk["id"], diskofferingname=disk["name"])
    if vm.get("keypair"):
        out["keypairs"] = vm["keypair"]
    pending = jobs.pending_job(ctx, vm["id"])
    if pending is not None:
        out.update(jobid=pending["id"], jobstatus=0)
    return out


def volume_view(ctx: Ctx, vol: dict[str, Any]) -> dict[str, Any]:
    vm = ctx.coll("vms").get(vol["vmid"]) if vol.get("vmid") else None
    disk = ctx.coll("diskofferings").get(vol.get("diskofferingid") or "", {})
    zone = ctx.zone(vol["zoneid"]) or {}
    out: dict[str, Any] = {
        "id": vol["id"], "name": vol["name"], "type": vol["type"], "deviceid": 0,
        "state": vol["state"], "size": vol["size"], "zoneid": vol["zoneid"],
        "zonename": zone.get("name"), "diskofferingid": disk.get("id"),
        "diskofferingname": disk.get("name"), "storagetype": "shared",
        "provisioningtype": "thin", "hypervisor": "KVM", "created": stamp(vol["created"]),
        **ctx.owner(), "tags": tagging.tags_of(ctx, vol["id"]), "isextractable": False,
    }
    if vm is not None:
        out.update(virtualmachineid=vm["id"], vmname=vm["name"],
                   vmdisplayname=vm["displayname"] or vm["name"], vmstate=vm["state"],
                   vmtype="User", attached=stamp(vol["created"]))
    return out

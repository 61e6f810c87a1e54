"""Virtual machines: the record kept in the store and the UserVmResponse view (reference §5.1).

A VM record (in `data["vms"]`):
  id, n (internal number: ROOT-<n>, i-<account n>-<n>-VM), accountid (owner), userid (who
  deployed it), name (hostname), displayname, group (name, "" allowed) and groupid,
  zoneid, templateid (the ISO or template it was deployed from), isoid (in the first drive,
  device sequence 3, or None), extra_isos (mold-4.23: {"4": iso id} for further drives, see
  moldsim.cdrom; absent = none), serviceofferingid, diskofferingid, hypervisor, keypair, state, details (dict, e.g.
  UEFI=SECURE, tpmversion=2.0, rootDiskController, keyboard), nics (list of {id, networkid,
  ipaddress, macaddress, deviceid, isdefault, n (internal NIC number; NICs stored by older
  moldsim versions get one on first use in moldsim.commands.nics)}), removed_nics (optional: NICs taken off by
  removeNicFromVirtualMachine, whose ids still bind as Mold's do), created,
  poweroff_at (when Mold notices a guest-initiated power-off; None when none is pending),
  guest_agent (the qemu guest agent runs: POST /moldsim/guest-agent; absent = no agent),
  destroyed_at (when it became Destroyed: expunged expunge.delay seconds later).
A volume record (in `data["volumes"]`): id, name ROOT-<n>, type, vmid, size (bytes), state
  (Allocated until the VM first starts, then Ready), diskofferingid, zoneid, created.
"""

from __future__ import annotations

from typing import Any

from moldsim import cdrom, identity, jobs, settings, tagging
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
    """UserVmJoinDaoImpl: a `UEFI` detail gives boottype "Uefi" and the lower-case mode;
    "Bios"/"legacy" only when the VM has no details at all (Mold always stores tpmversion, so
    a Mold BIOS VM shows neither field; an upstream CloudStack BIOS VM shows both)."""
    mode = vm["details"].get("UEFI")
    if mode:
        out["boottype"] = "Uefi"
        out["bootmode"] = str(mode).lower()
    elif not vm["details"]:
        out["boottype"], out["bootmode"] = "Bios", "legacy"


def instance_name(ctx: Ctx, vm: dict[str, Any]) -> str:
    """VirtualMachineName.getVmName: i-<owner account's internal id>-<VM's internal id>-VM."""
    acct = identity.account(ctx.store, ctx.owner_id(vm))
    return f"i-{acct['n'] if acct else 2}-{vm['n']}-VM"


def shown_details(ctx: Ctx, vm: dict[str, Any], out: dict[str, Any]) -> None:
    """UserVmJoinDaoImpl.newUserVmResponse: callers whose account type is not ADMIN lose the
    `user.vm.denied.details` keys and get `readonlydetails` (the raw setting string)."""
    details = dict(vm["details"])
    if ctx.account["type"] != identity.ADMIN:
        for key in settings.csv(ctx.store, ctx.config, "user.vm.denied.details"):
            details.pop(key, None)
        out["readonlydetails"] = settings.value(ctx.store, ctx.config, "user.vm.readonly.details")
    out["details"] = details


def view(ctx: Ctx, vm: dict[str, Any]) -> dict[str, Any]:
    offering = ctx.coll("serviceofferings").get(vm["serviceofferingid"], {})
    source = image(ctx, vm["templateid"]) or {}
    ostype = ctx.coll("ostypes").get(source.get("ostypeid"), {})
    zone = ctx.zone(vm["zoneid"]) or {}
    user = ctx.store.data["users"].get(vm.get("userid") or "") or ctx.store.data["users"].get(
        ctx.store.data["admin"]["userid"], {})
    out: dict[str, Any] = {
        "id": vm["id"], "name": vm["name"], "displayname": vm["displayname"] or vm["name"],
        **ctx.owner(vm), "userid": user.get("id"), "username": user.get("username"),
        "created": stamp(vm["created"]), "state": vm["state"], "haenable": False,
        "zoneid": vm["zoneid"], "zonename": zone.get("name"), "hypervisor": vm["hypervisor"],
        "templateid": vm["templateid"], "templatename": source.get("name"),
        "templatedisplaytext": source.get("displaytext"),
        # registerIso makes TemplateType.USER images of format ISO (UserVmJoinDaoImpl)
        "templatetype": source.get("templatetype") or "USER",
        "templateformat": "ISO" if source.get("kind") == "iso" else source.get("format"),
        "passwordenabled": False, "serviceofferingid": vm["serviceofferingid"],
        "serviceofferingname": offering.get("name"), "cpunumber": offering.get("cpunumber"),
        "cpuspeed": offering.get("cpuspeed"), "memory": offering.get("memory"),
        "guestosid": source.get("ostypeid"), "ostypeid": source.get("ostypeid"),
        "osdisplayname": ostype.get("name"), "rootdeviceid": 0, "rootdevicetype": "ROOT",
        "nic": [_nic_view(ctx, nic) for nic in vm["nics"]], "securitygroup": [],
        "affinitygroup": [], "tags": tagging.tags_of(ctx, vm["id"]),
        "isdynamicallyscalable": False, "deleteprotection": False, "displayvm": True,
        "kvdoenable": False, "kvdoinuse": False, "vbmcport": "None",
        "pooltype": "NetworkFilesystem",
    }
    shown_details(ctx, vm, out)
    if ctx.root_admin:  # ResponseView.Full: the *ByAdmin command class, root admins only
        out["instancename"] = instance_name(ctx, vm)
    _boot_fields(vm, out)
    if vm.get("group") is not None:
        out["group"] = vm["group"]
        out["groupid"] = vm.get("groupid") or f"group-{vm['group']}"
    iso = ctx.coll("isos").get(vm["isoid"]) if vm.get("isoid") else None
    if iso is not None:
        out.update(isoid=iso["id"], isoname=iso["name"], isodisplaytext=iso["displaytext"])
    cdrom.view_fields(ctx, vm, out)
    disk = ctx.coll("diskofferings").get(vm.get("diskofferingid") or "")
    if disk is not None:
        out.update(diskofferingid=disk["id"], diskofferingname=disk["name"])
    if vm.get("keypair"):
        out["keypairs"] = vm["keypair"]
    pending = jobs.pending_job(ctx, vm["id"])
    if pending is not None:
        out.update(jobid=pending["id"], jobstatus=0)
    return out


def add_to_group(ctx: Ctx, vm: dict[str, Any], name: str) -> None:
    """UserVmManagerImpl.addInstanceToGroup: the owner's group of that name (made when missing,
    "" included); the VM leaves its old group. No API takes a VM out of a group."""
    owner = ctx.owner_id(vm)
    groups = ctx.store.data.setdefault("vmgroups", {})
    group = next((g for g in groups.values() if g["accountid"] == owner and g["name"] == name), None)
    if group is None:
        group = {"id": ctx.new_id(), "name": name, "accountid": owner, "created": ctx.now}
        groups[group["id"]] = group
    vm["group"], vm["groupid"] = name, group["id"]


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
        **ctx.owner(vol), "tags": tagging.tags_of(ctx, vol["id"]), "isextractable": False,
    }
    if vm is not None:
        out.update(virtualmachineid=vm["id"], vmname=vm["name"],
                   vmdisplayname=vm["displayname"] or vm["name"], vmstate=vm["state"],
                   vmtype="User", attached=stamp(vol["created"]))
    return out

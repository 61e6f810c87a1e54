"""VM lifecycle commands (reference §4.4, §4.5): listVirtualMachines, start/stop/destroy
(async), updateVirtualMachine and changeServiceForVirtualMachine (sync), attachIso/detachIso
(async, one CD drive: a second attach replaces the ISO, as classic Mold), listVolumes.

Business checks of async commands run inside the job (they fail it with the code Mold
uses); only parameter binding answers synchronously.
"""

from __future__ import annotations

from typing import Any

from moldsim import errors, jobs, listing, tagging
from moldsim.commands.deploy import hold_starting, start
from moldsim.context import Ctx
from moldsim.params import flat_map
from moldsim.registry import BOOLEAN, LIST, MAP, UUID, Param, api, job_kind
from moldsim.vmview import view, volume_view

_VM = "org.apache.cloudstack.api.command.user.vm."
_ISO = "org.apache.cloudstack.api.command.user.iso."
HIDDEN_STATES = ("Destroyed", "Expunging")


def _vm(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    vm = ctx.coll("vms").get(job["instanceid"])
    if vm is None:
        raise errors.param_error(f"Unable to find virtual machine with id {job['instanceid']}")
    return vm


@api("listVirtualMachines", [
    Param("id", UUID, entity="vms"), Param("ids", LIST, entity="vms"), Param("name"),
    Param("state"), Param("zoneid", UUID, entity="zones"), Param("templateid", UUID),
    Param("isoid", UUID), Param("networkid", UUID), Param("groupid"),
    Param("serviceofferingid", UUID), Param("hypervisor"), Param("details", LIST),
    Param("userid", UUID), Param("displayvm", BOOLEAN), Param("showicon", BOOLEAN)],
    listing=True, tagged=True)
def list_vms(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    recs = sorted(ctx.coll("vms").values(), key=lambda v: v["n"])
    state = str(p.get("state") or "")
    if state.lower() == "present" or not state:
        recs = [v for v in recs if v["state"] not in HIDDEN_STATES]
    else:
        recs = [v for v in recs if v["state"].lower() == state.lower()]
    recs = listing.where(p, recs, id="id", name="name", zoneid="zoneid", templateid="templateid",
                         isoid="isoid", serviceofferingid="serviceofferingid",
                         ids=lambda ids, v: v["id"] in ids,
                         networkid=lambda net, v: any(n["networkid"] == net for n in v["nics"]))
    recs = listing.by_tags(ctx, p, listing.by_keyword(p, recs, ("name", "displayname")))
    return listing.respond(ctx, p, "virtualmachine", [view(ctx, v) for v in recs])


def _async(command: str) -> Any:
    def handler(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        target = p.get("id") if "virtualmachineid" not in p else p["virtualmachineid"]
        return {"jobid": jobs.submit(ctx, command, target, p)["id"]}
    return handler


api("startVirtualMachine", [Param("id", UUID, True, entity="vms"), Param("hostid", UUID),
                            Param("podid", UUID), Param("clusterid", UUID),
                            Param("considerlasthost", BOOLEAN)], isasync=True)(
    _async("startVirtualMachine"))


@api("stopVirtualMachine", [Param("id", UUID, True, entity="vms"), Param("forced", BOOLEAN)],
     isasync=True)
def stop_vm(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """A guest that already powered itself off stops at once (nothing left to shut down)."""
    guest_off = ctx.get("vms", p["id"]).get("poweroff_at") is not None
    job = jobs.submit(ctx, "stopVirtualMachine", p["id"], p, seconds=0.0 if guest_off else None)
    return {"jobid": job["id"]}


api("destroyVirtualMachine", [Param("id", UUID, True, entity="vms"), Param("expunge", BOOLEAN),
                              Param("volumeids", LIST)], isasync=True)(
    _async("destroyVirtualMachine"))
api("attachIso", [Param("id", UUID, True, entity="isos"),
                  Param("virtualmachineid", UUID, True, entity="vms"), Param("forced", BOOLEAN)],
    isasync=True)(_async("attachIso"))
api("detachIso", [Param("virtualmachineid", UUID, True, entity="vms"), Param("forced", BOOLEAN)],
    isasync=True)(_async("detachIso"))


@job_kind("startVirtualMachine", "VirtualMachine", _VM + "StartVMCmd", hang=hold_starting)
def finish_start(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    vm = _vm(ctx, job)
    if vm["state"] not in ("Stopped", "Running"):
        raise errors.internal_error(f"Unable to start VM {vm['name']} in state {vm['state']}")
    start(ctx, vm)
    return {"virtualmachine": view(ctx, vm)}


def _hold_stopping(ctx: Ctx, job: dict[str, Any]) -> None:
    """A stop that never ends leaves the VM `Stopping`."""
    vm = ctx.coll("vms").get(job["instanceid"])
    if vm is not None and vm["state"] == "Running":
        vm["state"] = "Stopping"


@job_kind("stopVirtualMachine", "VirtualMachine", _VM + "StopVMCmd", hang=_hold_stopping)
def finish_stop(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    vm = _vm(ctx, job)
    if vm["state"] not in ("Stopped", "Running"):
        raise errors.internal_error(f"Unable to stop VM {vm['name']} in state {vm['state']}")
    vm.update(state="Stopped", poweroff_at=None)
    return {"virtualmachine": view(ctx, vm)}


@job_kind("destroyVirtualMachine", "VirtualMachine", _VM + "DestroyVMCmd")
def finish_destroy(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    vm = _vm(ctx, job)
    result = {"virtualmachine": {**view(ctx, vm), "state": "Expunging"}}
    if not job["params"].get("expunge"):
        vm.update(state="Destroyed", isoid=None)
        return {"virtualmachine": view(ctx, vm)}
    for coll in ("volumes", "vmsnapshots"):
        owned = [k for k, r in ctx.coll(coll).items() if r.get("vmid") == vm["id"]]
        for key in owned:
            tagging.drop_resource(ctx, key)
            del ctx.coll(coll)[key]
    tagging.drop_resource(ctx, vm["id"])
    del ctx.coll("vms")[vm["id"]]
    return result


@job_kind("attachIso", "VirtualMachine", _ISO + "AttachIsoCmd")
def finish_attach(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    vm = _vm(ctx, job)
    iso = ctx.coll("isos").get(job["params"]["id"])
    if vm["state"] not in ("Running", "Stopped"):
        raise errors.param_error("Please specify a VM that is either Stopped or Running.")
    if iso is None:
        raise errors.param_error("Unable to find an ISO with id " + job["params"]["id"])
    if iso["zoneid"] not in (None, vm["zoneid"]):
        raise errors.param_error("ISO is not available in the zone the VM is in.")
    vm["isoid"] = iso["id"]  # classic Mold: one drive, a second attach replaces the ISO
    return {"virtualmachine": view(ctx, vm)}


@job_kind("detachIso", "VirtualMachine", _ISO + "DetachIsoCmd")
def finish_detach(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    vm = _vm(ctx, job)
    if vm["state"] not in ("Running", "Stopped"):
        raise errors.param_error("Please specify a VM that is either Stopped or Running.")
    if not vm.get("isoid"):
        raise errors.param_error("The specified VM has no ISO attached to it.")
    vm["isoid"] = None
    return {"virtualmachine": view(ctx, vm)}


@api("updateVirtualMachine", [
    Param("id", UUID, True, entity="vms"), Param("displayname"), Param("name"), Param("group"),
    Param("ostypeid", UUID, entity="ostypes"), Param("haenable", BOOLEAN),
    Param("isdynamicallyscalable", BOOLEAN), Param("details", MAP),
    Param("cleanupdetails", BOOLEAN), Param("deleteprotection", BOOLEAN),
    Param("displayvm", BOOLEAN)])
def update_vm(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    vm = ctx.get("vms", p["id"])
    for field in ("displayname", "name"):
        if field in p:
            vm[field] = p[field]
    if "group" in p:
        vm["group"] = p["group"] or None
    if "details" in p:  # replaces the displayable details, as Mold does
        vm["details"] = flat_map(p["details"])
    return {"virtualmachine": view(ctx, vm)}


@api("changeServiceForVirtualMachine", [
    Param("id", UUID, True, entity="vms"),
    Param("serviceofferingid", UUID, True, entity="serviceofferings"), Param("details", MAP)])
def change_service(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    vm = ctx.get("vms", p["id"])
    if vm["state"] != "Stopped":
        raise errors.param_error(f"Unable to upgrade virtual machine {vm['name']}, the VM is not "
                                 "in stopped state")
    vm["serviceofferingid"] = p["serviceofferingid"]
    return {"virtualmachine": view(ctx, vm)}


@api("listVolumes", [
    Param("id", UUID, entity="volumes"), Param("ids", LIST), Param("name"),
    Param("virtualmachineid", UUID), Param("type"), Param("zoneid", UUID), Param("state"),
    Param("diskofferingid", UUID)], listing=True, tagged=True)
def list_volumes(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    recs = sorted(ctx.coll("volumes").values(), key=lambda v: (v["created"], v["name"]))
    recs = listing.where(p, recs, id="id", name="name", virtualmachineid="vmid", zoneid="zoneid",
                         state="state", type=lambda t, v: str(t).upper() in v["type"])
    recs = listing.by_tags(ctx, p, recs)
    return listing.respond(ctx, p, "volume", [volume_view(ctx, v) for v in recs])

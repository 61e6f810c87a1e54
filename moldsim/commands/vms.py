"""VM lifecycle commands (reference §4.4, §4.5): listVirtualMachines, start/stop/destroy
(async), expungeVirtualMachine (async), recoverVirtualMachine (sync), updateVirtualMachine and
changeServiceForVirtualMachine (sync), attachIso/detachIso (async; one CD drive where a second
attach replaces the ISO, as classic Mold, or Mold 4.23's several drives: moldsim.cdrom),
listVolumes.

Business checks of async commands run inside the job (they fail it with the code Mold
uses); only parameter binding and the `@ACL` access checks answer synchronously.

Sources (jeongda-young/ablestack-cloud "L", ablecloud-team/ablestack-cloud "M"):
- server/.../vm/UserVmManagerImpl.java: destroyVm (M: checkExpungeVmPermission), expungeVm,
  recoverVirtualMachine, updateVirtualMachine (M: denied/read-only details), addInstanceToGroup
- engine/orchestration/.../vm/VirtualMachineManagerImpl.destroy (L): a destroyed VM is stopped,
  loses its VM snapshots and keeps its NICs, ISO and volumes until it is expunged
- server/.../api/query/QueryManagerImpl.searchForUserVMIdsAndCount (L): admins see Destroyed
  VMs; others only with allow.user.view.destroyed.vm, even by id
- server/.../configuration/Config.java: expunge.delay (seconds; moldsim takes fractions)
"""

from __future__ import annotations

from typing import Any

from moldsim import cdrom, errors, guest, identity, jobs, listing, rolerules, settings
from moldsim.commands.deploy import hold_starting, start
from moldsim.context import Ctx
from moldsim.params import flat_map
from moldsim.profiles import text
from moldsim.registry import BOOLEAN, LIST, MAP, UUID, Param, api, job_kind
from moldsim.vmview import add_to_group, view, volume_view

_VM = "org.apache.cloudstack.api.command.user.vm."
_ADMIN_VM = "org.apache.cloudstack.api.command.admin.vm."
_ISO = "org.apache.cloudstack.api.command.user.iso."
HIDDEN_STATES = ("Destroyed", "Expunging")


def _vm(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    vm = ctx.coll("vms").get(job["instanceid"])
    if vm is None:
        raise errors.param_error(f"Unable to find virtual machine with id {job['instanceid']}")
    return vm


def hidden_from(ctx: Ctx) -> tuple[str, ...]:
    """States a list never shows this caller: Destroyed and Expunging for callers who are not
    admins, unless allow.user.view.destroyed.vm is set for their account."""
    if identity.is_admin(ctx.account) or ctx.flag("allow.user.view.destroyed.vm", ctx.account["id"]):
        return ()
    return HIDDEN_STATES


@api("listVirtualMachines", [
    Param("id", UUID, entity="vms"), Param("ids", LIST, entity="vms"), Param("name"),
    Param("state"), Param("zoneid", UUID, entity="zones"), Param("templateid", UUID),
    Param("isoid", UUID), Param("networkid", UUID), Param("groupid"),
    Param("serviceofferingid", UUID), Param("hypervisor"), Param("details", LIST),
    Param("userid", UUID), Param("displayvm", BOOLEAN), Param("showicon", BOOLEAN)],
    listing=True, tagged=True)
def list_vms(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    scope = identity.scope(ctx, p, "id" in p or "ids" in p)
    recs = scope.filter(ctx.store, sorted(ctx.coll("vms").values(), key=lambda v: v["n"]))
    state = str(p.get("state") or "")
    if state.lower() == "present":
        recs = [v for v in recs if v["state"] not in HIDDEN_STATES]
    elif state:
        recs = [v for v in recs if v["state"].lower() == state.lower()]
    hidden = hidden_from(ctx)
    recs = [v for v in recs if v["state"] not in hidden]
    recs = listing.where(p, recs, id="id", name="name", zoneid="zoneid", templateid="templateid",
                         isoid="isoid", serviceofferingid="serviceofferingid", userid="userid",
                         groupid="groupid", ids=lambda ids, v: v["id"] in ids,
                         networkid=lambda net, v: any(n["networkid"] == net for n in v["nics"]))
    recs = listing.by_tags(ctx, p, listing.by_keyword(p, recs, ("name", "displayname")))
    return listing.respond(ctx, p, "virtualmachine", [view(ctx, v) for v in recs])


def _async(command: str) -> Any:
    def handler(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        target = p.get("id") if "virtualmachineid" not in p else p["virtualmachineid"]
        return {"jobid": jobs.submit(ctx, command, target, p)["id"]}
    return handler


_VM_ID = Param("id", UUID, True, entity="vms", acl="operate")

api("startVirtualMachine", [_VM_ID, Param("hostid", UUID), Param("podid", UUID),
                            Param("clusterid", UUID), Param("considerlasthost", BOOLEAN),
                            Param("deploymentplanner")], isasync=True)(
    _async("startVirtualMachine"))


@api("stopVirtualMachine", [_VM_ID, Param("forced", BOOLEAN)], isasync=True)
def stop_vm(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """A guest that already powered itself off stops at once (nothing left to shut down)."""
    guest_off = ctx.get("vms", p["id"]).get("poweroff_at") is not None
    job = jobs.submit(ctx, "stopVirtualMachine", p["id"], p, seconds=0.0 if guest_off else None)
    return {"jobid": job["id"]}


api("destroyVirtualMachine", [_VM_ID, Param("expunge", BOOLEAN), Param("volumeids", LIST)],
    isasync=True)(_async("destroyVirtualMachine"))
api("expungeVirtualMachine", [_VM_ID], isasync=True)(_async("expungeVirtualMachine"))
def _iso_job(command: str) -> Any:
    """attachIso/detachIso: on mold-4.23 a VM's ISO jobs run one after the other (#1124)."""
    def handler(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        vm_id = p["virtualmachineid"]
        return {"jobid": jobs.submit(ctx, command, vm_id, p, seconds=cdrom.queue_seconds(ctx, vm_id))["id"]}
    return handler


api("attachIso", [Param("id", UUID, True, entity="isos"),
                  Param("virtualmachineid", UUID, True, entity="vms"), Param("forced", BOOLEAN)],
    isasync=True)(_iso_job("attachIso"))
api("detachIso", [Param("virtualmachineid", UUID, True, entity="vms"), Param("forced", BOOLEAN),
                  Param("id", UUID, entity="isos", only_in=("mold-4.23",),
                        description="The ID of the ISO to detach. Required when the Instance has "
                                    "more than one ISO attached.")],
    isasync=True)(_iso_job("detachIso"))


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
    if vm["state"] in ("Error", "Destroyed", "Expunging"):  # L VirtualMachineManagerImpl
        return {"virtualmachine": view(ctx, vm)}  # .advanceStop: logged, nothing done, success
    if vm["state"] not in ("Stopped", "Running"):
        raise errors.internal_error(f"Unable to stop VM {vm['name']} in state {vm['state']}")
    guest.on_stop(ctx, vm, "stopVirtualMachine")
    vm.update(state="Stopped", poweroff_at=None)
    return {"virtualmachine": view(ctx, vm)}


def _check_expunge_permission(ctx: Ctx, vm: dict[str, Any]) -> None:
    """M UserVmManagerImpl.checkExpungeVmPermission: (admin, or allow.user.expunge.recover.vm
    for the caller's account) and a role that may call expungeVirtualMachine. L and upstream
    CloudStack: admin, or the setting for the VM owner's account; no role check."""
    acct = ctx.account
    denied = text(ctx.release, "expunge_denied")
    if not ctx.release.tpm:  # upstream CloudStack (cloudstack-4.17)
        if not identity.is_admin(acct) and not ctx.flag("allow.user.expunge.recover.vm", ctx.owner_id(vm)):
            raise errors.permission_denied(denied)
        return
    if not identity.is_admin(acct) and not ctx.flag("allow.user.expunge.recover.vm", acct["id"]):
        raise errors.permission_denied(denied)
    role = identity.role_of(ctx.store, acct)
    if not rolerules.role_allows(role["n"], role["type"], "expungeVirtualMachine"):
        raise errors.permission_denied(denied)


def expunge(ctx: Ctx, vm: dict[str, Any]) -> None:
    """Remove a VM for good: its volumes, VM snapshots, tags, NICs and group membership."""
    for coll in ("volumes", "vmsnapshots"):
        owned = [k for k, r in ctx.coll(coll).items() if r.get("vmid") == vm["id"]]
        for key in owned:
            ctx.remove(coll, key)
    ctx.store.data.setdefault("expunge_due", {}).pop(vm["id"], None)
    ctx.remove("vms", vm["id"])


def destroy(ctx: Ctx, vm: dict[str, Any]) -> None:
    """VirtualMachineManagerImpl.destroy: stopped, VM snapshots deleted, state Destroyed; NICs,
    the ISO in the drive and the ROOT volume stay until the VM is expunged, expunge.delay
    seconds later."""
    guest.on_stop(ctx, vm, "destroyVirtualMachine")
    for key in [k for k, s in ctx.coll("vmsnapshots").items() if s["vmid"] == vm["id"]]:
        ctx.remove("vmsnapshots", key)
    vm.update(state="Destroyed", poweroff_at=None, destroyed_at=ctx.now)
    delay = settings.number(ctx.store, ctx.config, "expunge.delay")
    ctx.store.data.setdefault("expunge_due", {})[vm["id"]] = ctx.now + max(0.0, delay)


def _expunge_due(ctx: Ctx) -> bool:
    """Ticker: the expunge thread removes Destroyed VMs whose expunge.delay has passed."""
    due = ctx.store.data.get("expunge_due") or {}
    ready = [vm_id for vm_id, when in due.items() if when <= ctx.now]
    for vm_id in ready:
        vm = ctx.coll("vms").get(vm_id)
        if vm is not None and vm["state"] == "Destroyed":
            expunge(ctx, vm)
        else:
            due.pop(vm_id, None)
    return bool(ready)


jobs.TICKERS.append(_expunge_due)


@job_kind("destroyVirtualMachine", "VirtualMachine", _VM + "DestroyVMCmd")
def finish_destroy(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    vm = _vm(ctx, job)
    if job["params"].get("expunge"):
        _check_expunge_permission(ctx, vm)
    elif vm["state"] in HIDDEN_STATES:
        return {"virtualmachine": view(ctx, vm)}  # already destroyed: answered as it is
    if not job["params"].get("expunge"):
        destroy(ctx, vm)
        return {"virtualmachine": view(ctx, vm)}
    result = {"virtualmachine": {**view(ctx, vm), "state": "Expunging"}}
    expunge(ctx, vm)
    return result


@job_kind("expungeVirtualMachine", "VirtualMachine", _ADMIN_VM + "ExpungeVMCmd")
def finish_expunge(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    """UserVmManagerImpl.expungeVm: the state first (CloudRuntimeException, 530), then the
    permission (PermissionDeniedException, which a job reports as 530)."""
    vm = _vm(ctx, job)
    if vm["state"] not in ("Destroyed", "Expunging", "Error"):
        raise errors.internal_error("Please destroy vm with specified vmId before expunge")
    if not identity.is_admin(ctx.account) and \
            not ctx.flag("allow.user.expunge.recover.vm", ctx.account["id"]):
        raise errors.permission_denied("Expunging a vm can only be done by an Admin. Or when the "
                                       "allow.user.expunge.recover.vm key is set.")
    expunge(ctx, vm)
    return {"success": True}


@api("recoverVirtualMachine", [_VM_ID])
def recover_vm(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """UserVmManagerImpl.recoverVirtualMachine (synchronous): the permission (531), then the
    state (431, with the VM's internal id); the VM is Stopped again."""
    vm = ctx.get("vms", p["id"])
    if not identity.is_admin(ctx.account) and \
            not ctx.flag("allow.user.expunge.recover.vm", ctx.account["id"]):
        raise errors.permission_denied("Recovering a vm can only be done by an Admin. Or when the "
                                       "allow.user.expunge.recover.vm key is set.")
    if vm["state"] != "Destroyed":
        raise errors.param_error(f"Vm with id {vm['n']} is not in the right state")
    vm.update(state="Stopped", destroyed_at=None)
    ctx.store.data.setdefault("expunge_due", {}).pop(vm["id"], None)
    return {"virtualmachine": view(ctx, vm)}


@job_kind("attachIso", "VirtualMachine", _ISO + "AttachIsoCmd")
def finish_attach(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    vm = _vm(ctx, job)
    iso = ctx.coll("isos").get(job["params"]["id"])
    if vm["state"] not in ("Running", "Stopped"):
        raise errors.param_error("Please specify a VM that is either Stopped or Running.")
    if iso is None:
        raise errors.param_error("Unable to find an ISO with id " + job["params"]["id"])
    identity.check_template(ctx.store, ctx.account, iso, operate=False)
    identity.check_owner(ctx.store, ctx.account, ctx.owner_id(vm))
    if iso["zoneid"] not in (None, vm["zoneid"]):
        raise errors.param_error(cdrom.NOT_IN_ZONE)
    with guest.media_change(ctx, vm):
        cdrom.attach(ctx, vm, iso)  # classic Mold: one drive, a second attach replaces the ISO
    return {"virtualmachine": view(ctx, vm)}


@job_kind("detachIso", "VirtualMachine", _ISO + "DetachIsoCmd")
def finish_detach(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    vm = _vm(ctx, job)
    if vm["state"] not in ("Running", "Stopped"):
        raise errors.param_error("Please specify a VM that is either Stopped or Running.")
    identity.check_owner(ctx.store, ctx.account, ctx.owner_id(vm))
    with guest.media_change(ctx, vm):
        cdrom.detach(ctx, vm, job["params"].get("id"))
    return {"virtualmachine": view(ctx, vm)}


def _user_details(ctx: Ctx, vm: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    """M updateVirtualMachine for callers whose account type is not ADMIN: denied and
    read-only details may not be given (431) and the VM keeps the ones it has."""
    if ctx.account["type"] == identity.ADMIN:
        return given
    denied = settings.csv(ctx.store, ctx.config, "user.vm.denied.details")
    readonly = settings.csv(ctx.store, ctx.config, "user.vm.readonly.details")
    for key in given:
        if key in denied:
            raise errors.param_error(f"You're not allowed to add or edit the restricted setting: {key}")
        if key in readonly:
            raise errors.param_error(f"You're not allowed to add or edit the read-only setting: {key}")
    kept = {k: v for k, v in vm["details"].items() if k in denied or k in readonly}
    return {**given, **kept}


@api("updateVirtualMachine", [
    _VM_ID, Param("displayname"), Param("name"), Param("group"),
    Param("ostypeid", UUID, entity="ostypes"), Param("haenable", BOOLEAN),
    Param("isdynamicallyscalable", BOOLEAN), Param("details", MAP),
    Param("cleanupdetails", BOOLEAN), Param("deleteprotection", BOOLEAN),
    Param("displayvm", BOOLEAN), Param("instancename"), Param("extraconfig"), Param("customid")])
def update_vm(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    vm = ctx.get("vms", p["id"])
    for field in ("displayname", "name"):
        if field in p:
            vm[field] = p[field]
    if "group" in p:  # group="" makes and joins a group named "" (addInstanceToGroup)
        add_to_group(ctx, vm, p["group"])
    if "details" in p:  # replaces the displayable details, as Mold does
        vm["details"] = _user_details(ctx, vm, flat_map(p["details"]))
    return {"virtualmachine": view(ctx, vm)}


@api("changeServiceForVirtualMachine", [
    _VM_ID, Param("serviceofferingid", UUID, True, entity="serviceofferings"),
    Param("details", MAP)])
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
    Param("diskofferingid", UUID), Param("clusterid", UUID), Param("storageid", UUID),
    Param("displayvolume", BOOLEAN), Param("listsystemvms", BOOLEAN),
    Param("isencrypted", BOOLEAN)], listing=True, tagged=True)
def list_volumes(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    scope = identity.scope(ctx, p, "id" in p)
    recs = scope.filter(ctx.store, sorted(ctx.coll("volumes").values(),
                                          key=lambda v: (v["created"], v["name"])))
    recs = listing.where(p, recs, id="id", name="name", virtualmachineid="vmid", zoneid="zoneid",
                         state="state", type=lambda t, v: str(t).upper() in v["type"])
    recs = listing.by_tags(ctx, p, recs)
    return listing.respond(ctx, p, "volume", [volume_view(ctx, v) for v in recs])

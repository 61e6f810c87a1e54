"""VM snapshot commands (reference §4.7): createVMSnapshot (async-create), listVMSnapshot
(items under the camelCase key `vmSnapshot`), deleteVMSnapshot (async).

A snapshot record (in `data["vmsnapshots"]`): id, n (internal id), name (Mold's generated
`<instance name>_VS_<yyyyMMddHHmmss UTC>`), displayname (the `name` parameter), description,
vmid, accountid (the VM's owner), state (Creating while its job runs, then Ready or Error),
type (Disk or DiskAndMemory), current, parent (the VM's current snapshot when it was made),
created.

Sources (jeongda-young/ablestack-cloud "L"; ablecloud-team/ablestack-cloud "M" @25f556e):
- api/.../user/vmsnapshot/CreateVMSnapshotCmd.java: `name` is the display name; create()
  wraps a CloudRuntimeException as 530 "Failed to create vm snapshot: <msg>" (a
  ServerApiException: shown to every caller), an InvalidParameterValueException stays 431
- server/.../vm/snapshot/VMSnapshotManagerImpl.java allocVMSnapshot (checks in this order:
  lengths, the generated name, the VM state with its internal id, memory needs Running, a
  Ready ROOT volume, the strategy, the owner, vmsnapshot.max, other active snapshot tasks),
  listVMSnapshots (`name` = display name, exact; `keyword` over name, display name,
  description, uuid), orchestrateCreateVMSnapshot (the failure text), deleteVMSnapshot;
  VMSnapshotDaoImpl.findByName returns null, so duplicate display names are accepted
- engine/storage/.../vmsnapshot/StorageVMSnapshotStrategy.takeVMSnapshot: a Running VM's disk
  snapshot always freezes the guest first ("Could not freeze VM." + the agent's details);
  DefaultVMSnapshotStrategy takes Stopped VMs and memory snapshots (QCOW2 volumes, which
  moldsim's are) without a freeze; kvm.vmstoragesnapshot.enabled (SnapshotManager) gates the
  storage strategy
- plugins/hypervisors/kvm/.../LibvirtFreezeThawVMCommandWrapper: "Failed to frozen VM - <vm>
  due to <libvirt message>"; the libvirt message for a guest without a running qemu guest
  agent is libvirt's "Guest agent is not responding: QEMU guest agent is not connected"
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from moldsim import errors, identity, jobs, listing, settings, tagging
from moldsim.clock import stamp
from moldsim.context import Ctx
from moldsim.profiles import text
from moldsim.registry import BOOLEAN, LIST, UUID, Param, api, job_kind
from moldsim.vmview import instance_name

_CLASS = "org.apache.cloudstack.api.command.user.vmsnapshot."
NO_AGENT = "Guest agent is not responding: QEMU guest agent is not connected"
LISTED_STATES = ("Ready", "Creating", "Allocated", "Error", "Expunging", "Reverting")


def view(ctx: Ctx, snap: dict[str, Any]) -> dict[str, Any]:
    vm = ctx.coll("vms").get(snap["vmid"], {})
    zone = ctx.zone(vm.get("zoneid")) or {}
    parent = ctx.coll("vmsnapshots").get(snap.get("parent") or "")
    return {"id": snap["id"], "name": snap["name"], "displayname": snap["displayname"],
            "description": snap.get("description"), "state": snap["state"], "type": snap["type"],
            "current": snap["current"], "created": stamp(snap["created"]),
            "parent": parent["id"] if parent else None,
            "parentName": parent["displayname"] if parent else None,
            "virtualmachineid": snap["vmid"],
            "virtualmachinename": vm.get("displayname") or vm.get("name"),
            "zoneid": vm.get("zoneid"), "zonename": zone.get("name"), "hypervisor": "KVM",
            **ctx.owner(snap), "tags": tagging.tags_of(ctx, snap["id"]), "hasannotations": False}


def _generated_name(ctx: Ctx, vm: dict[str, Any]) -> str:
    """<instance name>_VS_<DateUtil.YYYYMMDD_FORMAT "yyyyMMddHHmmss" in GMT>."""
    return f"{instance_name(ctx, vm)}_VS_{time.strftime('%Y%m%d%H%M%S', time.gmtime(ctx.now))}"


def _create_failed(reason: str) -> errors.ApiError:
    return errors.server_error(errors.INTERNAL_ERROR, "Failed to create vm snapshot: " + reason)


def _alloc_checks(ctx: Ctx, vm: dict[str, Any], p: dict[str, Any]) -> None:
    """allocVMSnapshot, in Mold's order."""
    for field, label in (("name", "vsDisplayName"), ("description", "vsDescription")):
        if len(p.get(field) or "") > 255:
            raise errors.param_error("Creating VM snapshot failed due to length of VM snapshot "
                                     f"{label} should not exceed 255")
    memory = bool(p.get("snapshotmemory"))
    if vm["state"] not in ("Running", "Stopped"):
        raise errors.param_error(f"Creating vm snapshot failed due to VM:{vm['n']} is not in the "
                                 "running or Stopped state")
    if memory and vm["state"] != "Running":
        raise errors.param_error("Can not snapshot memory when VM is not in Running state")
    root_ready = any(v.get("vmid") == vm["id"] and v["type"] == "ROOT" and v["state"] == "Ready"
                     for v in ctx.coll("volumes").values())
    if not root_ready:
        raise _create_failed(f"Unable to find root volume for the user vm:{vm['id']}")
    if _strategy(ctx, vm, memory) is None:
        raise _create_failed(text(ctx.release, "no_snapshot_strategy", vm_uuid=vm["id"]))
    identity.check_owner(ctx.store, ctx.account, ctx.owner_id(vm))
    mine = [s for s in ctx.coll("vmsnapshots").values() if s["vmid"] == vm["id"]]
    limit = int(settings.number(ctx.store, ctx.config, "vmsnapshot.max"))
    if len(mine) >= limit:
        raise _create_failed(f"Creating vm snapshot failed due to a VM can just have : {limit} VM "
                             "snapshots. Please delete old ones")
    if any(s["state"] in ("Creating", "Expunging", "Reverting", "Allocated") for s in mine):
        raise _create_failed("There is other active vm snapshot tasks on the instance, please try "
                             "again later")


def _strategy(ctx: Ctx, vm: dict[str, Any], memory: bool) -> str | None:
    """StorageStrategyFactory.getVmSnapshotStrategy: "storage" (StorageVMSnapshotStrategy: a
    Running VM without memory, with kvm.vmstoragesnapshot.enabled; Mold also not when the VM
    has a DiskAndMemory snapshot), "default" (DefaultVMSnapshotStrategy: anything but a Running
    VM without memory; moldsim's volumes are QCOW2), or None."""
    if vm["state"] == "Running" and not memory:
        enabled = settings.flag(ctx.store, ctx.config, "kvm.vmstoragesnapshot.enabled")
        with_memory = ctx.release.tpm and any(
            s["vmid"] == vm["id"] and s["type"] == "DiskAndMemory" for s in ctx.coll("vmsnapshots").values())
        return "storage" if enabled and not with_memory else None
    return "default"


@api("createVMSnapshot", [
    Param("virtualmachineid", UUID, True, entity="vms", acl="operate"), Param("name"),
    Param("description"), Param("snapshotmemory", BOOLEAN), Param("quiescevm", BOOLEAN)],
    isasync=True)
def create_snapshot(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    vm = ctx.coll("vms")[p["virtualmachineid"]]
    _alloc_checks(ctx, vm, p)
    name = _generated_name(ctx, vm)
    parent = next((s["id"] for s in ctx.coll("vmsnapshots").values()
                   if s["vmid"] == vm["id"] and s["current"]), None)
    snap = {"id": ctx.new_id(), "n": ctx.store.next_seq("vmsnapshot"), "name": name,
            "displayname": p["name"] if p.get("name") is not None else name,
            "description": p.get("description"), "vmid": vm["id"], "accountid": ctx.owner_id(vm),
            "state": "Creating", "parent": parent,
            "type": "DiskAndMemory" if p.get("snapshotmemory") else "Disk", "current": False,
            "created": ctx.now}
    ctx.coll("vmsnapshots")[snap["id"]] = snap
    job = jobs.submit(ctx, "createVMSnapshot", snap["id"], p)
    return {"id": snap["id"], "jobid": job["id"]}


def _rollback_create(ctx: Ctx, job: dict[str, Any]) -> None:
    snap = ctx.coll("vmsnapshots").get(job["instanceid"])
    if snap is not None:
        snap["state"] = "Error"


def _java_object(snap: dict[str, Any]) -> str:
    """Object.toString of a VMSnapshotVO (it has no toString of its own in Mold): the class
    name and an identity hash (moldsim derives a stable one from the uuid)."""
    return f"com.cloud.vm.snapshot.VMSnapshotVO@{zlib.crc32(snap['id'].encode()) & 0x7fffffff:x}"


@job_kind("createVMSnapshot", "VmSnapshot", _CLASS + "CreateVMSnapshotCmd", _rollback_create)
def finish_create(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    snap = ctx.coll("vmsnapshots")[job["instanceid"]]
    vm = ctx.coll("vms").get(snap["vmid"])
    if vm is not None and _strategy(ctx, vm, snap["type"] == "DiskAndMemory") == "storage" \
            and not vm.get("guest_agent"):
        reason = (f"Could not freeze VM.Failed to frozen VM - {instance_name(ctx, vm)} due to "
                  f"{NO_AGENT}")
        raise errors.internal_error(text(ctx.release, "snapshot_failed", reason=reason,
                                         snapshot_object=_java_object(snap), snapshot_n=snap.get("n")))
    for other in ctx.coll("vmsnapshots").values():
        if other["vmid"] == snap["vmid"]:
            other["current"] = False
    snap.update(state="Ready", current=True)
    return {"vmsnapshot": view(ctx, snap)}


@api("listVMSnapshot", [
    Param("vmsnapshotid", UUID, entity="vmsnapshots"), Param("vmsnapshotids", LIST),
    Param("virtualmachineid", UUID), Param("name"), Param("state")], listing=True, tagged=True)
def list_snapshots(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    scope = identity.scope(ctx, p, "vmsnapshotid" in p)
    recs = scope.filter(ctx.store, sorted(ctx.coll("vmsnapshots").values(),
                                          key=lambda s: (-s["created"], -s.get("n", 0))))
    if "state" not in p:
        recs = [s for s in recs if s["state"] in LISTED_STATES]
    recs = listing.where(p, recs, vmsnapshotid="id", virtualmachineid="vmid", name="displayname",
                         state="state", vmsnapshotids=lambda ids, s: s["id"] in ids)
    recs = listing.by_tags(ctx, p, listing.by_keyword(p, recs, ("name", "displayname",
                                                                  "description", "id")))
    return listing.respond(ctx, p, "vmSnapshot", [view(ctx, s) for s in recs])


@api("deleteVMSnapshot", [Param("vmsnapshotid", UUID, True, entity="vmsnapshots", acl="operate")],
     isasync=True)
def delete_snapshot(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    return {"jobid": jobs.submit(ctx, "deleteVMSnapshot", p["vmsnapshotid"], p)["id"]}


@job_kind("deleteVMSnapshot", "VmSnapshot", _CLASS + "DeleteVMSnapshotCmd")
def finish_delete(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    snap = ctx.coll("vmsnapshots").get(job["instanceid"])
    if snap is None:
        raise errors.param_error("unable to find the vm snapshot with id " + job["instanceid"])
    if snap["state"] not in ("Ready", "Expunging", "Error"):
        shown = _java_object(snap) if ctx.release.tpm else snap.get("n")
        raise errors.param_error(f"Can't delete the vm snapshotshot {shown} due to it is not in "
                                 "Created or Error, or Expunging State")
    ctx.remove("vmsnapshots", job["instanceid"])
    return {"success": True}

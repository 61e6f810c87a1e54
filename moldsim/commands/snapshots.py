"""VM snapshot commands (reference §4.7): createVMSnapshot (async-create), listVMSnapshot
(items under the camelCase key `vmSnapshot`), deleteVMSnapshot (async).

A snapshot record (in `data["vmsnapshots"]`): id, name, displayname, description, vmid,
state (Creating while its job runs, then Ready), type, current, created.
"""

from __future__ import annotations

from typing import Any

from moldsim import errors, jobs, listing, tagging
from moldsim.clock import stamp
from moldsim.context import Ctx
from moldsim.registry import BOOLEAN, LIST, UUID, Param, api, job_kind

_CLASS = "org.apache.cloudstack.api.command.user.vmsnapshot."


def view(ctx: Ctx, snap: dict[str, Any]) -> dict[str, Any]:
    vm = ctx.coll("vms").get(snap["vmid"], {})
    zone = ctx.zone(vm.get("zoneid")) or {}
    return {"id": snap["id"], "name": snap["name"], "displayname": snap["displayname"],
            "description": snap.get("description"), "state": snap["state"], "type": snap["type"],
            "current": snap["current"], "created": stamp(snap["created"]),
            "virtualmachineid": snap["vmid"], "virtualmachinename": vm.get("name"),
            "zoneid": vm.get("zoneid"), "zonename": zone.get("name"), "hypervisor": "KVM",
            **ctx.owner(), "tags": tagging.tags_of(ctx, snap["id"])}


@api("createVMSnapshot", [
    Param("virtualmachineid", UUID, True, entity="vms"), Param("name"), Param("description"),
    Param("snapshotmemory", BOOLEAN), Param("quiescevm", BOOLEAN)], isasync=True)
def create_snapshot(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    vm = ctx.coll("vms")[p["virtualmachineid"]]
    if vm["state"] not in ("Running", "Stopped"):
        raise errors.internal_error(f"Creating VM snapshot failed due to VM:{vm['name']} is not "
                                    "in the running or Stopped state")
    if p.get("snapshotmemory") and vm["state"] != "Running":
        raise errors.param_error("Can not snapshot memory when VM is not in Running state")
    name = p.get("name") or f"{vm['name']}_VS_{int(ctx.now)}"
    if any(s["vmid"] == vm["id"] and s["name"] == name for s in ctx.coll("vmsnapshots").values()):
        raise errors.param_error(f"There is other active vm snapshot with the same name: {name}")
    for other in ctx.coll("vmsnapshots").values():
        if other["vmid"] == vm["id"]:
            other["current"] = False
    snap = {"id": ctx.new_id(), "name": name, "displayname": name,
            "description": p.get("description"), "vmid": vm["id"], "state": "Creating",
            "type": "DiskAndMemory" if p.get("snapshotmemory") else "Disk", "current": True,
            "created": ctx.now}
    ctx.coll("vmsnapshots")[snap["id"]] = snap
    job = jobs.submit(ctx, "createVMSnapshot", snap["id"], p)
    return {"id": snap["id"], "jobid": job["id"]}


def _rollback_create(ctx: Ctx, job: dict[str, Any]) -> None:
    snap = ctx.coll("vmsnapshots").get(job["instanceid"])
    if snap is not None:
        snap["state"] = "Error"


@job_kind("createVMSnapshot", "VmSnapshot", _CLASS + "CreateVMSnapshotCmd", _rollback_create)
def finish_create(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    snap = ctx.coll("vmsnapshots")[job["instanceid"]]
    snap["state"] = "Ready"
    return {"vmsnapshot": view(ctx, snap)}


@api("listVMSnapshot", [
    Param("vmsnapshotid", UUID, entity="vmsnapshots"), Param("vmsnapshotids", LIST),
    Param("virtualmachineid", UUID), Param("name"), Param("state")], listing=True, tagged=True)
def list_snapshots(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    recs = sorted(ctx.coll("vmsnapshots").values(), key=lambda s: (s["created"], s["name"]))
    recs = listing.where(p, recs, vmsnapshotid="id", virtualmachineid="vmid", name="name",
                         state="state", vmsnapshotids=lambda ids, s: s["id"] in ids)
    recs = listing.by_tags(ctx, p, listing.by_keyword(p, recs))
    return listing.respond(ctx, p, "vmSnapshot", [view(ctx, s) for s in recs])


@api("deleteVMSnapshot", [Param("vmsnapshotid", UUID, True, entity="vmsnapshots")], isasync=True)
def delete_snapshot(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    return {"jobid": jobs.submit(ctx, "deleteVMSnapshot", p["vmsnapshotid"], p)["id"]}


@job_kind("deleteVMSnapshot", "VmSnapshot", _CLASS + "DeleteVMSnapshotCmd")
def finish_delete(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    if job["instanceid"] not in ctx.coll("vmsnapshots"):
        raise errors.param_error("unable to find the vm snapshot with id " + job["instanceid"])
    del ctx.coll("vmsnapshots")[job["instanceid"]]
    tagging.drop_resource(ctx, job["instanceid"])
    return {"success": True}

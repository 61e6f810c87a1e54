"""Template commands (reference §4.6): createTemplate from a ROOT volume (async-create; the
VM must be Stopped, checked synchronously with 530; an ISO left in the drive is allowed),
listTemplates (templatefilter required), updateTemplate, updateTemplatePermissions,
deleteTemplate (async). The new template copies the VM's details (UEFI, tpmversion,
rootDiskController, keyboard ...) and is not ready until its job ends and its copy time
(the download time) has passed."""

from __future__ import annotations

from typing import Any

from moldsim import errors, images, jobs, listing, tagging
from moldsim.commands.isos import PERMISSION_PARAMS, UPDATE_FIELDS
from moldsim.context import Ctx
from moldsim.params import flat_map
from moldsim.registry import BOOLEAN, INTEGER, LIST, MAP, STRING, UUID, Param, api, job_kind

_CLASS = "org.apache.cloudstack.api.command.user.template."


@api("createTemplate", [
    Param("name", STRING, True), Param("ostypeid", UUID, True, entity="ostypes"),
    Param("volumeid", UUID, entity="volumes"), Param("snapshotid", UUID), Param("displaytext"),
    Param("ispublic", BOOLEAN), Param("isfeatured", BOOLEAN),
    Param("isdynamicallyscalable", BOOLEAN), Param("requireshvm", BOOLEAN),
    Param("passwordenabled", BOOLEAN), Param("sshkeyenabled", BOOLEAN), Param("bits", INTEGER),
    Param("details", MAP), Param("templatetag"), Param("zoneid", UUID), Param("arch"),
    Param("projectid", UUID), Param("domainid", UUID), Param("account")], isasync=True)
def create_template(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    if bool(p.get("volumeid")) == bool(p.get("snapshotid")):
        raise errors.param_error("Failed to create private template record, please specify only "
                                 "one of volume ID (volumeid) and snapshot ID (snapshotid)")
    if not p.get("volumeid"):
        raise errors.param_error("Snapshots are not emulated by moldsim; use volumeid")
    volume = ctx.coll("volumes")[p["volumeid"]]
    vm = ctx.coll("vms").get(volume.get("vmid") or "")
    if vm is not None and vm["state"] != "Stopped":
        raise errors.internal_error(
            f"Unable to create private template for volume: {volume['name']}; volume is attached "
            "to a non-stopped VM, please stop the VM first")
    source = ctx.coll("isos").get(vm["templateid"]) or ctx.coll("templates").get(vm["templateid"]) \
        if vm else None
    rec = images.new_record(ctx, "template", p, volume["zoneid"])
    rec.update(format="QCOW2", hypervisor="KVM", templatetype="USER",
               requireshvm=p.get("requireshvm", False), sshkeyenabled=p.get("sshkeyenabled", False),
               isextractable=bool(source and source.get("isextractable")),
               sourcetemplateid=source["id"] if source else None, templatetag=p.get("templatetag"),
               details={**((source or {}).get("details") or {}), **(vm or {}).get("details", {}),
                        **flat_map(p.get("details"))},
               size=volume["size"])
    ctx.coll("templates")[rec["id"]] = rec
    job = jobs.submit(ctx, "createTemplate", rec["id"], {"volumeid": volume["id"]})
    return {"id": rec["id"], "jobid": job["id"]}


def _rollback_create(ctx: Ctx, job: dict[str, Any]) -> None:
    ctx.coll("templates").pop(job["instanceid"], None)


@job_kind("createTemplate", "Template", _CLASS + "CreateTemplateCmd", _rollback_create)
def finish_create(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    rec = ctx.coll("templates")[job["instanceid"]]
    images.start_download(ctx, rec)  # copying to secondary storage takes the download time
    return {"template": images.view(ctx, rec, images.zones_of(ctx, rec)[0])}


@api("listTemplates", [
    Param("templatefilter", STRING, True), Param("id", UUID, entity="templates"),
    Param("ids", LIST), Param("name"), Param("zoneid", UUID, entity="zones"), Param("hypervisor"),
    Param("showremoved", BOOLEAN), Param("showunique", BOOLEAN), Param("details", LIST),
    Param("templatetype"), Param("arch"), Param("showicon", BOOLEAN)], listing=True, tagged=True)
def list_templates(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    filt = p["templatefilter"]
    if filt not in images.FILTERS:
        raise errors.param_error(f"Invalid template filter {filt}; valid values are "
                                 f"{', '.join(images.FILTERS)}")
    recs = images.filter_visible(ctx, list(ctx.coll("templates").values()), filt)
    recs = listing.where(p, recs, id="id", name="name", ids=lambda ids, r: r["id"] in ids)
    recs = listing.by_tags(ctx, p, listing.by_keyword(p, recs, ("name", "displaytext", "id")))
    return listing.respond(ctx, p, "template", images.rows(ctx, recs, p.get("zoneid")))


@api("updateTemplate", [
    Param("id", UUID, True, entity="templates"), Param("name"), Param("displaytext"),
    Param("ostypeid", UUID, entity="ostypes"), Param("format"), Param("passwordenabled", BOOLEAN),
    Param("sshkeyenabled", BOOLEAN), Param("isdynamicallyscalable", BOOLEAN),
    Param("requireshvm", BOOLEAN), Param("sortkey"), Param("details", MAP),
    Param("cleanupdetails", BOOLEAN), Param("arch"), Param("templatetype"),
    Param("templatetag")])
def update_template(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    rec = ctx.get("templates", p["id"])
    images.apply_update(ctx, rec, p, (*UPDATE_FIELDS, "requireshvm", "sshkeyenabled"))
    if "details" in p:
        rec["details"] = flat_map(p["details"])
    return {"template": images.view(ctx, rec, images.zones_of(ctx, rec)[0])}


@api("updateTemplatePermissions", [Param("id", UUID, True, entity="templates"), *PERMISSION_PARAMS])
def update_template_permissions(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    images.apply_permissions(ctx.get("templates", p["id"]), p)
    return {"success": True}


@api("deleteTemplate", [Param("id", UUID, True, entity="templates"), Param("zoneid", UUID),
                        Param("forced", BOOLEAN)], isasync=True)
def delete_template(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    return {"jobid": jobs.submit(ctx, "deleteTemplate", p["id"], p)["id"]}


@job_kind("deleteTemplate", "Template", _CLASS + "DeleteTemplateCmd")
def finish_delete(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    tid = job["instanceid"]
    if tid not in ctx.coll("templates"):
        raise errors.param_error("unable to find template with id " + tid)
    users = [vm for vm in ctx.coll("vms").values() if vm["templateid"] == tid
             and vm["state"] not in ("Destroyed", "Expunging")]
    if users and not job["params"].get("forced"):
        raise errors.internal_error(f"Unable to delete template {tid} as it is in use by "
                                    f"{len(users)} VM(s); use forced=true to delete anyway")
    del ctx.coll("templates")[tid]
    tagging.drop_resource(ctx, tid)
    return {"success": True}

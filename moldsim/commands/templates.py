"""Template commands (reference §4.6): createTemplate from a ROOT volume (async-create; the
VM must be Stopped, checked synchronously with 530; an ISO left in the drive is allowed),
listTemplates (templatefilter required), updateTemplate, updateTemplatePermissions,
deleteTemplate (async). The new template copies the VM's details (UEFI, tpmversion,
rootDiskController, keyboard ...) and is not ready until its job ends and its copy time
(the download time) has passed."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from moldsim import errors, identity, images, jobs, listing, settings
from moldsim.commands.isos import PERMISSION_PARAMS, UPDATE_FIELDS, permissions_view
from moldsim.context import Ctx
from moldsim.params import flat_map
from moldsim.profiles import text
from moldsim.registry import BOOLEAN, INTEGER, LIST, MAP, STRING, UUID, Param, api, job_kind
from moldsim.vmview import instance_name

_CLASS = "org.apache.cloudstack.api.command.user.template."


@api("createTemplate", [
    Param("name", STRING, True), Param("ostypeid", UUID, True, entity="ostypes"),
    Param("volumeid", UUID, entity="volumes"), Param("snapshotid", UUID), Param("displaytext"),
    Param("ispublic", BOOLEAN), Param("isfeatured", BOOLEAN),
    Param("isdynamicallyscalable", BOOLEAN), Param("requireshvm", BOOLEAN),
    Param("passwordenabled", BOOLEAN), Param("sshkeyenabled", BOOLEAN), Param("bits", INTEGER),
    Param("details", MAP), Param("templatetag"), Param("zoneid", UUID), Param("arch"),
    Param("projectid", UUID, entity="projects"), Param("domainid", UUID, entity="domains"),
    Param("account")], isasync=True)
def create_template(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """TemplateManagerImpl.createPrivateTemplateRecord (the synchronous create phase): the
    owner (finalizeOwner), a public template only for admins or with allow.public.user.templates
    for the owner (PermissionDenied, 531), featured only for admins (silently false), the
    caller's access to the volume (531), and the VM must be Stopped."""
    owner = identity.finalize_owner(ctx, p)
    identity.check_owner(ctx.store, ctx.account, owner["id"])
    is_admin = identity.is_admin(ctx.account)
    if p.get("ispublic") and not is_admin and not settings.flag(
            ctx.store, ctx.config, "allow.public.user.templates", owner["id"]):
        raise errors.permission_denied(f"Failed to create template {p['name']}, only private "
                                       "templates can be created.")
    if not is_admin:
        p["isfeatured"] = False
    if bool(p.get("volumeid")) == bool(p.get("snapshotid")):
        raise errors.param_error("Failed to create private template record, please specify only "
                                 "one of volume ID (volumeid) and snapshot ID (snapshotid)")
    if not p.get("volumeid"):
        raise errors.param_error("Snapshots are not emulated by moldsim; use volumeid")
    volume = ctx.coll("volumes")[p["volumeid"]]
    identity.check_owner(ctx.store, ctx.account, ctx.owner_id(volume))
    vm = ctx.coll("vms").get(volume.get("vmid") or "")
    if vm is not None and vm["state"] != "Stopped":
        raise errors.internal_error(
            f"Unable to create private template for volume: {volume['name']}; volume is attached "
            "to a non-stopped VM, please stop the VM first")
    source = ctx.coll("isos").get(vm["templateid"]) or ctx.coll("templates").get(vm["templateid"]) \
        if vm else None
    rec = images.new_record(ctx, "template", p, volume["zoneid"], owner["id"])
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
    """searchForTemplatesInternal(ListTemplatesCmd): `listall` only counts with filter `all`
    (the command passes listAll=false otherwise)."""
    filt = p["templatefilter"]
    if filt not in images.FILTERS:
        raise errors.param_error(f"Invalid template filter {filt}; valid values are "
                                 f"{', '.join(images.FILTERS)}")
    recs = images.search(ctx, list(ctx.coll("templates").values()), filt, p, False)
    recs = listing.where(p, recs, name="name", ids=lambda ids, r: r["id"] in ids)
    recs = listing.by_tags(ctx, p, listing.by_keyword(p, recs, ("name", "displaytext", "id")))
    return listing.respond(ctx, p, "template", images.rows(ctx, recs, p.get("zoneid"),
                                                           bool(p.get("showunique"))))


@api("updateTemplate", [
    Param("id", UUID, True, entity="templates"), Param("name"), Param("displaytext"),
    Param("ostypeid", UUID, entity="ostypes"), Param("format"), Param("passwordenabled", BOOLEAN),
    Param("sshkeyenabled", BOOLEAN), Param("isdynamicallyscalable", BOOLEAN),
    Param("requireshvm", BOOLEAN), Param("sortkey"), Param("details", MAP),
    Param("cleanupdetails", BOOLEAN), Param("arch"), Param("templatetype"),
    Param("templatetag")])
def update_template(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    rec = ctx.get("templates", p["id"])
    identity.check_template(ctx.store, ctx.account, rec, operate=True)
    images.apply_update(ctx, rec, p, (*UPDATE_FIELDS, "requireshvm", "sshkeyenabled"))
    if "details" in p:
        rec["details"] = flat_map(p["details"])
    return {"template": images.view(ctx, rec, images.zones_of(ctx, rec)[0])}


@api("updateTemplatePermissions", [Param("id", UUID, True, entity="templates"), *PERMISSION_PARAMS])
def update_template_permissions(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    images.update_permissions(ctx, ctx.get("templates", p["id"]), p, "template")
    return {"success": True}


@api("listTemplatePermissions", [Param("id", UUID, True, entity="templates")])
def list_template_permissions(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    return {"templatepermission": permissions_view(ctx, ctx.get("templates", p["id"]))}


@api("deleteTemplate", [Param("id", UUID, True, entity="templates|isos"), Param("zoneid", UUID),
                        Param("forced", BOOLEAN)], isasync=True)
def delete_template(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    return {"jobid": jobs.submit(ctx, "deleteTemplate", p["id"], p)["id"]}


@job_kind("deleteTemplate", "Template", _CLASS + "DeleteTemplateCmd")
def finish_delete(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    """TemplateManagerImpl.deleteTemplate: an image that is no template (431), the caller's
    right to operate it (the job fails 530), then, without forced=true, every VM that is not
    Expunging (Destroyed ones too) deployed from it keeps it (431, the profile's text)."""
    tid = job["instanceid"]
    if tid not in ctx.coll("templates"):
        raise errors.param_error("Please specify a valid template.")
    rec = ctx.coll("templates")[tid]
    identity.check_template(ctx.store, ctx.account, rec, operate=True)
    users = [vm for vm in ctx.coll("vms").values() if vm["templateid"] == tid
             and vm["state"] != "Expunging"]
    if users and not job["params"].get("forced"):
        raise errors.param_error(text(ctx.release, "template_in_use", template=template_str(ctx, rec),
                                      template_n=template_n(ctx, rec),
                                      vms=",".join(vm_instance_str(ctx, vm) for vm in users)))
    ctx.remove("templates", tid)
    return {"success": True}


def template_n(ctx: Ctx, rec: dict[str, Any]) -> int:
    """The image's internal id; records of older moldsim versions get one on first use."""
    if "n" not in rec:
        rec["n"] = ctx.store.next_seq("template")
    number: int = rec["n"]
    return number


def template_str(ctx: Ctx, rec: dict[str, Any]) -> str:
    """VMTemplateVO.toString: Template {"format","id","uniqueName"}, where uniqueName is the
    creating user's internal id followed by UUID.nameUUIDFromBytes(name) (an MD5 UUID)."""
    user = ctx.store.data["users"].get(rec.get("userid") or "") or {"n": 2}
    unique = f"{user['n']}{uuid.UUID(bytes=hashlib.md5(rec['name'].encode()).digest(), version=3)}"
    return "Template " + identity.reflect({"format": rec.get("format", "ISO"),
                                           "id": template_n(ctx, rec), "uniqueName": unique})


def vm_instance_str(ctx: Ctx, vm: dict[str, Any]) -> str:
    """VMInstanceVO.toString: VM instance {"id","instanceName","type","uuid"}."""
    return "VM instance " + identity.reflect({"id": vm["n"], "instanceName": instance_name(ctx, vm),
                                              "type": "User", "uuid": vm["id"]})

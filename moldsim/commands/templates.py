"""Template commands (reference §4.6): createTemplate from a ROOT volume (async-create; the
VM must be Stopped, checked synchronously with 530; an ISO left in the drive is allowed),
listTemplates (templatefilter required; one row per template and zone), updateTemplate,
updateTemplatePermissions, listTemplatePermissions, copyTemplate (async: a copy per
destination zone, each with its own download), deleteTemplate (async; `zoneid`: only that
zone's copy). The new template copies the VM's details (UEFI, tpmversion,
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
    return images.respond(ctx, p, "template", recs, images.only_ready(ctx, p, filt))


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


_ADMIN_CLASS = "org.apache.cloudstack.api.command.admin.template."


@api("copyTemplate", [
    Param("id", UUID, True, "Template ID.", entity="templates"),
    Param("destzoneid", UUID, description="ID of the zone the template is being copied to.",
          entity="zones"),
    Param("destzoneids", LIST, description="A list of IDs of the zones that the template needs to "
          "be copied to.", entity="zones"),
    Param("sourcezoneid", UUID, description="ID of the zone the template is currently hosted on.",
          entity="zones")], isasync=True, description="Copies a template from one zone to another.")
def copy_template(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """CopyTemplateCmd (BaseAsyncCmd: everything after binding fails the job) and
    TemplateManagerImpl.copyTemplate/copy (L; M @0ff4005 the same logic). The checks run when
    the job is submitted and a refusal fails it: neither or both of destzoneid/destzoneids
    (431, a ServerApiException of execute()); sourcezoneid among the destinations (431); the
    caller's right to operate the template (530); no zone (sourcezoneid's, else any) where the
    template is ready (431, the profile's text). Then each destination zone where it is ready
    already is skipped (no error), one where a copy is still downloading is waited for, and
    every other gets a new copy that downloads for `download_seconds` ("N% Downloaded",
    "Installing Template", "Download Complete"). The job ends when its copies are done
    (TemplateManagerImpl.copy waits on the copy's future), and not before `job_seconds`."""
    rec = ctx.get("templates", p["id"])
    dests = list(p.get("destzoneids") or [])
    error = _copy_refusal(ctx, rec, p, dests)
    if not dests and p.get("destzoneid"):
        dests = [p["destzoneid"]]
    waits = [ctx.config.job_seconds]
    if error is None:
        for zid in dests:
            copy = (rec.get("copies") or {}).get(zid)
            if copy is not None and images.in_progress(rec, zid, ctx.now):
                waits.append(copy["dl_start"] + copy["dl_seconds"] - ctx.now)
            elif not images.ready_in(rec, zid, ctx.now):
                waits.append(ctx.config.download_time())
    job = jobs.submit(ctx, "copyTemplate", rec["id"], {"dests": dests}, error=error,
                      seconds=max(waits))
    if error is None and job["error"] is None:
        _start_copies(ctx, rec, dests, job)
    return {"jobid": job["id"]}


def _copy_refusal(ctx: Ctx, rec: dict[str, Any], p: dict[str, Any],
                  dests: list[str]) -> errors.ApiError | None:
    if not dests and not p.get("destzoneid"):
        return errors.server_error(errors.PARAM_ERROR,
                                   "Either destzoneid or destzoneids parameters have to be specified.")
    if dests and p.get("destzoneid"):
        return errors.server_error(errors.PARAM_ERROR,
                                   "Both destzoneid and destzoneids cannot be specified at the same time.")
    source = p.get("sourcezoneid")
    if source is not None and source in (dests or [p["destzoneid"]]):
        return errors.param_error("Please specify different source and destination zones.")
    try:
        identity.check_template(ctx.store, ctx.account, rec, operate=True)
    except errors.ApiError as exc:  # PermissionDeniedException in a job: 530, same text
        return errors.ApiError(jobs.job_code(exc), exc.errortext)
    zones = [source] if source is not None else images.zones_of(ctx, rec)
    if not any(z in images.zones_of(ctx, rec) and images.ready_in(rec, z, ctx.now) for z in zones):
        return errors.param_error(text(ctx.release, "no_template_ready", template=template_str(ctx, rec),
                                       template_n=template_n(ctx, rec)))
    return None


def _start_copies(ctx: Ctx, rec: dict[str, Any], dests: list[str], job: dict[str, Any]) -> None:
    """A new copy in every destination without one; a failed copy there is replaced
    (TemplateManagerImpl.copy removes a store row that is neither downloaded nor
    downloading). A copy that is ready or downloading, and the home copy whatever its state,
    stay. A hung job's copies stay "Active" (no download state yet) for good."""
    copies = rec.setdefault("copies", {})
    for zid in dests:
        if images.has_copy(rec, zid) and (zid not in copies or images.ready_in(rec, zid, ctx.now)
                                          or images.in_progress(rec, zid, ctx.now)):
            continue
        copies[zid] = {"dl_start": None if job.get("hung") else ctx.now,
                       "dl_seconds": ctx.config.download_time(),
                       "dl_error": ctx.faults.download_failure(rec["name"]),
                       "created": ctx.now, "jobid": job["id"]}


def _made_by(rec: dict[str, Any], job: dict[str, Any]) -> list[str]:
    return [z for z, c in (rec.get("copies") or {}).items() if c.get("jobid") == job["id"]]


def _rollback_copy(ctx: Ctx, job: dict[str, Any]) -> None:
    """A failed copy job (a fail_jobs fault, or every copy failed) leaves none of its copies."""
    rec = ctx.coll("templates").get(job["instanceid"])
    if rec is None:
        return
    for zid in _made_by(rec, job):
        images.drop_zone(rec, zid)


@job_kind("copyTemplate", "Template", _ADMIN_CLASS + "CopyTemplateCmdByAdmin", _rollback_copy)
def finish_copy(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    """Copies whose download failed (a fail_downloads rule) are dropped; when no destination
    got the template the job fails 530 "Failed to copy template" (CloudRuntimeException).
    The answer is the template's row in the first destination zone
    (createTemplateResponses(view, template, destZoneIds, false).get(0))."""
    rec = ctx.coll("templates").get(job["instanceid"])
    if rec is None:
        raise errors.param_error("Unable to find template with id")
    dests = job["params"]["dests"]
    failed = [z for z in dests if not images.ready_in(rec, z, ctx.now)]
    if len(failed) >= len(dests):
        raise errors.internal_error("Failed to copy template")
    for zid in _made_by(rec, job):
        if zid in failed:
            images.drop_zone(rec, zid)
    zone = next(z for z in dests if images.has_copy(rec, z))
    return {"template": images.view(ctx, rec, zone)}


@api("deleteTemplate", [Param("id", UUID, True, entity="templates|isos"),
                        Param("zoneid", UUID, entity="zones"), Param("forced", BOOLEAN),
                        Param("isdesktop", BOOLEAN)], isasync=True)
def delete_template(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    return {"jobid": jobs.submit(ctx, "deleteTemplate", p["id"], p)["id"]}


@job_kind("deleteTemplate", "Template", _CLASS + "DeleteTemplateCmd")
def finish_delete(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    """TemplateManagerImpl.deleteTemplate (M @0ff4005, L the same order), then
    HypervisorTemplateAdapter.delete (L): without forced=true, every VM that is not Expunging
    (Destroyed ones too) deployed from the image — in `zoneid` only when it is given
    (listNonExpungedByZoneAndTemplate) — keeps it (431, the profile's text); the caller's
    right to operate it (the job fails 530); an ISO (431); a copy still downloading in the
    zones concerned (530 "Please specify a template that is not currently being
    downloaded."). Then the copies in `zoneid` (or all) go; the template goes with its last
    copy. A `zoneid` where it has no copy is a success that changes nothing."""
    tid, zone = job["instanceid"], job["params"].get("zoneid")
    rec = ctx.coll("templates").get(tid) or ctx.coll("isos").get(tid)
    if rec is None:
        raise errors.param_error("Please specify a valid template.")
    users = [vm for vm in ctx.coll("vms").values() if vm["templateid"] == tid
             and vm["state"] != "Expunging" and zone in (None, vm["zoneid"])]
    if users and not job["params"].get("forced"):
        raise errors.param_error(text(ctx.release, "template_in_use", template=template_str(ctx, rec),
                                      template_n=template_n(ctx, rec),
                                      vms=",".join(vm_instance_str(ctx, vm) for vm in users)))
    identity.check_template(ctx.store, ctx.account, rec, operate=True)
    if rec["kind"] == "iso":
        raise errors.param_error("Please specify a valid template.")
    held = images.zones_of(ctx, rec)
    doomed = [z for z in held if zone in (None, z)]
    if any(images.in_progress(rec, z, ctx.now) for z in doomed):
        raise errors.internal_error("Please specify a template that is not currently being downloaded.")
    if zone is not None and doomed and len(held) > 1:
        images.drop_zone(rec, zone)
    elif doomed:
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

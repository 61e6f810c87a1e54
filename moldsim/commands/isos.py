"""ISO commands (reference §4.2): registerIso (sync, list response), getUploadParamsForIso
(sync; the upload itself is moldsim.uploads), listIsos, updateIso, updateIsoPermissions,
deleteIso (async). Views and readiness live in `moldsim.images`."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from moldsim import cdrom, errors, identity, images, jobs, listing, settings, uploads
from moldsim.context import Ctx
from moldsim.profiles import text
from moldsim.registry import BOOLEAN, LIST, MAP, STRING, UUID, Param, api, job_kind

_ISO_PATH = re.compile(r"\.(iso|iso\.gz|iso\.bz2|iso\.zip|metalink)$", re.IGNORECASE)


def check_url(url: str, fmt: str = "iso", pattern: re.Pattern[str] = _ISO_PATH) -> None:
    """http/https only, path ending in an extension of the format, else 431."""
    parsed = urlparse(url.strip())
    if parsed.scheme.lower() not in ("http", "https") or not parsed.netloc:
        raise errors.param_error(f"Unsupported scheme for url: {url}")
    if not pattern.search(parsed.path):
        raise errors.param_error(f"Please specify a valid URL. URL:{url} is an invalid for the format {fmt}")


def none_os_type(ctx: Ctx) -> str:
    return next(o["id"] for o in ctx.coll("ostypes").values() if o["name"] == "None")


REGISTER_PARAMS = [
    Param("name", STRING, True, "the name of the ISO"),
    Param("url", STRING, True, "the URL to where the ISO is currently being hosted"),
    Param("zoneid", UUID, True, "the ID of the zone (-1 for all zones)", entity="zones"),
    Param("displaytext", STRING), Param("bootable", BOOLEAN), Param("ostypeid", UUID, entity="ostypes"),
    Param("ispublic", BOOLEAN), Param("isfeatured", BOOLEAN), Param("isextractable", BOOLEAN),
    Param("isdynamicallyscalable", BOOLEAN), Param("passwordenabled", BOOLEAN),
    Param("checksum", STRING), Param("directdownload", BOOLEAN), Param("arch", STRING),
    Param("kvdoenable", BOOLEAN), Param("imagestoreuuid", STRING),
    Param("domainid", UUID, entity="domains"), Param("account", STRING),
    Param("projectid", UUID, entity="projects"),
]


def owner_rules(ctx: Ctx, p: dict[str, Any], owner: dict[str, Any], all_zones: bool) -> None:
    """TemplateAdapterBase.prepare, after the OS type: "All zones" needs a root-admin owner
    (isRootAdmin(templateOwner); 431 with the profile's text); a public image needs a root-admin
    owner or allow.public.user.templates for the owner (431); `isfeatured` is silently false
    unless the owner is root admin."""
    root_owner = identity.is_root_admin(owner)
    if all_zones and not root_owner:
        raise errors.param_error(text(ctx.release, "cross_zone_owner"))
    if not root_owner and p.get("ispublic") and not settings.flag(
            ctx.store, ctx.config, "allow.public.user.templates", owner["id"]):
        raise errors.param_error("Only private templates/ISO can be created.")
    if not root_owner:
        p["isfeatured"] = False


@api("registerIso", REGISTER_PARAMS, description="Registers an existing ISO into the CloudStack Cloud.")
def register_iso(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    owner = identity.finalize_owner(ctx, p)
    identity.check_owner(ctx.store, ctx.account, owner["id"])
    bootable = p.get("bootable", True)
    if bootable and not p.get("ostypeid"):
        raise errors.param_error("Please pass a valid GuestOS Id")
    zone_id = None if p["zoneid"] == "-1" else p["zoneid"]
    owner_rules(ctx, p, owner, zone_id is None)
    check_url(p["url"])
    rec = images.new_record(ctx, "iso", p, zone_id, owner["id"])
    rec["bootable"] = bootable
    if not bootable:
        rec["ostypeid"] = none_os_type(ctx)
    images.start_download(ctx, rec)
    ctx.coll("isos")[rec["id"]] = rec
    items = [images.view(ctx, rec, z, initial=True) for z in images.zones_of(ctx, rec)]
    return {"count": len(items), "iso": items}


# AbstractGetUploadParamsCmd (name, format, zoneid required; checksum, owner) and
# GetUploadParamsForIsoCmd's own (displaytext required, bootable, featured, public,
# extractable, ostypeid), per the notes (item 16) and the command class read in the index.
UPLOAD_PARAMS = [
    Param("name", STRING, True, "the name of the volume/template/iso"),
    Param("format", STRING, True, "the format for the volume/template/iso"),
    Param("zoneid", UUID, True, "the ID of the zone the volume/template/iso is to be hosted on",
          entity="zones"),
    Param("displaytext", STRING, True, "the display text of the ISO"),
    Param("bootable", BOOLEAN), Param("isfeatured", BOOLEAN), Param("ispublic", BOOLEAN),
    Param("isextractable", BOOLEAN), Param("ostypeid", UUID, entity="ostypes"),
    Param("checksum", STRING), Param("account", STRING), Param("domainid", UUID, entity="domains"),
    Param("projectid", UUID, entity="projects"),
]


@api("getUploadParamsForIso", UPLOAD_PARAMS, response_name="postuploadisoresponse",
     description="upload an existing ISO into the CloudStack cloud.")
def get_upload_params_for_iso(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """GetUploadParamsForIsoCmd.validateRequest (zoneid <= 0: 431 "Invalid zoneid", a
    ServerApiException), then the registration rules of registerIso (owner, GuestOS for a
    bootable ISO, public/featured), then TemplateManagerImpl.registerPostUploadInternal: the
    ISO exists at once, not ready, waiting for its upload (moldsim.uploads.issue)."""
    if p["zoneid"] == "-1":
        raise errors.server_error(errors.PARAM_ERROR, "Invalid zoneid")
    owner = identity.finalize_owner(ctx, p)
    identity.check_owner(ctx.store, ctx.account, owner["id"])
    bootable = p.get("bootable", True)
    if bootable and not p.get("ostypeid"):
        raise errors.param_error("Please pass a valid GuestOS Id")
    owner_rules(ctx, p, owner, False)
    rec = images.new_record(ctx, "iso", p, p["zoneid"], owner["id"])
    rec["bootable"] = bootable
    if not bootable:
        rec["ostypeid"] = none_os_type(ctx)
    ticket = uploads.issue(ctx, rec)
    ctx.coll("isos")[rec["id"]] = rec
    return {"getuploadparams": ticket}


@api("listIsos", [
    Param("id", UUID, entity="isos"), Param("name"), Param("isofilter"), Param("zoneid", UUID, entity="zones"),
    Param("bootable", BOOLEAN), Param("isready", BOOLEAN), Param("ispublic", BOOLEAN),
    Param("hypervisor"), Param("showremoved", BOOLEAN), Param("showunique", BOOLEAN),
    Param("showicon", BOOLEAN), Param("arch")], listing=True, tagged=True)
def list_isos(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    filt = p.get("isofilter", "selfexecutable")
    recs = images.search(ctx, list(ctx.coll("isos").values()), filt, p, bool(p.get("listall")))
    recs = listing.where(p, recs, name="name", bootable="bootable", ispublic="ispublic")
    recs = listing.by_tags(ctx, p, listing.by_keyword(p, recs, ("name", "id", "displaytext")))
    return images.respond(ctx, p, "iso", recs, images.only_ready(ctx, p, filt))


UPDATE_FIELDS = ("name", "displaytext", "ostypeid", "bootable", "passwordenabled",
                 "isdynamicallyscalable", "arch")


@api("updateIso", [
    Param("id", UUID, True, entity="isos"), Param("name"), Param("displaytext"),
    Param("ostypeid", UUID, entity="ostypes"), Param("bootable", BOOLEAN), Param("format"),
    Param("passwordenabled", BOOLEAN), Param("sshkeyenabled", BOOLEAN),
    Param("isdynamicallyscalable", BOOLEAN), Param("sortkey"), Param("isrouting", BOOLEAN),
    Param("details", MAP), Param("cleanupdetails", BOOLEAN), Param("arch"),
    Param("requireshvm", BOOLEAN)])
def update_iso(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    rec = ctx.get("isos", p["id"])
    identity.check_template(ctx.store, ctx.account, rec, operate=True)
    images.apply_update(ctx, rec, p, UPDATE_FIELDS)
    return {"iso": images.view(ctx, rec, images.zones_of(ctx, rec)[0])}


# updateIsoPermissions / updateTemplatePermissions, after `id`.
PERMISSION_PARAMS = [
    Param("ispublic", BOOLEAN), Param("isfeatured", BOOLEAN), Param("isextractable", BOOLEAN),
    Param("op"), Param("accounts", LIST), Param("projectids", LIST, entity="projects"),
]


@api("updateIsoPermissions", [Param("id", UUID, True, entity="isos"), *PERMISSION_PARAMS])
def update_iso_permissions(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    images.update_permissions(ctx, ctx.get("isos", p["id"]), p, "iso")
    return {"success": True}


@api("listIsoPermissions", [Param("id", UUID, True, entity="isos")])
def list_iso_permissions(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    return {"templatepermission": permissions_view(ctx, ctx.get("isos", p["id"]))}


def permissions_view(ctx: Ctx, rec: dict[str, Any]) -> dict[str, Any]:
    """TemplateManagerImpl.listTemplatePermissions and ApiResponseHelper.createTemplatePermissionsResponse
    (L; M @0ff4005 the same): a private image needs the caller's access (531); `account` is the
    names of the accounts with a launch permission, then, for a private image, its owner's;
    project accounts among them become `projectids` (project uuids); empty lists are left out;
    `domainid` (the owner's domain) only in the root admin's (Full) view."""
    if not rec["ispublic"]:
        identity.check_template(ctx.store, ctx.account, rec, operate=False)
    owner = identity.account(ctx.store, ctx.owner_id(rec)) or ctx.store.admin_account
    holders = list(rec.get("launch_accounts") or [])
    if not rec["ispublic"]:
        holders.append(owner["id"])
    names, projects = [], []
    for account_id in holders:
        acct = identity.account(ctx.store, account_id)
        if acct is None:
            continue
        proj = identity.project_by_account(ctx.store, account_id)
        if proj is not None:
            projects.append(proj["id"])
        else:
            names.append(acct["name"])
    out: dict[str, Any] = {"id": rec["id"], "ispublic": rec["ispublic"]}
    if ctx.root_admin:
        out["domainid"] = owner["domainid"]
    if names:
        out["account"] = names
    if projects:
        out["projectids"] = projects
    return out


@api("deleteIso", [Param("id", UUID, True, entity="isos|templates"),
                   Param("zoneid", UUID, entity="zones")], isasync=True)
def delete_iso(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    job = jobs.submit(ctx, "deleteIso", p["id"], p)
    return {"jobid": job["id"]}


@job_kind("deleteIso", "Iso", "org.apache.cloudstack.api.command.user.iso.DeleteIsoCmd")
def finish_delete_iso(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    """TemplateManagerImpl.deleteIso: an image that is no ISO (431), the caller's right to
    operate it (PermissionDenied: the job fails 530), then templateIsDeleteable: any VM that
    is not removed, whatever its state (Destroyed too), with the ISO in its drive (431); then
    HypervisorTemplateAdapter.delete: a store copy DOWNLOAD_IN_PROGRESS (530)."""
    iso_id = job["instanceid"]
    if iso_id not in ctx.coll("isos"):
        raise errors.param_error("Please specify a valid iso.")
    identity.check_template(ctx.store, ctx.account, ctx.coll("isos")[iso_id], operate=True)
    if any(cdrom.holds(vm, iso_id) for vm in ctx.coll("vms").values()):  # in any drive
        raise errors.param_error("Unable to delete iso, as it's used by other vms")
    if images.downloading(ctx.coll("isos")[iso_id], ctx.now):
        raise errors.internal_error("Please specify a template that is not currently being downloaded.")
    uploads.discard(ctx.coll("isos")[iso_id])
    ctx.remove("isos", iso_id)
    return {"success": True}

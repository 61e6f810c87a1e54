"""ISO commands (reference §4.2): registerIso (sync, list response), listIsos, updateIso,
updateIsoPermissions, deleteIso (async). Views and readiness live in `moldsim.images`."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from moldsim import errors, images, jobs, listing, tagging
from moldsim.context import Ctx
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
    Param("domainid", UUID, entity="domains"), Param("account", STRING), Param("projectid", UUID),
]


@api("registerIso", REGISTER_PARAMS, description="Registers an existing ISO into the CloudStack Cloud.")
def register_iso(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    bootable = p.get("bootable", True)
    if bootable and not p.get("ostypeid"):
        raise errors.param_error("Please pass a valid GuestOS Id")
    check_url(p["url"])
    zone_id = None if p["zoneid"] == "-1" else p["zoneid"]
    rec = images.new_record(ctx, "iso", p, zone_id)
    rec["bootable"] = bootable
    if not bootable:
        rec["ostypeid"] = none_os_type(ctx)
    images.start_download(ctx, rec)
    ctx.coll("isos")[rec["id"]] = rec
    items = [images.view(ctx, rec, z, initial=True) for z in images.zones_of(ctx, rec)]
    return {"count": len(items), "iso": items}


@api("listIsos", [
    Param("id", UUID, entity="isos"), Param("name"), Param("isofilter"), Param("zoneid", UUID, entity="zones"),
    Param("bootable", BOOLEAN), Param("isready", BOOLEAN), Param("ispublic", BOOLEAN),
    Param("hypervisor"), Param("showremoved", BOOLEAN), Param("showunique", BOOLEAN),
    Param("showicon", BOOLEAN), Param("arch")], listing=True, tagged=True)
def list_isos(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    recs = images.filter_visible(ctx, list(ctx.coll("isos").values()), p.get("isofilter", "selfexecutable"))
    recs = listing.where(p, recs, id="id", name="name", bootable="bootable", ispublic="ispublic",
                         isready=lambda v, r: not v or images.is_ready(r, ctx.now))
    recs = listing.by_tags(ctx, p, listing.by_keyword(p, recs))
    return listing.respond(ctx, p, "iso", images.rows(ctx, recs, p.get("zoneid")))


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
    images.apply_update(ctx, rec, p, UPDATE_FIELDS)
    return {"iso": images.view(ctx, rec, images.zones_of(ctx, rec)[0])}


# updateIsoPermissions / updateTemplatePermissions, after `id`.
PERMISSION_PARAMS = [
    Param("ispublic", BOOLEAN), Param("isfeatured", BOOLEAN), Param("isextractable", BOOLEAN),
    Param("op"), Param("accounts", LIST), Param("projectids", LIST),
]


@api("updateIsoPermissions", [Param("id", UUID, True, entity="isos"), *PERMISSION_PARAMS])
def update_iso_permissions(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    images.apply_permissions(ctx.get("isos", p["id"]), p)
    return {"success": True}


@api("deleteIso", [Param("id", UUID, True, entity="isos"), Param("zoneid", UUID, entity="zones")],
     isasync=True)
def delete_iso(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    job = jobs.submit(ctx, "deleteIso", p["id"], p)
    return {"jobid": job["id"]}


@job_kind("deleteIso", "Iso", "org.apache.cloudstack.api.command.user.iso.DeleteIsoCmd")
def finish_delete_iso(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    iso_id = job["instanceid"]
    if iso_id not in ctx.coll("isos"):
        raise errors.param_error("Please specify a valid iso.")
    if any(vm.get("isoid") == iso_id for vm in ctx.coll("vms").values()):
        raise errors.param_error("Unable to delete iso, as it's used by other vms")
    del ctx.coll("isos")[iso_id]
    tagging.drop_resource(ctx, iso_id)
    return {"success": True}

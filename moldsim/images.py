"""ISOs and templates: readiness over time, the TemplateResponse view, and image filters.

An image record (in `data["isos"]` or `data["templates"]`):
  id, n (internal id), kind ("iso"|"template"), accountid (owner), userid (who made it),
  launch_accounts (account ids with a launch permission), name, displaytext, url,
  zoneid (None = cross-zone),
  ostypeid, ispublic, isfeatured, isextractable, isdynamicallyscalable, passwordenabled,
  checksum, directdownload, arch, bits, created,
  dl_start (when the download/copy started; None while a createTemplate job still runs),
  dl_seconds (how long it takes), dl_error (error status text: never becomes ready),
  size (bytes once ready);
  ISO only: bootable, upload (an ISO made by getUploadParamsForIso: see moldsim.uploads);
  template only: format, hypervisor, templatetype, requireshvm, sshkeyenabled,
  sourcetemplateid, details (dict), templatetag,
  copies (optional: zone id -> {dl_start, dl_seconds, dl_error, created, jobid}, the copies
  copyTemplate made in other zones, in the order they were made), home_removed (optional:
  True once deleteTemplate zoneid= removed the copy in `zoneid` while copies remain).
Each zone an image is in has its own copy (Mold: one template_store_ref per image store) and
so its own readiness: the record's own dl_* fields are the copy in `zoneid` (the "home"
copy), `copies` those in other zones. listTemplates answers one row per (image, zone).
Readiness is derived from the clock, never stored: the first 80 % of the time shows
"N% Downloaded", the rest "Installing ISO"/"Installing Template", then ready. An uploaded ISO
starts that clock when its file has arrived; before, it has no status (uploads.state).
"""

from __future__ import annotations

from typing import Any

from moldsim import errors, identity, listing, settings, tagging, uploads
from moldsim.clock import stamp
from moldsim.context import Ctx
from moldsim.profiles import text

FILTERS = ("featured", "self", "selfexecutable", "sharedexecutable", "executable", "community", "all")
_DONE_TEXT = {"iso": "Successfully Installed", "template": "Download Complete"}
_INSTALL_TEXT = {"iso": "Installing ISO", "template": "Installing Template"}
IMAGE_SIZE = {"iso": 5_368_709_120, "template": 53_687_091_200}


def readiness(rec: dict[str, Any], now: float, initial: bool = False) -> tuple[bool, str | None, int]:
    """(isready, status text or None, download percent) at `now`; `initial` = the instant of
    creation."""
    if uploads.waiting(rec):
        return False, None, 0
    if rec["dl_start"] is None:  # no store row with a download state yet: the image's own
        # state (L TemplateJoinDaoImpl.getTemplateStatus: not DOWNLOADED, not in progress, not
        # bypassed, no error -> template.getTemplateState(), vm_template.state "Active")
        return False, "Active", 0
    dur = float(rec["dl_seconds"])
    if initial:
        frac = 0.0
    elif dur <= 0 or now >= rec["dl_start"] + dur - 1e-9:  # due: no float residue
        frac = 1.0
    else:
        frac = max(0.0, (now - rec["dl_start"]) / dur)
    pct = min(100, int(frac / 0.8 * 100))
    if rec.get("dl_error") and frac >= 0.5:
        return False, str(rec["dl_error"]), pct
    if frac >= 1.0:
        return True, _DONE_TEXT[rec["kind"]], 100
    if frac >= 0.8:
        return False, _INSTALL_TEXT[rec["kind"]], 100
    return False, f"{pct}% Downloaded", pct


def is_ready(rec: dict[str, Any], now: float) -> bool:
    """Ready in at least one zone."""
    if rec["zoneid"] is None:
        return readiness(rec, now)[0]
    return any(readiness(copy_state(rec, z), now)[0] for z in _zones(rec, None))


def _zones(rec: dict[str, Any], all_zones: list[str] | None) -> list[str]:
    if rec["zoneid"] is None:
        return all_zones or []
    copies = list(rec.get("copies") or {})
    home = [] if rec.get("home_removed") or rec["zoneid"] in copies else [rec["zoneid"]]
    return [*home, *copies]


def zones_of(ctx: Ctx, rec: dict[str, Any]) -> list[str]:
    """Zones the image has a copy (a row) in: the home zone, then the zones copyTemplate
    copied it to (cross-zone images: every zone)."""
    return _zones(rec, ctx.store.zone_ids() if rec["zoneid"] is None else None)


def copy_state(rec: dict[str, Any], zone_id: str) -> dict[str, Any]:
    """The download state of the image's copy in `zone_id`: the record itself for the home
    copy (and cross-zone images), else the copy's entry (with the record's kind)."""
    copy = (rec.get("copies") or {}).get(zone_id)
    if copy is None:
        return rec
    return {"kind": rec["kind"], **copy}


def has_copy(rec: dict[str, Any], zone_id: str) -> bool:
    """The image has a copy (ready or not) in `zone_id` (cross-zone images: in every zone)."""
    return rec["zoneid"] is None or zone_id in _zones(rec, None)


def ready_in(rec: dict[str, Any], zone_id: str, now: float) -> bool:
    return has_copy(rec, zone_id) and readiness(copy_state(rec, zone_id), now)[0]


def in_progress(rec: dict[str, Any], zone_id: str, now: float) -> bool:
    """The copy in `zone_id` is still being downloaded (template_store_ref download state
    DOWNLOAD_IN_PROGRESS: a copyTemplate copy that is neither ready nor failed)."""
    copy = (rec.get("copies") or {}).get(zone_id)
    if copy is None or copy.get("dl_start") is None:
        return copy is not None
    ready, status, _ = readiness(copy_state(rec, zone_id), now)
    return not ready and status != copy.get("dl_error")


def drop_zone(rec: dict[str, Any], zone_id: str) -> bool:
    """Forget the image's copy in `zone_id`; True when no copy is left (the image goes)."""
    copies = rec.get("copies") or {}
    if zone_id in copies:
        del copies[zone_id]
    elif zone_id == rec["zoneid"]:
        rec["home_removed"] = True
    return not _zones(rec, None)


def _download_state(ready: bool, status: str | None, rec: dict[str, Any], now: float) -> str:
    waiting = uploads.store_state(rec, now)
    if waiting is not None:
        return waiting
    if ready:
        return "DOWNLOADED"
    if rec.get("dl_error") and status == rec["dl_error"]:
        return "DOWNLOAD_ERROR"
    return "DOWNLOAD_IN_PROGRESS" if rec["dl_start"] is not None else "NOT_DOWNLOADED"


def downloading(rec: dict[str, Any], now: float) -> bool:
    """The image's home copy is DOWNLOAD_IN_PROGRESS (a URL still fetched or installed; not an
    upload waiting for its file, not a failed download)."""
    ready, status, _ = readiness(rec, now)
    return _download_state(ready, status, rec, now) == "DOWNLOAD_IN_PROGRESS"


def view(ctx: Ctx, rec: dict[str, Any], zone_id: str, initial: bool = False) -> dict[str, Any]:
    """TemplateResponse for one zone row of an ISO or template: the flags are the image's,
    the readiness, status, download details and `created` (TemplateJoinVO.getCreatedOnStore)
    those of its copy in that zone."""
    state = copy_state(rec, zone_id)
    ready, status, pct = readiness(state, ctx.now, initial)
    ostype = ctx.coll("ostypes").get(rec["ostypeid"], {})
    zone = ctx.zone(zone_id) or {}
    out: dict[str, Any] = {
        "id": rec["id"], "name": rec["name"], "displaytext": rec["displaytext"],
        "ispublic": rec["ispublic"], "isfeatured": rec["isfeatured"],
        "isextractable": rec["isextractable"], "isready": ready, "status": status,
        "created": stamp(state.get("created") or rec["created"]), "ostypeid": rec["ostypeid"],
        "ostypename": ostype.get("name"), "accountid": ctx.owner_id(rec), **ctx.owner(rec),
        "zoneid": zone_id, "zonename": zone.get("name"), "crossZones": rec["zoneid"] is None,
        "passwordenabled": rec["passwordenabled"],
        "isdynamicallyscalable": rec["isdynamicallyscalable"],
        "directdownload": rec["directdownload"], "arch": rec["arch"], "bits": rec["bits"],
        "downloaddetails": [{"datastore": "moldsim-secondary", "downloadPercent": str(pct),
                             "downloadState": _download_state(ready, status, state, ctx.now)}],
        "tags": tagging.tags_of(ctx, rec["id"]), "hasannotations": False,
    }
    if rec.get("url"):
        out["url"] = rec["url"]
    if rec.get("checksum"):
        out["checksum"] = rec["checksum"]
    if ready:
        out["size"] = rec["size"]
    if rec["kind"] == "iso":
        out["bootable"] = rec["bootable"]
    else:
        _template_fields(rec, out, ready)
    return out


def _template_fields(rec: dict[str, Any], out: dict[str, Any], ready: bool) -> None:
    out.update(
        format=rec["format"], hypervisor=rec["hypervisor"], templatetype=rec["templatetype"],
        requireshvm=rec["requireshvm"], sshkeyenabled=rec["sshkeyenabled"],
        details=dict(rec["details"]), deployasis=False, kvdoenable=False,
    )
    if ready:
        out["physicalsize"] = rec["size"]
    for key in ("sourcetemplateid", "templatetag"):
        if rec.get(key):
            out[key] = rec[key]


def search(ctx: Ctx, records: list[dict[str, Any]], filt: str, p: dict[str, Any],
           listall: bool) -> list[dict[str, Any]]:
    """QueryManagerImpl.searchForTemplatesInternal / searchForIsosInternal for the caller:
    the filter over ownership, launch permissions and public/featured flags (`id` given: that
    image only, after an access check) and the project criterion. Readiness
    (ListIsosCmd/ListTemplatesCmd.listInReadyState) is a criterion of each (image, zone) row
    (templateChecks: state = Ready): `respond(..., ready_only=only_ready(...))`."""
    caller = ctx.account
    if filt not in FILTERS:
        raise errors.param_error("Please specify a valid template filter.")
    if filt == "all":
        if caller["type"] == identity.NORMAL:
            raise errors.param_error("Filter all can be specified by admin only")
        listall = True
    scope = identity.scope(ctx, p, "id" in p, listall)
    if "id" in p:
        rec = next((r for r in records if r["id"] == p["id"]), None)
        if rec is None:  # a removed image: findByIdIncludingRemoved finds it, the search not
            return []
        _check_listed(ctx, rec)
        chosen = [rec]
    else:
        chosen = [r for r in records if _matches(ctx, r, filt, scope)]
        chosen = _share_restrictions(ctx, chosen)
    return chosen


def _check_listed(ctx: Ctx, rec: dict[str, Any]) -> None:
    """A listed `id`: domain admins need the private image's domain, others its access."""
    caller = ctx.account
    if not rec["ispublic"] and caller["type"] == identity.DOMAIN_ADMIN:
        owner = identity.account(ctx.store, ctx.owner_id(rec))
        dom = identity.domain(ctx.store, owner["domainid"]) if owner else None
        if dom is not None:
            identity.check_domain(ctx.store, caller, dom)
    elif rec["ispublic"] or caller["type"] != identity.ADMIN:
        identity.check_template(ctx.store, caller, rec, operate=False)


def _matches(ctx: Ctx, rec: dict[str, Any], filt: str, scope: identity.Scope) -> bool:
    store, caller = ctx.store, ctx.account
    owner = identity.account(store, ctx.owner_id(rec)) or ctx.store.admin_account
    if scope.projects == "skip" and owner["type"] == identity.PROJECT:
        return False
    if scope.projects == "only" and owner["type"] != identity.PROJECT:
        return False
    permitted = scope.permitted
    if filt in ("featured", "community"):
        return bool(rec["ispublic"]) and bool(rec["isfeatured"]) == (filt == "featured")
    if filt in ("self", "selfexecutable"):
        if caller["type"] in (identity.DOMAIN_ADMIN, identity.RESOURCE_DOMAIN_ADMIN):
            first = identity.account(store, next(iter(permitted))) if permitted else None
            base = identity.domain(store, first["domainid"] if first else identity.root_domain_id(store))
            odom = identity.domain(store, owner["domainid"])
            if base is None or odom is None or not str(odom["path"]).startswith(base["path"]):
                return False
        return not permitted or owner["id"] in permitted
    if filt in ("sharedexecutable", "shared"):
        return bool(permitted) and any(a in permitted for a in rec.get("launch_accounts") or [])
    if filt == "executable":
        return bool(rec["ispublic"]) or bool(permitted and owner["id"] in permitted)
    if caller["type"] == identity.ADMIN:  # all, root admin
        return True
    if rec["ispublic"]:
        return True
    if scope.projects == "skip":
        odom, cdom = identity.domain(store, owner["domainid"]), identity.domain(store, caller["domainid"])
        return bool(odom and cdom and str(odom["path"]).startswith(cdom["path"]))
    return bool(permitted) and (owner["id"] in permitted or
                                any(a in permitted for a in rec.get("launch_accounts") or []))


def _share_restrictions(ctx: Ctx, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """applyPublicTemplateSharingRestrictions: for callers who are not root admin, images of
    other domains whose share.public.templates.with.other.domains is false are not listed."""
    caller = ctx.account
    if caller["type"] == identity.ADMIN:
        return records
    out = []
    for rec in records:
        owner = identity.account(ctx.store, ctx.owner_id(rec))
        dom = owner["domainid"] if owner else None
        if dom is None or dom == caller["domainid"] or settings.flag(
                ctx.store, ctx.config, "share.public.templates.with.other.domains", domain_id=dom):
            out.append(rec)
    return out


def only_ready(ctx: Ctx, p: dict[str, Any], filt: str) -> bool:
    """listInReadyState: featured, selfexecutable, sharedexecutable and community list only
    ready images, executable too for an admin naming account and domainid; otherwise
    `isready` decides."""
    specific = identity.is_admin(ctx.account) and p.get("account") is not None and p.get("domainid") is not None
    if filt in ("featured", "selfexecutable", "sharedexecutable", "community") or \
            (filt == "executable" and specific):
        return True
    return bool(p.get("isready"))


def respond(ctx: Ctx, p: dict[str, Any], key: str, records: list[dict[str, Any]],
            ready_only: bool) -> dict[str, Any]:
    """The list answer of listIsos/listTemplates: the (image, zone) rows, of which only the
    requested page is rendered."""
    found = pairs(ctx, records, p.get("zoneid"), bool(p.get("showunique")), ready_only)
    return listing.respond(ctx, p, key, found, lambda pair: view(ctx, *pair))


def pairs(ctx: Ctx, records: list[dict[str, Any]], zone_id: str | None,
          unique: bool = False, ready_only: bool = False) -> list[tuple[dict[str, Any], str]]:
    """The (image, zone) pairs a list answers (the distinct temp_zone_pair of template_view),
    restricted to `zone_id` when given; `zoneid=-1` is zone -1 and matches nothing
    (ParamProcessWorker maps "-1" to -1L; QueryManagerImpl.templateChecks). `ready_only`:
    only the pairs whose copy is ready. `unique` (showunique=true): one per image.
    Linear in pairs (plus the sort of the images)."""
    out = []
    all_zones = ctx.store.zone_ids()
    for rec in sorted(records, key=lambda r: (r["created"], r["id"])):
        for zid in _zones(rec, all_zones):
            if zone_id not in (None, zid):
                continue
            if ready_only and not ready_in(rec, zid, ctx.now):
                continue
            out.append((rec, zid))
            if unique:
                break
    return out


def new_record(ctx: Ctx, kind: str, p: dict[str, Any], zone_id: str | None,
               owner_id: str | None = None) -> dict[str, Any]:
    """Fields common to registered ISOs and created templates (download not started)."""
    name = p["name"]
    return {
        "id": ctx.new_id(), "n": ctx.store.next_seq("template"), "kind": kind, "name": name,
        "accountid": owner_id or ctx.account["id"], "userid": ctx.user["id"], "launch_accounts": [],
        "displaytext": p.get("displaytext") or name, "url": p.get("url"), "zoneid": zone_id,
        "ostypeid": p.get("ostypeid"), "ispublic": p.get("ispublic", False),
        "isfeatured": p.get("isfeatured", False), "isextractable": p.get("isextractable", False),
        "isdynamicallyscalable": p.get("isdynamicallyscalable", False),
        "passwordenabled": p.get("passwordenabled", False), "checksum": p.get("checksum"),
        "directdownload": p.get("directdownload", False), "arch": p.get("arch") or "x86_64",
        "bits": p.get("bits", 64), "created": ctx.now, "dl_start": None,
        "dl_seconds": ctx.config.download_time(), "dl_error": ctx.faults.download_failure(name),
        "size": IMAGE_SIZE[kind],
    }


def start_download(ctx: Ctx, rec: dict[str, Any]) -> None:
    rec["dl_start"] = ctx.now
    rec["dl_seconds"] = ctx.config.download_time()


def apply_update(ctx: Ctx, rec: dict[str, Any], p: dict[str, Any], fields: tuple[str, ...]) -> None:
    """updateIso/updateTemplate: copy the given fields; `details` replaces the map."""
    for f in fields:
        if f in p:
            rec[f] = p[f]
    if "ostypeid" in p:
        ctx.get("ostypes", p["ostypeid"], "ostypeid")


def update_permissions(ctx: Ctx, rec: dict[str, Any], p: dict[str, Any], media: str) -> None:
    """TemplateManagerImpl.updateTemplateOrIsoPermissions (L, and M @0ff4005), in Mold's order
    (all synchronous, 431 unless said): `accounts` with `projectids` (the command's
    getAccountNames); each project the caller may not use (the profile's text); the caller
    must be able to operate the image (531); a project's image: L refuses it, M only checks
    the user's access (then only admins get further); a non-admin may make it public only
    with allow.public.user.templates for the owner; `op` must be add/remove/reset with
    accounts; only the owner or an admin changes anything. The flags are then written (and
    stay written if what follows fails: that update is not in the launch permissions'
    transaction); `add` grants to accounts of the owner's domain (not to the caller), an
    unknown one fails the whole grant; `remove` ignores unknown names; `reset` makes the
    image private and not featured and drops every launch permission."""
    caller, store = ctx.account, ctx.store
    if p.get("accounts") is not None and p.get("projectids") is not None:
        raise errors.param_error("Accounts and projectIds can't be specified together")
    names: list[str] | None = None if p.get("accounts") is None else list(p["accounts"])
    if p.get("projectids") is not None:
        names = []
        for project_id in p["projectids"]:
            proj = store.data["projects"].get(project_id)
            if proj is None:
                raise errors.param_error(f"Unable to find project by id {project_id}")
            if not identity.can_access_project_account(store, caller, proj["accountid"]):
                raise errors.param_error(text(ctx.release, "project_access",
                                              account=identity.account_str(caller),
                                              project_uuid=proj["id"], project_n=proj["n"]))
            names.append(identity.account(store, proj["accountid"])["name"])  # type: ignore[index]
    identity.check_template(store, caller, rec, operate=True)
    owner = identity.account(store, ctx.owner_id(rec)) or store.admin_account
    if owner["type"] == identity.PROJECT and "project_template_share" in ctx.release.texts:
        raise errors.param_error(text(ctx.release, "project_template_share", name=rec["name"]))
    is_admin = identity.is_admin(caller)
    if not is_admin and p.get("ispublic") and not settings.flag(
            store, ctx.config, "allow.public.user.templates", owner["id"]):
        raise errors.param_error(f"Only private {media}s can be created.")
    op = p.get("op")
    verb = op.lower() if op is not None else None
    if names is not None and verb not in ("add", "remove", "reset"):
        raise errors.param_error(
            "Invalid operation on accounts, the operation must be either 'add' or 'remove' in order "
            f"to modify launch permissions.  Given operation is: '{op}'")
    if caller["id"] != owner["id"] and not is_admin:
        raise errors.param_error(f"Unable to grant permission to account {caller['name']} as it is "
                                 "neither admin nor owner or the template")
    if "isextractable" in p and rec["kind"] != "iso" and caller["id"] != owner["id"] and not is_admin:
        raise errors.param_error("Only ROOT admins and template owners are allowed to modify "
                                 "isExtractable attribute.")
    for f in ("ispublic", "isfeatured", "isextractable"):
        if f in p:
            rec[f] = p[f]
    if verb in ("add", "remove") and names is None:
        raise errors.param_error(f"Operation {op} requires accounts or projectIds to be passed in")
    launch = rec.setdefault("launch_accounts", [])
    domain_id = owner["domainid"]
    if verb == "add":
        granted = []
        for name in names or []:
            target = identity.find_account(store, name, domain_id)
            if target is None:
                dom = identity.domain(store, domain_id) or {"id": domain_id}
                raise errors.param_error(
                    f"Unable to grant a launch permission to account {name} in domain id="
                    f"{dom['id']}, account not found.  No permissions updated, please verify the "
                    "account names and retry.")
            if target["id"] != caller["id"] and target["id"] not in launch + granted:
                granted.append(target["id"])
        launch.extend(granted)
    elif verb == "remove":
        gone = {t["id"] for t in (identity.find_account(store, n, domain_id) for n in names or [])
                if t is not None}
        launch[:] = [a for a in launch if a not in gone]
    elif verb == "reset":
        rec.update(ispublic=False, isfeatured=False)
        launch.clear()

"""ISOs and templates: readiness over time, the TemplateResponse view, and image filters.

An image record (in `data["isos"]` or `data["templates"]`):
  id, kind ("iso"|"template"), name, displaytext, url, zoneid (None = cross-zone),
  ostypeid, ispublic, isfeatured, isextractable, isdynamicallyscalable, passwordenabled,
  checksum, directdownload, arch, bits, created,
  dl_start (when the download/copy started; None while a createTemplate job still runs),
  dl_seconds (how long it takes), dl_error (error status text: never becomes ready),
  size (bytes once ready);
  ISO only: bootable; template only: format, hypervisor, templatetype, requireshvm,
  sshkeyenabled, sourcetemplateid, details (dict), templatetag.
Readiness is derived from the clock, never stored: the first 80 % of the time shows
"N% Downloaded", the rest "Installing ISO"/"Installing Template", then ready.
"""

from __future__ import annotations

from typing import Any

from moldsim import errors, tagging
from moldsim.clock import stamp
from moldsim.context import Ctx

FILTERS = ("featured", "self", "selfexecutable", "sharedexecutable", "executable", "community", "all")
_DONE_TEXT = {"iso": "Successfully Installed", "template": "Download Complete"}
_INSTALL_TEXT = {"iso": "Installing ISO", "template": "Installing Template"}
IMAGE_SIZE = {"iso": 5_368_709_120, "template": 53_687_091_200}


def readiness(rec: dict[str, Any], now: float, initial: bool = False) -> tuple[bool, str, int]:
    """(isready, status text, download percent) at `now`; `initial` = the instant of creation."""
    if rec["dl_start"] is None:
        return False, "Processing", 0
    dur = float(rec["dl_seconds"])
    if initial:
        frac = 0.0
    elif dur <= 0:
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
    return readiness(rec, now)[0]


def zones_of(ctx: Ctx, rec: dict[str, Any]) -> list[str]:
    """Zones the image has a row in (cross-zone images: every zone)."""
    return ctx.store.zone_ids() if rec["zoneid"] is None else [rec["zoneid"]]


def _download_state(ready: bool, status: str, rec: dict[str, Any]) -> str:
    if ready:
        return "DOWNLOADED"
    if rec.get("dl_error") and status == rec["dl_error"]:
        return "DOWNLOAD_ERROR"
    return "DOWNLOAD_IN_PROGRESS" if rec["dl_start"] is not None else "NOT_DOWNLOADED"


def view(ctx: Ctx, rec: dict[str, Any], zone_id: str, initial: bool = False) -> dict[str, Any]:
    """TemplateResponse for one zone row of an ISO or template."""
    ready, status, pct = readiness(rec, ctx.now, initial)
    ostype = ctx.coll("ostypes").get(rec["ostypeid"], {})
    zone = ctx.zone(zone_id) or {}
    acct = ctx.store.account
    out: dict[str, Any] = {
        "id": rec["id"], "name": rec["name"], "displaytext": rec["displaytext"],
        "ispublic": rec["ispublic"], "isfeatured": rec["isfeatured"],
        "isextractable": rec["isextractable"], "isready": ready, "status": status,
        "created": stamp(rec["created"]), "ostypeid": rec["ostypeid"],
        "ostypename": ostype.get("name"), "accountid": acct["accountid"], **ctx.owner(),
        "zoneid": zone_id, "zonename": zone.get("name"), "crossZones": rec["zoneid"] is None,
        "passwordenabled": rec["passwordenabled"],
        "isdynamicallyscalable": rec["isdynamicallyscalable"],
        "directdownload": rec["directdownload"], "arch": rec["arch"], "bits": rec["bits"],
        "downloaddetails": [{"datastore": "moldsim-secondary", "downloadPercent": str(pct),
                             "downloadState": _download_state(ready, status, rec)}],
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


def filter_visible(ctx: Ctx, records: list[dict[str, Any]], filt: str) -> list[dict[str, Any]]:
    """Apply an isofilter/templatefilter; all images belong to the caller (the admin)."""
    if filt not in FILTERS:
        raise errors.param_error("Please specify a valid template filter.")
    if filt in ("self", "all"):
        return records
    ready = [r for r in records if is_ready(r, ctx.now)]
    if filt == "featured":
        return [r for r in ready if r["isfeatured"]]
    if filt == "community":
        return [r for r in ready if r["ispublic"] and not r["isfeatured"]]
    if filt == "sharedexecutable":
        return []  # nothing is shared with the admin by another account
    return ready  # selfexecutable, executable


def rows(ctx: Ctx, records: list[dict[str, Any]], zone_id: str | None) -> list[dict[str, Any]]:
    """One response row per (image, zone), restricted to `zone_id` when given."""
    out = []
    for rec in sorted(records, key=lambda r: (r["created"], r["id"])):
        for zid in zones_of(ctx, rec):
            if zone_id in (None, "-1", zid):
                out.append(view(ctx, rec, zid))
    return out


def new_record(ctx: Ctx, kind: str, p: dict[str, Any], zone_id: str | None) -> dict[str, Any]:
    """Fields common to registered ISOs and created templates (download not started)."""
    name = p["name"]
    return {
        "id": ctx.new_id(), "kind": kind, "name": name,
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


def apply_permissions(rec: dict[str, Any], p: dict[str, Any]) -> None:
    for f in ("ispublic", "isfeatured", "isextractable"):
        if f in p:
            rec[f] = p[f]

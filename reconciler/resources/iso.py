"""ISOs: the Windows installer and the VirtIO driver disc, registered by URL.

Rules (ATTRS): ``url``, ``zone`` and ``checksum`` are registration-only and force
a replacement: the new ISO is registered first (so an image is never missing), and the old
one is deleted by an action of its own once no VM holds it in a drive; ``name``, ``display_text``, ``os_type``, ``bootable``
change with updateIso; ``public``, ``featured``, ``extractable`` with
updateIsoPermissions. A non-bootable ISO's OS type is always "None" in Mold.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, StrictBool, StrictStr

from reconciler.address import Address
from reconciler.diagnostics import Diagnostics
from reconciler.plan import Action, Operation
from reconciler.resources.base import (
    Attr,
    Desired,
    Draft,
    ExecContext,
    LiveObject,
    OnChange,
    Outcome,
    ResourceSpec,
    casefold_equal,
    tags_of,
)
from reconciler.resources.common import (
    RESEND,
    Check,
    delete_job,
    named,
    plan_generic,
    row_state,
    send,
    tag_resource,
    wait_image_ready,
)

KIND = "iso"
SECTION = "isos"
RESOURCE_TYPE = "ISO"
LIST_COMMAND = "listIsos"  # the list refresh reads (named in errors about its answers)
ALL_ZONES = "all"


class Spec(ResourceSpec):
    """One entry of `isos:`."""

    name: StrictStr | None = Field(None, description="Name in Mold (default: the key)")
    display_text: StrictStr | None = Field(None, description="Description (default: the name)")
    url: StrictStr = Field(description="http(s) URL of the .iso file")
    zone: StrictStr | None = Field(None, description="Zone name or id, or 'all' for every zone")
    os_type: StrictStr | None = Field(None, description="OS type name or id (bootable ISOs)")
    bootable: StrictBool = True
    public: StrictBool = False
    featured: StrictBool = False
    extractable: StrictBool = False
    checksum: StrictStr | None = Field(None, description="{ALGO}hex checksum of the file")


ATTRS: tuple[Attr, ...] = (
    Attr("project", OnChange.REPLACE, optional=True),
    Attr("name", OnChange.IN_PLACE, "updateIso"),
    Attr("display_text", OnChange.IN_PLACE, "updateIso"),
    Attr("url", OnChange.REPLACE, replace_reason="Mold cannot change an ISO's URL"),
    Attr("zone", OnChange.REPLACE, equal=casefold_equal),
    Attr("os_type", OnChange.IN_PLACE, "updateIso"),
    Attr("bootable", OnChange.IN_PLACE, "updateIso"),
    Attr("public", OnChange.IN_PLACE, "updateIsoPermissions"),
    Attr("featured", OnChange.IN_PLACE, "updateIsoPermissions"),
    Attr("extractable", OnChange.IN_PLACE, "updateIsoPermissions"),
    Attr("checksum", OnChange.REPLACE, optional=True, equal=casefold_equal),
)


def references(spec: Spec) -> list[tuple[str, Address]]:
    return []


def validate(decl: Any, doc: Any, diags: Diagnostics) -> None:
    """Spec-level rules (no Mold needed)."""
    if decl.spec.zone is None and doc.defaults.zone is None:
        diags.error("no zone: set `zone:` here or `defaults.zone`", decl.pos,
                    address=str(decl.address))
    if decl.spec.bootable and decl.spec.os_type is None:
        diags.error("a bootable ISO needs `os_type` (e.g. \"Windows PV\")", decl.pos,
                    address=str(decl.address))


def desired(decl: Any, ctx: Any, diags: Diagnostics) -> Desired | None:
    spec: Spec = decl.spec
    address = str(decl.address)
    name = spec.name or decl.address.key
    zone_value = spec.zone or ctx.defaults.zone
    attrs: dict[str, Any] = {
        "name": name,
        "display_text": spec.display_text or name,
        "url": spec.url,
        "bootable": spec.bootable,
        "public": spec.public,
        "featured": spec.featured,
        "extractable": spec.extractable,
        "checksum": spec.checksum,
    }
    inputs: dict[str, Any] = {}
    ok = True
    if zone_value is None:
        diags.error("no zone: set `zone:` here or `defaults.zone`", decl.pos, address=address)
        ok = False
    elif zone_value.lower() == ALL_ZONES:
        attrs["zone"], inputs["zoneid"] = ALL_ZONES, "-1"
    else:
        zone = ctx.catalog.resolve("zone", zone_value, decl.at("zone"), diags, address)
        ok = ok and zone is not None
        if zone:
            attrs["zone"], inputs["zoneid"] = zone.name, zone.id
    if spec.bootable:
        ok = _resolve_os_type(spec, decl, ctx, diags, attrs, inputs) and ok
    else:
        attrs["os_type"] = "None"
    return Desired(decl.address, attrs, inputs) if ok else None


def _resolve_os_type(spec: Spec, decl: Any, ctx: Any, diags: Diagnostics,
                     attrs: dict[str, Any], inputs: dict[str, Any]) -> bool:
    if spec.os_type is None:
        diags.error("a bootable ISO needs `os_type` (e.g. \"Windows PV\")", decl.pos,
                    address=str(decl.address))
        return False
    os_type = ctx.catalog.resolve("os_type", spec.os_type, decl.at("os_type"), diags,
                                  str(decl.address))
    if os_type is None:
        return False
    attrs["os_type"], inputs["ostypeid"] = os_type.name, os_type.id
    return True


def observe(rows: list[dict[str, Any]], catalog: Any) -> LiveObject:
    """One ISO from its listIsos rows (a cross-zone ISO has one row per zone)."""
    row = rows[0]
    zone = ALL_ZONES if row.get("crossZones") else row.get("zonename") or catalog.name_of(
        "zone", row.get("zoneid"))
    attrs = {
        "project": row.get("project"),
        "name": row.get("name"),
        "display_text": row.get("displaytext"),
        "url": row.get("url"),
        "zone": zone,
        "os_type": row.get("ostypename") or catalog.name_of("os_type", row.get("ostypeid")),
        "bootable": bool(row.get("bootable", True)),
        "public": bool(row.get("ispublic", False)),
        "featured": bool(row.get("isfeatured", False)),
        "extractable": bool(row.get("isextractable", False)),
        "checksum": row.get("checksum") or None,
    }
    ready = all(r.get("isready") for r in rows)
    return LiveObject(KIND, str(row["id"]), str(row.get("name", "")), attrs, tags_of(row),
                      "ready" if ready else str(row.get("status") or "not ready"))


def refresh(client: Any, catalog: Any) -> list[LiveObject]:
    rows = client.list_all("listIsos", "iso", {"isofilter": "self", "listall": True})
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row["id"]), []).append(row)
    return [observe(group, catalog) for group in grouped.values()]


def plan_changes(desired: Desired, live: LiveObject | None, ctx: Any) -> list[Draft]:
    return _retire_replaced(_plan(desired, live, ctx), live)


def _retire_replaced(drafts: list[Draft], live: LiveObject | None) -> list[Draft]:
    """After a replacement's registration, the old ISO's deletion: a step of its own, so the
    VMs holding the old ISO can eject it in between (and insert the new one afterwards)."""
    if live is None or not any(d.operation is Operation.REPLACE for d in drafts):
        return drafts
    return drafts + [Draft(Operation.DELETE, f"delete the replaced ISO {live.id} (once no VM "
                           "holds it in a drive)", before=dict(live.attrs),
                           inputs={"id": live.id, "orphan": True})]


def _plan(desired: Desired, live: LiveObject | None, ctx: Any) -> list[Draft]:
    if live is None or not _featured_refused(desired, live, ctx):
        return plan_generic(desired, live, ATTRS)
    ctx.warn(desired, "featured", "Mold keeps this ISO non-featured although mwin asked for "
             "featured: true (only root admins may feature images; non-admin keys get "
             "featured=false). Not planning it again; set featured: false to silence this.")
    view = Desired(desired.address, {**desired.attrs, "featured": False}, desired.inputs)
    drafts = plan_generic(view, live, ATTRS)
    for draft in drafts:  # state keeps "asked for featured", so the refusal stays recognised
        draft.after = {**(draft.after or {}), "featured": True}
    return drafts


def _featured_refused(desired: Desired, live: LiveObject, ctx: Any) -> bool:
    """mwin already asked for featured (state says so) and Mold still says no."""
    asked = ctx.state_attrs(str(desired.address)).get("featured") is True
    return bool(desired.attrs["featured"]) and not live.attrs["featured"] and asked


# --- execution -------------------------------------------------------------------------

def execute(action: Action, ctx: ExecContext) -> Outcome:
    op = action.operation
    if op is Operation.CREATE:
        return _register(action, ctx)
    if op is Operation.REPLACE:  # the old ISO is deleted by the DELETE step planned after it
        return _register(action, ctx)
    if op is Operation.UPDATE:
        _update(action, ctx)
        return Outcome(action.mold_id, action.after)
    if op is Operation.DELETE:
        delete_job(ctx, "deleteIso", {"id": action.mold_id}, _gone(action.mold_id, ctx))
        return Outcome(removed=True)
    raise ValueError(f"iso cannot {op}")  # pragma: no cover - the planner never emits it


def _register(action: Action, ctx: ExecContext) -> Outcome:
    after = action.after or {}
    params = {
        "name": after["name"],
        "displaytext": after["display_text"],
        "url": after["url"],
        "zoneid": action.inputs["zoneid"],
        "bootable": after["bootable"],
        "ostypeid": action.inputs.get("ostypeid") if after["bootable"] else None,
        "ispublic": after["public"],
        "isfeatured": after["featured"],
        "isextractable": after["extractable"],
        "checksum": after.get("checksum"),
    }
    # A lost answer is looked for by name. zoneid=-1 ("all zones") cannot filter a list: Mold
    # takes it as zone id -1 and lists nothing (QueryManagerImpl.templateChecks).
    lookup = {"isofilter": "self", "name": params["name"]}
    if params["zoneid"] != "-1":
        lookup["zoneid"] = params["zoneid"]
    result = send(ctx, "registerIso", params,
                  named(ctx, "listIsos", "iso", lookup, after["name"], action.address,
                        exclude=[action.mold_id]))
    iso_id = str(result["id"] if result.get("_found") else result["iso"][0]["id"])
    ctx.progress(f"registered as {iso_id}; tagging")
    tag_resource(ctx, RESOURCE_TYPE, iso_id, action.address)
    registered = {} if result.get("_found") else result["iso"][0]
    if after["featured"] and not registered.get("isfeatured"):
        # registerIso makes an ISO featured only for a root admin owner and ignores the flag
        # otherwise (TemplateAdapterBase.prepare); the owner may set it afterwards
        # (TemplateManagerImpl.updateTemplateOrIsoPermissions has no admin check for it).
        send(ctx, "updateIsoPermissions", {"id": iso_id, "isfeatured": True}, RESEND)
    _wait_ready(iso_id, ctx)
    return Outcome(iso_id, after)


def _gone(iso_id: str | None, ctx: ExecContext) -> Check:
    return row_state(ctx, "listIsos", "iso", {"isofilter": "self", "id": iso_id},
                     lambda row: row is None)


def _wait_ready(iso_id: str, ctx: ExecContext) -> None:
    wait_image_ready(ctx, "listIsos", "iso", {"isofilter": "self", "id": iso_id},
                     f"ISO {iso_id} download", _is_progress)


_PROGRESS = re.compile(r"^(\d+(\.\d+)?% downloaded|installing.*|processing|downloading|"
                       r"bypassed secondary storage|successfully installed|download complete|"
                       r"not ready|)$")


def _is_progress(status: str) -> bool:
    """Mold's status texts while an image is on its way; anything else is its error text."""
    return bool(_PROGRESS.match(status.strip().lower()))


def _update(action: Action, ctx: ExecContext) -> None:
    after = action.after or {}
    commands = action.inputs.get("commands", [])
    if "updateIso" in commands:
        send(ctx, "updateIso", {
            "id": action.mold_id,
            "name": after["name"],
            "displaytext": after["display_text"],
            "bootable": after["bootable"],
            "ostypeid": action.inputs.get("ostypeid") if after["bootable"] else None,
        }, RESEND)
    if "updateIsoPermissions" in commands:
        send(ctx, "updateIsoPermissions", {
            "id": action.mold_id,
            "ispublic": after["public"],
            "isfeatured": after["featured"],
            "isextractable": after["extractable"],
        }, RESEND)

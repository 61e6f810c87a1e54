"""ISOs: the Windows installer and the VirtIO driver disc, registered by URL.

Rules (ATTRS): ``url``, ``zone``, ``checksum`` and ``project`` are registration-only and
force a replacement: the new ISO is registered first (so an image is never missing), and the
old one is deleted by an action of its own once no VM holds it in a drive; ``name``,
``display_text``, ``os_type``, ``bootable`` change with updateIso; ``public``, ``featured``,
``extractable`` with updateIsoPermissions. A non-bootable ISO's OS type is always "None" in
Mold. registerIso makes an ISO featured only for a root-admin owner
(TemplateAdapterBase.prepare); the owner may feature it afterwards, so mwin does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field, StrictBool, StrictStr

from reconciler.diagnostics import Diagnostics
from reconciler.model import (
    Address,
    Catalog,
    Declared,
    Desired,
    Draft,
    LiveObject,
    Outcome,
    ResourceSpec,
    tags_of,
)
from reconciler.mold.api import MoldApi
from reconciler.plan import Action, Operation
from reconciler.resources.base import (
    ActionInputs,
    Attr,
    ExecContext,
    OnChange,
    api_params,
    as_bool,
    casefold_equal,
    read_attrs,
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
from reconciler.resources.contract import PlanningContext, SpecView

KIND = "iso"
SECTION = "isos"
RESOURCE_TYPE = "ISO"
LIST_COMMAND = "listIsos"
ALL_ZONES = "all"


class Spec(ResourceSpec):
    """One entry of `isos:`."""

    name: StrictStr | None = Field(None, description="Name in Mold (default: the key)")
    display_text: StrictStr | None = Field(None, description="Description (default: the name)")
    url: StrictStr = Field(description="http(s) URL of the .iso file")
    zone: StrictStr | None = Field(None, description="Zone name or id, or 'all' for every zone")
    os_type: StrictStr | None = Field(None, description="OS type name or id (bootable ISOs)")
    bootable: StrictBool = Field(True, description="Can a VM boot from it (the installer: "
                                                   "yes; drivers: no)")
    public: StrictBool = Field(False, description="Visible to every account")
    featured: StrictBool = Field(False, description="Listed as featured")
    extractable: StrictBool = Field(False, description="May be downloaded from Mold")
    checksum: StrictStr | None = Field(None, description="{ALGO}hex checksum of the file")


def _bootable(value: Any) -> bool:
    return True if value is None else bool(value)


def _checksum(value: Any) -> Any:
    return value or None


ATTRS: tuple[Attr, ...] = (
    Attr("project", OnChange.REPLACE, optional=True, field="project"),
    Attr("name", OnChange.IN_PLACE, "updateIso", param="name", field="name"),
    Attr("display_text", OnChange.IN_PLACE, "updateIso", param="displaytext",
         field="displaytext"),
    Attr("url", OnChange.REPLACE, param="url", field="url",
         replace_reason="Mold cannot change an ISO's URL"),
    Attr("zone", OnChange.REPLACE, equal=casefold_equal),  # zoneid in inputs
    Attr("os_type", OnChange.IN_PLACE, "updateIso"),  # ostypeid in inputs
    Attr("bootable", OnChange.IN_PLACE, "updateIso", param="bootable", field="bootable",
         read=_bootable),
    Attr("public", OnChange.IN_PLACE, "updateIsoPermissions", param="ispublic",
         field="ispublic", read=as_bool),
    Attr("featured", OnChange.IN_PLACE, "updateIsoPermissions", param="isfeatured",
         field="isfeatured", read=as_bool),
    Attr("extractable", OnChange.IN_PLACE, "updateIsoPermissions", param="isextractable",
         field="isextractable", read=as_bool),
    Attr("checksum", OnChange.REPLACE, optional=True, equal=casefold_equal, param="checksum",
         field="checksum", read=_checksum),
)


class Inputs(ActionInputs):
    zoneid: str | None = None  # "-1": every zone
    ostypeid: str | None = None


def references(spec: Spec) -> list[tuple[str, Address]]:
    return []


def validate(decl: Declared, doc: SpecView, diags: Diagnostics) -> None:
    """Spec-level rules (no Mold needed)."""
    if decl.spec.zone is None and doc.defaults.zone is None:
        diags.error("no zone: set `zone:` here or `defaults.zone`", decl.pos,
                    address=str(decl.address))
    if decl.spec.bootable and decl.spec.os_type is None:
        diags.error("a bootable ISO needs `os_type` (e.g. \"Windows PV\")", decl.pos,
                    address=str(decl.address))


def desired(decl: Declared, ctx: PlanningContext, diags: Diagnostics) -> Desired | None:
    spec: Spec = decl.spec
    address = str(decl.address)
    name = spec.name or decl.address.key
    attrs: dict[str, Any] = {
        "name": name, "display_text": spec.display_text or name, "url": spec.url,
        "bootable": spec.bootable, "public": spec.public, "featured": spec.featured,
        "extractable": spec.extractable, "checksum": spec.checksum, "os_type": "None"}
    inputs: dict[str, Any] = {}
    found = True  # every problem is reported, not only the first
    zone_value = str(spec.zone or ctx.defaults.zone)  # validate: one of them is set
    if zone_value.lower() == ALL_ZONES:
        attrs["zone"], inputs["zoneid"] = ALL_ZONES, "-1"
    elif zone := ctx.catalog.resolve("zone", zone_value, decl.at("zone"), diags, address):
        attrs["zone"], inputs["zoneid"] = zone.name, zone.id
    else:
        found = False
    if spec.bootable:
        os_type = ctx.catalog.resolve("os_type", str(spec.os_type), decl.at("os_type"), diags,
                                      address)
        if os_type is None:
            return None
        attrs["os_type"], inputs["ostypeid"] = os_type.name, os_type.id
    return Desired(decl.address, attrs, inputs) if found else None


def observe(raw: Mapping[str, Any], catalog: Catalog) -> LiveObject:
    """One ISO from its first listIsos row; ``rows`` holds all of them (a cross-zone ISO has
    one per zone)."""
    rows = raw.get("rows") or [raw]
    zone = ALL_ZONES if raw.get("crossZones") else raw.get("zonename") or catalog.name_of(
        "zone", raw.get("zoneid"))
    os_type = raw.get("ostypename") or catalog.name_of("os_type", raw.get("ostypeid"))
    attrs = {**read_attrs(ATTRS, raw), "zone": zone, "os_type": os_type}
    ready = all(r.get("isready") for r in rows)
    return LiveObject(KIND, str(raw["id"]), str(raw.get("name", "")), attrs, tags_of(raw),
                      "ready" if ready else str(raw.get("status") or "not ready"))


def refresh(client: MoldApi, catalog: Catalog) -> list[LiveObject]:
    rows = client.list_all("listIsos", "iso", {"isofilter": "self", "listall": True})
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row["id"]), []).append(row)
    return [observe({**group[0], "rows": group}, catalog) for group in grouped.values()]


def holds(live: LiveObject) -> list[str]:
    return []


def release_steps(desired: Desired | None, live: LiveObject, held: str, freed: str | None,
                  planned: list[Draft], ctx: PlanningContext) -> list[Draft]:
    return []


def tables(spec: Spec) -> list[str]:
    return []


def plan_changes(desired: Desired, live: LiveObject | None, ctx: PlanningContext
                 ) -> list[Draft]:
    drafts = plan_generic(desired, live, ATTRS)
    if live is None or not any(d.operation is Operation.REPLACE for d in drafts):
        return drafts
    # After a replacement's registration, the old ISO's deletion: a step of its own, so the
    # VMs holding the old ISO can eject it in between (and insert the new one afterwards).
    return drafts + [Draft(Operation.DELETE, f"delete the replaced ISO {live.id} (once no VM "
                           "holds it in a drive)", before=dict(live.attrs),
                           inputs={"id": live.id, "orphan": True})]


# --- execution -------------------------------------------------------------------------

def execute(action: Action, ctx: ExecContext) -> Outcome:
    inputs = Inputs.model_validate(action.inputs)
    op = action.operation
    if op in (Operation.CREATE, Operation.REPLACE):  # a replaced ISO goes in its own DELETE
        return _register(action, inputs, ctx)
    if op is Operation.UPDATE:
        _update(action, inputs, ctx)
        return Outcome(action.mold_id, action.after)
    if op is Operation.DELETE:
        delete_job(ctx, "deleteIso", {"id": action.mold_id}, _gone(action.mold_id, ctx))
        return Outcome(removed=True)
    raise ValueError(f"iso cannot {op}")  # pragma: no cover - the planner never emits it


def _register(action: Action, inputs: Inputs, ctx: ExecContext) -> Outcome:
    after = action.after or {}
    params = {**api_params(ATTRS, after), "zoneid": inputs.zoneid,
              "ostypeid": inputs.ostypeid if after["bootable"] else None}
    # A lost answer is looked for by name. zoneid=-1 ("all zones") cannot filter a list: Mold
    # takes it as zone id -1 and lists nothing (QueryManagerImpl.templateChecks).
    lookup = {"isofilter": "self", "name": after["name"]}
    if inputs.zoneid != "-1":
        lookup["zoneid"] = str(inputs.zoneid)
    result = send(ctx, "registerIso", params,
                  named(ctx, "listIsos", "iso", lookup, after["name"], action.address,
                        exclude=[action.mold_id]))
    iso_id = str(result["id"] if result.get("_found") else result["iso"][0]["id"])
    ctx.progress(f"registered as {iso_id}; tagging it {action.address}")
    tag_resource(ctx, RESOURCE_TYPE, iso_id, action.address)
    registered = {} if result.get("_found") else result["iso"][0]
    if after["featured"] and not registered.get("isfeatured"):
        send(ctx, "updateIsoPermissions", {"id": iso_id, "isfeatured": True}, RESEND)
    wait_image_ready(ctx, "listIsos", "iso", {"isofilter": "self", "id": iso_id},
                     f"ISO {iso_id} download", _is_progress)
    return Outcome(iso_id, after)


def _gone(iso_id: str | None, ctx: ExecContext) -> Check:
    return row_state(ctx, "listIsos", "iso", {"isofilter": "self", "id": iso_id},
                     lambda row: row is None)


_PROGRESS = re.compile(r"^(\d+(\.\d+)?% downloaded|installing.*|processing|downloading|"
                       r"bypassed secondary storage|successfully installed|download complete|"
                       r"not ready|)$")


def _is_progress(status: str) -> bool:
    """Mold's status texts while an image is on its way; anything else is its error text."""
    return bool(_PROGRESS.match(status.strip().lower()))


def _update(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    after = action.after or {}
    if "updateIso" in inputs.commands:
        send(ctx, "updateIso", {
            "id": action.mold_id, **api_params(ATTRS, after, "updateIso"),
            "ostypeid": inputs.ostypeid if after["bootable"] else None}, RESEND)
    if "updateIsoPermissions" in inputs.commands:
        send(ctx, "updateIsoPermissions", {
            "id": action.mold_id, **api_params(ATTRS, after, "updateIsoPermissions")}, RESEND)

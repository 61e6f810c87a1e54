"""Isolated guest networks for preparing VMs.

Rules (ATTRS): ``name``, ``display_text`` and ``network_domain`` change in place
(updateNetwork, an async job); ``zone``, ``offering``, ``gateway``, ``netmask``
and ``external_id`` are creation-only and force a replacement (deleted first:
Mold refuses to delete a network while VMs use it, so their deletion or
replacement comes before). ``offering`` defaults to the zone's default
isolated offering; ``gateway``/``netmask``/``network_domain`` default to what
Mold picks and are then not compared.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictStr

from reconciler.address import Address
from reconciler.diagnostics import Diagnostics
from reconciler.errors import JobFailed, MwinError
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
    delete_job,
    named,
    plan_generic,
    row_state,
    send,
    send_job,
    tag_resource,
)

KIND = "network"
SECTION = "networks"
RESOURCE_TYPE = "Network"
LIST_COMMAND = "listNetworks"


class Spec(ResourceSpec):
    """One entry of `networks:`."""

    name: StrictStr | None = Field(None, description="Name in Mold (default: the key)")
    display_text: StrictStr | None = Field(None, description="Description (default: the name)")
    zone: StrictStr | None = None
    offering: StrictStr | None = Field(None, description="Network offering name or id "
                                                         "(default: the default isolated one)")
    gateway: StrictStr | None = None
    netmask: StrictStr | None = None
    network_domain: StrictStr | None = None
    external_id: StrictStr | None = None


ATTRS: tuple[Attr, ...] = (
    Attr("project", OnChange.REPLACE, optional=True),
    Attr("name", OnChange.IN_PLACE, "updateNetwork"),
    Attr("display_text", OnChange.IN_PLACE, "updateNetwork"),
    Attr("network_domain", OnChange.IN_PLACE, "updateNetwork", optional=True),
    Attr("zone", OnChange.REPLACE, equal=casefold_equal),
    Attr("offering", OnChange.REPLACE),
    Attr("gateway", OnChange.REPLACE, optional=True),
    Attr("netmask", OnChange.REPLACE, optional=True),
    Attr("external_id", OnChange.REPLACE, optional=True),
)


def references(spec: Spec) -> list[tuple[str, Address]]:
    return []


def validate(decl: Any, doc: Any, diags: Diagnostics) -> None:
    """Spec-level rules (no Mold needed)."""
    if decl.spec.zone is None and doc.defaults.zone is None:
        diags.error("no zone: set `zone:` here or `defaults.zone`", decl.pos,
                    address=str(decl.address))


def default_offering(catalog: Any) -> Any:
    """The zone's default isolated offering: Isolated, not for VPC, Enabled; isdefault and a
    source-NAT name preferred."""
    rows = [e for e in catalog.entries("network_offering")
            if str(e.raw.get("guestiptype", "")).lower() == "isolated" and not e.raw.get("forvpc")]
    rows.sort(key=lambda e: (not e.raw.get("isdefault"), "sourcenat" not in e.name.lower(), e.name))
    return rows[0] if rows else None


def desired(decl: Any, ctx: Any, diags: Diagnostics) -> Desired | None:
    spec: Spec = decl.spec
    address = str(decl.address)
    name = spec.name or decl.address.key
    zone_value = spec.zone or ctx.defaults.zone
    if zone_value is None:
        diags.error("no zone: set `zone:` here or `defaults.zone`", decl.pos, address=address)
        return None
    zone = ctx.catalog.resolve("zone", zone_value, decl.at("zone"), diags, address)
    if spec.offering:
        offering = ctx.catalog.resolve("network_offering", spec.offering, decl.at("offering"),
                                       diags, address)
    else:
        offering = default_offering(ctx.catalog)
        if offering is None:
            diags.error("Mold has no enabled isolated network offering; name one with `offering:`",
                        decl.pos, address=address)
    if zone is None or offering is None:
        return None
    attrs = {
        "name": name, "display_text": spec.display_text or name, "zone": zone.name,
        "offering": offering.name, "gateway": spec.gateway, "netmask": spec.netmask,
        "network_domain": spec.network_domain, "external_id": spec.external_id,
    }
    inputs = {"zoneid": zone.id, "networkofferingid": offering.id}
    return Desired(decl.address, attrs, inputs)


def observe(raw: dict[str, Any], catalog: Any) -> LiveObject:
    attrs = {
        "project": raw.get("project"),
        "name": raw.get("name"),
        "display_text": raw.get("displaytext"),
        "zone": raw.get("zonename") or catalog.name_of("zone", raw.get("zoneid")),
        "offering": raw.get("networkofferingname")
        or catalog.name_of("network_offering", raw.get("networkofferingid")),
        "gateway": raw.get("gateway"),
        "netmask": raw.get("netmask"),
        "network_domain": raw.get("networkdomain"),
        "external_id": raw.get("externalid"),
    }
    return LiveObject(KIND, str(raw["id"]), str(raw.get("name", "")), attrs, tags_of(raw),
                      raw.get("state"))


def refresh(client: Any, catalog: Any) -> list[LiveObject]:
    rows = client.list_all("listNetworks", "network", {"listall": True})
    return [observe(r, catalog) for r in rows]


def plan_changes(desired: Desired, live: LiveObject | None, ctx: Any) -> list[Draft]:
    drafts = plan_generic(desired, live, ATTRS)
    for draft in drafts:
        if draft.operation is Operation.REPLACE and live is not None:
            draft.frees = live.id  # deleted first: waits for the VMs that leave it
    return drafts


def execute(action: Action, ctx: ExecContext) -> Outcome:
    op = action.operation
    if op is Operation.CREATE:
        return _create(action, ctx)
    if op is Operation.REPLACE:
        _delete(action, ctx)
        return _create(action, ctx)
    if op is Operation.UPDATE:
        after = action.after or {}
        send_job(ctx, "updateNetwork", {
            "id": action.mold_id, "name": after["name"], "displaytext": after["display_text"],
            "networkdomain": after.get("network_domain"),
        }, RESEND)
        return Outcome(action.mold_id, after)
    if op is Operation.DELETE:
        _delete(action, ctx)
        return Outcome(removed=True)
    raise ValueError(f"network cannot {op}")  # pragma: no cover


def _delete(action: Action, ctx: ExecContext) -> None:
    """deleteNetwork; Mold refuses it while any VM not yet expunged has a NIC in it, a
    destroyed one included (NetworkOrchestrator.destroyNetwork), and says only "Failed to
    delete network": the error says what to look for."""
    try:
        delete_job(ctx, "deleteNetwork", {"id": action.mold_id},
                   row_state(ctx, "listNetworks", "network", {"id": action.mold_id,
                                                               "listall": True},
                             lambda row: row is None))
    except JobFailed as exc:
        if "failed to delete network" not in (exc.errortext or "").lower():
            raise
        raise MwinError(f"{exc}. Mold refuses to delete a network while a VM that is not yet "
                        "expunged has a NIC in it, also a destroyed one: Mold keeps destroyed "
                        "VMs until expunge.delay has passed (one day by default) when the "
                        "account may not expunge (allow.user.expunge.recover.vm). Apply again "
                        "once Mold expunged them, or ask an admin to expunge them now") from None


def _create(action: Action, ctx: ExecContext) -> Outcome:
    after = action.after or {}
    lookup = {"zoneid": action.inputs["zoneid"], "listall": True}
    result = send(ctx, "createNetwork", {
        "name": after["name"], "displaytext": after["display_text"],
        "zoneid": action.inputs["zoneid"], "networkofferingid": action.inputs["networkofferingid"],
        "gateway": after.get("gateway"), "netmask": after.get("netmask"),
        "networkdomain": after.get("network_domain"), "externalid": after.get("external_id"),
    }, named(ctx, "listNetworks", "network", lookup, after["name"], action.address))
    network_id = str(result["id"] if result.get("_found") else result["network"]["id"])
    tag_resource(ctx, RESOURCE_TYPE, network_id, action.address)
    return Outcome(network_id, after)

"""Isolated guest networks for preparing VMs.

Rules (ATTRS): ``name``, ``display_text`` and ``network_domain`` change in place
(updateNetwork, an async job); ``zone``, ``offering``, ``gateway``, ``netmask``,
``external_id`` and ``project`` are creation-only and force a replacement (deleted first:
Mold refuses to delete a network while VMs use it, so their deletion, replacement or NIC
removal comes before). ``offering`` defaults to the zone's default isolated offering;
``gateway``/``netmask``/``network_domain`` default to what Mold picks and are then not
compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, StrictStr

from reconciler.diagnostics import Diagnostics
from reconciler.errors import JobFailed, MwinError
from reconciler.model import (
    Address,
    Catalog,
    CatalogEntry,
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
    casefold_equal,
    read_attrs,
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
from reconciler.resources.contract import PlanningContext, SpecView
from reconciler.resources.focus import Focus, focused_rows

KIND = "network"
SECTION = "networks"
RESOURCE_TYPE = "Network"
LIST_COMMAND = "listNetworks"
# the catalog tables its desired state and observe resolve names in (live.refresh reads only those)
CATALOG = ("zone", "network_offering")


class Spec(ResourceSpec):
    """One entry of `networks:`."""

    name: StrictStr | None = Field(None, description="Name in Mold (default: the key)")
    display_text: StrictStr | None = Field(None, description="Description (default: the name)")
    zone: StrictStr | None = Field(None, description="Zone name or id (default: defaults.zone)")
    offering: StrictStr | None = Field(None, description="Network offering name or id "
                                                         "(default: the default isolated one)")
    gateway: StrictStr | None = Field(None, description="Gateway (default: Mold picks)")
    netmask: StrictStr | None = Field(None, description="Netmask (default: Mold picks)")
    network_domain: StrictStr | None = Field(None, description="DNS domain of the network")
    external_id: StrictStr | None = Field(None, description="An id of your own for it")


ATTRS: tuple[Attr, ...] = (
    Attr("project", OnChange.REPLACE, optional=True, field="project"),
    Attr("name", OnChange.IN_PLACE, "updateNetwork", param="name", field="name"),
    Attr("display_text", OnChange.IN_PLACE, "updateNetwork", param="displaytext",
         field="displaytext"),
    Attr("network_domain", OnChange.IN_PLACE, "updateNetwork", optional=True,
         param="networkdomain", field="networkdomain"),
    Attr("zone", OnChange.REPLACE, equal=casefold_equal),  # zoneid in inputs
    Attr("offering", OnChange.REPLACE),  # networkofferingid in inputs
    Attr("gateway", OnChange.REPLACE, optional=True, param="gateway", field="gateway"),
    Attr("netmask", OnChange.REPLACE, optional=True, param="netmask", field="netmask"),
    Attr("external_id", OnChange.REPLACE, optional=True, param="externalid",
         field="externalid"),
)


class Inputs(ActionInputs):
    zoneid: str | None = None
    networkofferingid: str | None = None


def references(spec: Spec) -> list[tuple[str, Address]]:
    return []


def validate(decl: Declared, doc: SpecView, diags: Diagnostics) -> None:
    """Spec-level rules (no Mold needed)."""
    if decl.spec.zone is None and doc.defaults.zone is None:
        diags.error("no zone: set `zone:` here or `defaults.zone`", decl.pos,
                    address=str(decl.address))


def default_offering(catalog: Catalog) -> CatalogEntry | None:
    """The zone's default isolated offering: Isolated, not for VPC, Enabled; isdefault and a
    source-NAT name preferred."""
    rows = [e for e in catalog.entries("network_offering")
            if str(e.raw.get("guestiptype", "")).lower() == "isolated" and not e.raw.get("forvpc")]
    rows.sort(key=lambda e: (not e.raw.get("isdefault"), "sourcenat" not in e.name.lower(), e.name))
    return rows[0] if rows else None


def desired(decl: Declared, ctx: PlanningContext, diags: Diagnostics) -> Desired | None:
    spec: Spec = decl.spec
    address = str(decl.address)
    name = spec.name or decl.address.key
    zone = ctx.catalog.resolve("zone", str(spec.zone or ctx.defaults.zone), decl.at("zone"),
                               diags, address)
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
    return Desired(decl.address, attrs, {"zoneid": zone.id, "networkofferingid": offering.id})


def observe(raw: Mapping[str, Any], catalog: Catalog) -> LiveObject:
    attrs = {
        **read_attrs(ATTRS, raw),
        "zone": raw.get("zonename") or catalog.name_of("zone", raw.get("zoneid")),
        "offering": raw.get("networkofferingname")
        or catalog.name_of("network_offering", raw.get("networkofferingid")),
    }
    return LiveObject(KIND, str(raw["id"]), str(raw.get("name", "")), attrs, tags_of(raw),
                      raw.get("state"))


def refresh(client: MoldApi, catalog: Catalog, focus: Focus | None = None) -> list[LiveObject]:
    """This account's networks (``focus``: those the plan needs, resources.focus). By name
    with ``keyword``: ListNetworksCmd has ``name`` only since 4.22."""
    rows = focused_rows(client, focus, "listNetworks", "network", {"listall": True},
                        by_name="keyword")
    return [observe(r, catalog) for r in rows]


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
    for draft in drafts:
        if draft.operation is Operation.REPLACE and live is not None:
            draft.frees = live.id  # deleted first: waits for the VMs that leave it
    return drafts


def execute(action: Action, ctx: ExecContext) -> Outcome:
    inputs = Inputs.model_validate(action.inputs)
    op = action.operation
    if op is Operation.CREATE:
        return _create(action, inputs, ctx)
    if op is Operation.REPLACE:
        _delete(action, ctx)
        return _create(action, inputs, ctx)
    if op is Operation.UPDATE:
        after = action.after or {}
        send_job(ctx, "updateNetwork", {"id": action.mold_id,
                                        **api_params(ATTRS, after, "updateNetwork")}, RESEND)
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


def _create(action: Action, inputs: Inputs, ctx: ExecContext) -> Outcome:
    after = action.after or {}
    params = {**api_params(ATTRS, after), "zoneid": inputs.zoneid,
              "networkofferingid": inputs.networkofferingid}
    lookup = {"zoneid": inputs.zoneid, "listall": True}
    result = send(ctx, "createNetwork", params,
                  named(ctx, "listNetworks", "network", lookup, after["name"], action.address))
    network_id = str(result["id"] if result.get("_found") else result["network"]["id"])
    tag_resource(ctx, RESOURCE_TYPE, network_id, action.address)
    return Outcome(network_id, after)

"""Isolated guest networks for preparing VMs.

Rules (ATTRS): ``name``, ``display_text`` and ``network_domain`` change in place
(updateNetwork, an async job); ``zone``, ``offering``, ``gateway``, ``netmask``,
``external_id`` and ``project`` are creation-only and force a replacement. A replacement
creates the new network first (CloudStack allows two networks of one name in an account
unless ``allow.duplicate.networkname`` is false), so a refused create loses nothing; the old
one is deleted by an action of its own once no VM has a NIC in it: Mold refuses to delete a
network while a VM that is not expunged has one, so the declared VMs in it move their NICs
to the new network first (vm ``release_steps``). ``offering`` defaults to the zone's
default isolated offering; ``gateway``/``netmask``/``network_domain`` default to what Mold
picks and are then not compared. ``gateway`` and ``netmask`` go together: Mold takes a
gateway only with a netmask and silently picks both itself otherwise
(NetworkServiceImpl.createGuestNetwork), so one alone is a spec error.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from pydantic import Field, StrictStr

from reconciler.diagnostics import Diagnostics
from reconciler.errors import ApiError, JobFailed, MoldError, MwinError
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
    holder_of,
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
    # replace: delete the old network right after creating the new one (`--replace`); False
    # when the plan deletes it in an action of its own, after the VMs in it moved their NICs
    delete_old: bool = True


def references(spec: Spec) -> list[tuple[str, Address]]:
    return []


def validate(decl: Declared, doc: SpecView, diags: Diagnostics) -> None:
    """Spec-level rules (no Mold needed)."""
    if decl.spec.zone is None and doc.defaults.zone is None:
        diags.error("no zone: set `zone:` here or `defaults.zone`", decl.pos,
                    address=str(decl.address))
    _validate_addressing(decl, diags)


def _validate_addressing(decl: Declared, diags: Diagnostics) -> None:
    """Mold's createGuestNetwork (NetworkServiceImpl) makes the network's CIDR from gateway
    and netmask together and ignores either one alone, picking both itself: the network would
    then never match the spec. With both, it refuses an invalid gateway or netmask and a
    gateway that is the network or broadcast address (431)."""
    spec: Spec = decl.spec
    address = str(decl.address)
    if (spec.gateway is None) != (spec.netmask is None):
        given, missing = ("gateway", "netmask") if spec.netmask is None else ("netmask", "gateway")
        diags.error(f"`{given}` without `{missing}`: Mold uses them only together (alone, it "
                    f"ignores `{given}` and picks both itself); set both, or neither",
                    decl.at(given), address=address)
        return
    if spec.gateway is None or spec.netmask is None:
        return
    try:
        gateway = ipaddress.IPv4Address(spec.gateway)
    except ValueError:
        diags.error(f"`gateway`: {spec.gateway!r} is not an IPv4 address", decl.at("gateway"),
                    address=address)
        return
    try:
        cidr = ipaddress.IPv4Network(f"{gateway}/{spec.netmask}", strict=False)
    except ValueError:
        diags.error(f"`netmask`: {spec.netmask!r} is not an IPv4 netmask (e.g. 255.255.255.0)",
                    decl.at("netmask"), address=address)
        return
    if cidr.prefixlen < 31 and gateway in (cidr.network_address, cidr.broadcast_address):
        diags.error(f"`gateway`: {gateway} is the network or broadcast address of {cidr}; Mold "
                    "refuses it", decl.at("gateway"), address=address)


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
                      raw.get("state"), holder=holder_of(raw))


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
    if live is None or not any(d.operation is Operation.REPLACE for d in drafts):
        return drafts
    for draft in drafts:
        draft.inputs["delete_old"] = False
    return [*drafts, _retire(live)]


def _retire(live: LiveObject) -> Draft:
    """After a replacement's create, the old network's deletion: a step of its own, so the
    VMs in it can move their NICs to the new network in between (vm release_steps)."""
    return Draft(Operation.DELETE, f"delete the replaced network {live.id} (once no VM has a "
                 "NIC in it)", before=dict(live.attrs), inputs={"id": live.id, "orphan": True})


def execute(action: Action, ctx: ExecContext) -> Outcome:
    inputs = Inputs.model_validate(action.inputs)
    op = action.operation
    if op is Operation.CREATE:
        return _create(action, inputs, ctx)
    if op is Operation.REPLACE:  # the new one first: a refused create loses nothing
        outcome = _replacement(action, inputs, ctx)
        if inputs.delete_old:
            _delete(action, ctx, replaced_by=outcome.mold_id)
        return outcome
    if op is Operation.UPDATE:
        after = action.after or {}
        send_job(ctx, "updateNetwork", {"id": action.mold_id,
                                        **api_params(ATTRS, after, "updateNetwork")}, RESEND)
        return Outcome(action.mold_id, after)
    if op is Operation.DELETE:
        _delete(action, ctx)
        return Outcome(removed=True)
    raise ValueError(f"network cannot {op}")  # pragma: no cover


def _delete(action: Action, ctx: ExecContext, replaced_by: str | None = None) -> None:
    """deleteNetwork; Mold refuses it while any VM not yet expunged has a NIC in it, a
    destroyed one included (NetworkOrchestrator.destroyNetwork), and says only "Failed to
    delete network": the error names the VMs in it that this account can see."""
    try:
        delete_job(ctx, "deleteNetwork", {"id": action.mold_id},
                   row_state(ctx, "listNetworks", "network", {"id": action.mold_id,
                                                               "listall": True},
                             lambda row: row is None))
    except JobFailed as exc:
        if "failed to delete network" not in (exc.errortext or "").lower():
            raise
        raise MwinError(f"{exc}. {_why_in_use(str(action.mold_id), ctx, replaced_by)}") from None


def _why_in_use(network_id: str, ctx: ExecContext, replaced_by: str | None) -> str:
    """What holds the network, as far as this account can list it (listVirtualMachines
    networkid): live VMs, destroyed ones not yet expunged, or none it can see. After a
    `--replace` (``replaced_by``: the new network) the next plan moves the NICs of the VMs
    this state manages: it keeps the new network and deletes the old one as a leftover."""
    try:
        rows = ctx.client.list_all("listVirtualMachines", "virtualmachine",
                                   {"networkid": network_id, "listall": True})
    except MoldError:
        rows = []
    gone = [r for r in rows if str(r.get("state", "")).lower() in ("destroyed", "expunging")]
    alive = [r for r in rows if r not in gone]

    def names(vms: list[dict[str, Any]]) -> str:
        return ", ".join(f"{r.get('name')!r} ({r.get('id')})" for r in vms)

    if alive and replaced_by:
        return (f"VM(s) {names(alive)} still have a NIC in it. The new network {replaced_by} "
                "exists: `mwin apply` again moves the NICs of the VMs this state manages to it "
                "and then deletes this one (others: take them out of it first)")
    if alive:
        return (f"VM(s) {names(alive)} still have a NIC in it: "
                "Mold deletes a network only once no VM has a NIC in it. Take the network out "
                "of their `networks` (or delete them), then apply again")
    wait = ("Mold keeps destroyed VMs until expunge.delay has passed (one day by default) "
            "when the account may not expunge (allow.user.expunge.recover.vm): apply again once "
            "Mold expunged them, or ask an admin to expunge them now")
    if gone:
        return f"destroyed VM(s) not yet expunged still have a NIC in it: {names(gone)}. {wait}"
    return ("No VM this account can list has a NIC in it, so one it cannot list holds it: most "
            "likely a destroyed VM not yet expunged (Mold lists destroyed VMs only to admins, "
            f"or with allow.user.view.destroyed.vm). {wait}")


def _replacement(action: Action, inputs: Inputs, ctx: ExecContext) -> Outcome:
    """The new network of a replacement, made while the old one still exists."""
    try:
        return _create(action, inputs, ctx)
    except ApiError as exc:
        if "same name already exists" not in exc.errortext.lower():
            raise
        raise MwinError(f"{exc}. A replacement creates the new network before it deletes the "
                        f"old one ({action.mold_id}, left as it is), and this account may not "
                        "have two networks of one name (allow.duplicate.networkname is false): "
                        "give the network another `name:`, or ask an admin to allow duplicate "
                        "network names for the account") from None


def _create(action: Action, inputs: Inputs, ctx: ExecContext) -> Outcome:
    """createNetwork; a lost answer is looked for by name, never taking the network a
    replacement replaces (it may have the same name and tags)."""
    after = action.after or {}
    params = {**api_params(ATTRS, after), "zoneid": inputs.zoneid,
              "networkofferingid": inputs.networkofferingid}
    lookup = {"zoneid": inputs.zoneid, "listall": True}
    replaced = [action.mold_id] if action.operation is Operation.REPLACE else []
    result = send(ctx, "createNetwork", params,
                  named(ctx, "listNetworks", "network", lookup, after["name"], action.address,
                        exclude=replaced))
    network_id = str(result["id"] if result.get("_found") else result["network"]["id"])
    ctx.record(Outcome(network_id, after))  # before its tags: a failed tagging loses nothing
    tag_resource(ctx, RESOURCE_TYPE, network_id, action.address)
    return Outcome(network_id, after)

"""Discovery commands: listApis (generated from the registry), zones, hypervisors, OS types,
offerings. All read-only, over the seeded static records."""

from __future__ import annotations

from typing import Any

from moldsim import errors, identity, listing, rolerules
from moldsim.context import Ctx
from moldsim.registry import BOOLEAN, COMMANDS, INTEGER, LIST, STRING, UUID, Command, Param, api


def _api_item(ctx: Ctx, cmd: Command) -> dict[str, Any]:
    """ApiDiscoveryResponse; for callers whose account type is not ADMIN the parameters with
    @Parameter(authorized = {Admin}) are left out (getApiDiscoveryResponseWithAccessibleParams),
    and Mold-only parameters do not exist under an upstream CloudStack profile."""
    hidden = rolerules.ADMIN_ONLY_PARAMS.get(cmd.name, frozenset()) \
        if ctx.account["type"] != identity.ADMIN else frozenset()
    params = [p for p in cmd.params if p.name not in hidden and p.exists_in(ctx.release)]
    return {
        "name": cmd.name, "description": cmd.description, "since": "4.0.0",
        "isasync": cmd.isasync, "related": cmd.related,
        "params": [{"name": p.name, "description": p.description, "type": p.type,
                    "length": 255, "required": p.required, "related": ""} for p in params],
        "response": [], "type": "",
    }


def _allowed(ctx: Ctx, cmd: Command) -> bool:
    role = identity.role_of(ctx.store, ctx.account)
    return rolerules.role_allows(role["n"], role["type"], cmd.name)


@api("listApis", [Param("name", STRING, description="API name")], mutates=False,
     description="lists all available apis on the server, provided by the Api Discovery plugin")
def list_apis(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """ApiDiscoveryServiceImpl.listApis: with `name`, an unknown API or one the caller's role
    may not call is ListApisCmd's 530; without it, the APIs the role allows."""
    cmds = sorted(COMMANDS.values(), key=lambda c: c.name.lower())
    if "name" in p:
        cmds = [c for c in cmds if c.name == p["name"] and _allowed(ctx, c)]
        if not cmds:
            raise errors.server_error(errors.INTERNAL_ERROR, "Api Discovery plugin was unable to find "
                                      "an api by that name or process any apis")
    else:
        cmds = [c for c in cmds if _allowed(ctx, c)]
    return {"count": len(cmds), "api": [_api_item(ctx, c) for c in cmds]}


@api("listZones", [Param("id", UUID, entity="zones"), Param("ids", LIST, entity="zones"),
                   Param("name"), Param("available", BOOLEAN), Param("networktype"),
                   Param("showcapacities", BOOLEAN), Param("showicon", BOOLEAN)],
     listing=True, tagged=True)
def list_zones(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    zones = listing.where(p, ctx.coll("zones").values(), id="id", name="name",
                          networktype=lambda v, r: r["networktype"].lower() == v.lower(),
                          ids=lambda v, r: r["id"] in v)
    zones = listing.by_keyword(p, zones)
    return listing.respond(ctx, p, "zone", [dict(z) for z in zones])


@api("listClusters", [Param("id", UUID, entity="clusters"), Param("name"),
                      Param("zoneid", UUID, entity="zones"), Param("hypervisor"),
                      Param("podid", UUID), Param("allocationstate"), Param("managedstate"),
                      Param("clustertype"), Param("showcapacities", BOOLEAN)], listing=True)
def list_clusters(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """ListClustersCmd (root admins): moldsim has one KVM cluster per zone (ClusterResponse:
    id, name, zoneid, zonename, hypervisortype, clustertype, allocationstate, managedstate);
    the scope of the Cluster settings (vm.iso.max.count)."""
    items = listing.where(p, ctx.coll("clusters").values(), id="id", name="name", zoneid="zoneid",
                          hypervisor=lambda v, r: r["hypervisortype"].lower() == str(v).lower())
    return listing.respond(ctx, p, "cluster", [dict(c) for c in listing.by_keyword(p, items)])


@api("listHypervisors", [Param("zoneid", UUID, entity="zones")])
def list_hypervisors(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    items = [{"name": h} for h in ctx.store.data["hypervisors"]]
    return {"count": len(items), "hypervisor": items}


@api("listOsTypes", [Param("id", UUID, entity="ostypes"), Param("oscategoryid", UUID, entity="oscategories"),
                     Param("description"), Param("fordisplay", BOOLEAN)], listing=True)
def list_os_types(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    items = listing.where(
        p, ctx.coll("ostypes").values(), id="id", oscategoryid="oscategoryid",
        description=lambda v, r: v.lower() in r["description"].lower())
    items = listing.by_keyword(p, items, ("name", "description"))
    return listing.respond(ctx, p, "ostype", [_ostype(ctx, i) for i in items])


def _ostype(ctx: Ctx, rec: dict[str, Any]) -> dict[str, Any]:
    """GuestOSResponse: `name` and `description` both hold the display name since 4.19
    (`description` deprecated); upstream CloudStack 4.17 has `description` only."""
    out = dict(rec)
    if not ctx.release.ostype_name:
        out.pop("name", None)
    return out


@api("listOsCategories", [Param("id", UUID, entity="oscategories"), Param("name")], listing=True)
def list_os_categories(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    items = listing.where(p, ctx.coll("oscategories").values(), id="id", name="name")
    return listing.respond(ctx, p, "oscategory", [dict(i) for i in listing.by_keyword(p, items)])


def _state_filter(value: str, rec: dict[str, Any]) -> bool:
    return value.lower() == "all" or rec["state"].lower() == value.lower()


@api("listServiceOfferings", [
    Param("id", UUID, entity="serviceofferings"), Param("name"), Param("zoneid", UUID, entity="zones"),
    Param("virtualmachineid", UUID, entity="vms"), Param("issystem", BOOLEAN),
    Param("cpunumber", INTEGER), Param("memory", INTEGER), Param("cpuspeed", INTEGER),
    Param("state"), Param("templateid", UUID), Param("kvdoenable", BOOLEAN),
    Param("encryptroot", BOOLEAN), Param("storagetype"), Param("systemvmtype")], listing=True)
def list_service_offerings(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    p.setdefault("state", "Active")
    items = listing.where(p, ctx.coll("serviceofferings").values(), id="id", name="name",
                          cpunumber="cpunumber", memory="memory", state=_state_filter,
                          issystem=lambda v, r: not v)
    items = listing.by_keyword(p, items)
    return listing.respond(ctx, p, "serviceoffering", [dict(i) for i in items])


@api("listDiskOfferings", [
    Param("id", UUID, entity="diskofferings"), Param("name"), Param("zoneid", UUID, entity="zones"),
    Param("volumeid", UUID, entity="volumes"), Param("storageid", UUID), Param("encrypt", BOOLEAN),
    Param("storagetype"), Param("state"), Param("virtualmachineid", UUID, entity="vms"),
    Param("fordisplay", BOOLEAN)], listing=True)
def list_disk_offerings(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    p.setdefault("state", "Active")
    items = listing.where(p, ctx.coll("diskofferings").values(), id="id", name="name",
                          state=_state_filter)
    items = listing.by_keyword(p, items)
    return listing.respond(ctx, p, "diskoffering", [dict(i) for i in items])


def _ci(field: str) -> Any:
    return lambda v, r: str(r.get(field, "")).lower() == str(v).lower()


@api("listNetworkOfferings", [
    Param("id", UUID, entity="networkofferings"), Param("name"), Param("displaytext"),
    Param("guestiptype"), Param("state"), Param("zoneid", UUID, entity="zones"),
    Param("forvpc", BOOLEAN), Param("isdefault", BOOLEAN), Param("availability"),
    Param("specifyvlan", BOOLEAN), Param("specifyipranges", BOOLEAN),
    Param("sourcenatsupported", BOOLEAN), Param("supportedservices", LIST),
    Param("traffictype"), Param("networkid", UUID), Param("routingmode"), Param("tags")], listing=True)
def list_network_offerings(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    items = listing.where(
        p, ctx.coll("networkofferings").values(), id="id", name="name", displaytext="displaytext",
        guestiptype=_ci("guestiptype"), state=_ci("state"), forvpc="forvpc", isdefault="isdefault",
        availability=_ci("availability"), specifyvlan="specifyvlan",
        specifyipranges="specifyipranges", traffictype=_ci("traffictype"),
        sourcenatsupported=lambda v, r: v == any(s["name"] == "SourceNat" for s in r["service"]))
    items = listing.by_keyword(p, items)
    return listing.respond(ctx, p, "networkoffering", [dict(i) for i in items])


"""Guest network commands (reference §4.3, §5.4): createNetwork (sync), listNetworks,
updateNetwork (async), deleteNetwork (async; fails while VMs use the network).

A network record (in `data["networks"]`): id, n (internal number), accountid (owner), name, displaytext,
zoneid, networkofferingid, gateway, netmask, cidr, networkdomain, externalid, state
("Allocated" until a VM is deployed into it, then "Implemented"), created.
"""

from __future__ import annotations

from typing import Any

from moldsim import errors, identity, jobs, listing, tagging
from moldsim.clock import stamp
from moldsim.context import Ctx
from moldsim.registry import BOOLEAN, STRING, UUID, Param, api, job_kind

_CLASS = "org.apache.cloudstack.api.command.user.network."


def _mask_bits(netmask: str) -> int:
    return sum(bin(int(part)).count("1") for part in netmask.split("."))


def view(ctx: Ctx, rec: dict[str, Any]) -> dict[str, Any]:
    offering = ctx.coll("networkofferings").get(rec["networkofferingid"], {})
    zone = ctx.zone(rec["zoneid"]) or {}
    return {
        "id": rec["id"], "name": rec["name"], "displaytext": rec["displaytext"],
        "state": rec["state"], "type": offering.get("guestiptype", "Isolated"),
        "traffictype": "Guest", "networkofferingid": rec["networkofferingid"],
        "networkofferingname": offering.get("name"),
        "networkofferingdisplaytext": offering.get("displaytext"),
        "networkofferingavailability": offering.get("availability"),
        "networkofferingconservemode": True, "zoneid": rec["zoneid"], "zonename": zone.get("name"),
        "gateway": rec["gateway"], "netmask": rec["netmask"], "cidr": rec["cidr"],
        "networkcidr": rec["cidr"], "networkdomain": rec["networkdomain"],
        "externalid": rec.get("externalid"), "acltype": "Account", **ctx.owner(rec),
        "isdefault": False, "issystem": False, "canusefordeploy": True, "ispersistent": False,
        "restartrequired": False, "specifyipranges": False, "redundantrouter": False,
        "displaynetwork": True, "service": offering.get("service", []),
        "tags": tagging.tags_of(ctx, rec["id"]), "created": stamp(rec["created"]),
    }


def _addressing(ctx: Ctx, n: int, p: dict[str, Any]) -> tuple[str, str, str]:
    """(gateway, netmask, cidr): given ones, or the n-th /24 of the zone's guest range. Mold
    (NetworkServiceImpl.createGuestNetwork) makes a CIDR only from gateway and netmask
    together, and NetworkOrchestrator.createGuestNetwork keeps the gateway only with a CIDR:
    one of them alone is ignored, without an error, and Mold picks both."""
    gateway, netmask = p.get("gateway"), p.get("netmask")
    if gateway is None or netmask is None:  # 10.1.1.0/24 … 10.1.254.0/24, then 10.2.1.0/24 …
        prefix = f"10.{1 + (n - 1) // 254}.{(n - 1) % 254 + 1}"
        return f"{prefix}.1", "255.255.255.0", f"{prefix}.0/24"
    base = ".".join(str(int(g) & int(m)) for g, m in zip(gateway.split("."), netmask.split("."), strict=False))
    return gateway, netmask, f"{base}/{_mask_bits(netmask)}"


@api("createNetwork", [
    Param("name", STRING, True), Param("displaytext"),
    Param("networkofferingid", UUID, True, entity="networkofferings"),
    Param("zoneid", UUID, True, entity="zones"), Param("gateway"), Param("netmask"),
    Param("startip"), Param("endip"), Param("networkdomain"), Param("externalid"),
    Param("account"), Param("domainid", UUID, entity="domains"),
    Param("projectid", UUID, entity="projects"),
    Param("acltype"), Param("physicalnetworkid", UUID), Param("vpcid", UUID),
    Param("displaynetwork", BOOLEAN), Param("dns1"), Param("dns2")])
def create_network(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    offering = ctx.coll("networkofferings")[p["networkofferingid"]]
    if offering.get("state") != "Enabled":
        raise errors.param_error("Network offering with specified id is not in Enabled state")
    owner = identity.finalize_owner(ctx, p)
    # NetworkServiceImpl.createGuestNetwork: names repeat within an account unless
    # allow.duplicate.networkname (Account scope, default true) is false
    if not ctx.flag("allow.duplicate.networkname", owner["id"]) and any(
            r["accountid"] == owner["id"] and r["name"] == p["name"]
            for r in ctx.coll("networks").values()):
        raise errors.param_error("Another network with same name already exists within "
                                 f"account: {owner['name']}")
    n = ctx.store.next_seq("network")
    gateway, netmask, cidr = _addressing(ctx, n, p)
    rec = {
        "id": ctx.new_id(), "n": n, "accountid": owner["id"], "name": p["name"], "displaytext": p.get("displaytext") or p["name"],
        "zoneid": p["zoneid"], "networkofferingid": p["networkofferingid"], "gateway": gateway,
        "netmask": netmask, "cidr": cidr,
        "networkdomain": p.get("networkdomain") or f"cs{n}cloud.internal",
        "externalid": p.get("externalid"), "state": "Allocated", "created": ctx.now,
    }
    ctx.coll("networks")[rec["id"]] = rec
    return {"network": view(ctx, rec)}


@api("listNetworks", [
    Param("id", UUID, entity="networks"), Param("zoneid", UUID, entity="zones"), Param("type"),
    Param("networkofferingid", UUID), Param("canusefordeploy", BOOLEAN), Param("forvpc", BOOLEAN),
    Param("issystem", BOOLEAN), Param("acltype"), Param("traffictype"), Param("networkfilter"),
    Param("displaynetwork", BOOLEAN), Param("showicon", BOOLEAN), Param("vpcid", UUID)],
    listing=True, tagged=True)
def list_networks(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    scope = identity.scope(ctx, p, "id" in p)
    recs = scope.filter(ctx.store, sorted(ctx.coll("networks").values(), key=lambda r: r["n"]))
    recs = listing.where(p, recs, id="id", zoneid="zoneid", networkofferingid="networkofferingid")
    recs = listing.by_tags(ctx, p, listing.by_keyword(p, recs))
    return listing.respond(ctx, p, "network", [view(ctx, r) for r in recs])


@api("updateNetwork", [
    Param("id", UUID, True, entity="networks", acl="operate"), Param("name"), Param("displaytext"),
    Param("networkdomain"), Param("networkofferingid", UUID, entity="networkofferings"),
    Param("changecidr", BOOLEAN), Param("guestvmcidr"), Param("forced", BOOLEAN),
    Param("displaynetwork", BOOLEAN), Param("customid")], isasync=True)
def update_network(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    return {"jobid": jobs.submit(ctx, "updateNetwork", p["id"], p)["id"]}


@job_kind("updateNetwork", "Network", _CLASS + "UpdateNetworkCmd")
def finish_update_network(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    rec = ctx.coll("networks").get(job["instanceid"])
    if rec is None:
        raise errors.param_error("Network with specified id doesn't exist")
    for field in ("name", "displaytext", "networkdomain", "networkofferingid"):
        if field in job["params"]:
            rec[field] = job["params"][field]
    return {"network": view(ctx, rec)}


@api("deleteNetwork", [Param("id", UUID, True, entity="networks", acl="operate"),
                       Param("forced", BOOLEAN)], isasync=True)
def delete_network(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    return {"jobid": jobs.submit(ctx, "deleteNetwork", p["id"], p)["id"]}


@job_kind("deleteNetwork", "Network", _CLASS + "DeleteNetworkCmd")
def finish_delete_network(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    net_id = job["instanceid"]
    if net_id not in ctx.coll("networks"):
        raise errors.param_error("Network with specified id doesn't exist")
    if job["params"].get("forced") and not ctx.root_admin:
        raise errors.param_error("Delete network with 'forced' option can only be called by root admins")
    # NetworkOrchestrator.destroyNetwork refuses while any VM that is not expunged (Destroyed
    # ones too) has a NIC in the network; the reason only reaches the log, the job fails with
    # DeleteNetworkCmd's text
    if any(any(nic["networkid"] == net_id for nic in vm["nics"]) for vm in ctx.coll("vms").values()):
        raise errors.server_error(errors.INTERNAL_ERROR, "Failed to delete network")
    ctx.remove("networks", net_id)
    return {"success": True}

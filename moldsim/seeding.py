"""Bulk inventory for scale tests: `POST /moldsim/seed` creates many objects at once,
directly in the store (no jobs, no downloads: everything is ready at once).

Body (every key optional; docs/moldsim.md "Benchmark endpoints"):
  {"isos": N, "templates": N, "networks": N, "vms": N,
   "prefix": "bulk",                  names <prefix>-<kind>-<i> (the default)
   "names": "win-",                   names <names><i> instead (a string for every kind, or
                                      {"isos": "win-", ...} by kind)
   "tags": {"mwin:owner": "bench"},   tags on every seeded object
   "address_prefix": "iso.bulk-",     the tag <address_tag>=<address_prefix><i> on object i
                                      (a string, or {"isos": "iso.bulk-", ...} by kind)
   "address_tag": "mwin:address",     the key of that tag (default mwin:address)
   "template_zones": "all"}           seeded templates are ready in every zone (or in the
                                      first N zones), not only the first
A kind's count may also be an object that overrides the shared keys for that kind:
  "isos": {"count": N, "names": "...", "tags": {...}, "address_prefix": "..."}
Without tags the objects are untagged, so mwin never adopts them. VMs are Stopped, attached
to the first seeded (or existing) network, deployed from the first seeded ISO, each with a
ROOT volume. Everything belongs to the root admin. A malformed body raises ValueError (the
control endpoint answers 400) before anything is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moldsim.commands import isos
from moldsim.context import Ctx
from moldsim.images import new_record
from moldsim.vmview import GIB

KINDS = ("isos", "templates", "networks", "vms")
_SHORT = {"isos": "iso", "templates": "template", "networks": "net", "vms": "vm"}
_TAG_TYPE = {"isos": "ISO", "templates": "Template", "networks": "Network", "vms": "UserVm"}
_KEYS = {*KINDS, "prefix", "names", "tags", "address_prefix", "address_tag", "template_zones"}


@dataclass
class Plan:
    """What to make of one kind."""

    count: int = 0
    names: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    address_prefix: str | None = None


def _by_kind(value: Any, kind: str, what: str) -> Any:
    """A shared setting: one value for every kind, or a {kind: value} object."""
    if isinstance(value, dict) and what != "tags":
        return value.get(kind)
    return value


def _text(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    return value


def _tags(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and k and isinstance(v, str) and v
                                              for k, v in value.items()):
        raise ValueError('tags must be an object of non-empty strings, e.g. {"mwin:owner": "bench"}')
    return dict(value)


def parse(body: dict[str, Any]) -> tuple[dict[str, Plan], str, int | None]:
    """The plans by kind, the address tag key, and how many zones seeded templates are in
    (None: all)."""
    unknown = set(body) - _KEYS
    if unknown:
        raise ValueError(f"unknown keys: {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    prefix = _text(body.get("prefix", "bulk"), "prefix")
    address_tag = _text(body.get("address_tag", "mwin:address"), "address_tag") or "mwin:address"
    plans = {}
    for kind in KINDS:
        raw = body.get(kind, 0)
        own = raw if isinstance(raw, dict) else {"count": raw}
        if set(own) - {"count", "names", "tags", "address_prefix"}:
            raise ValueError(f"{kind}: unknown keys {sorted(set(own) - {'count', 'names', 'tags', 'address_prefix'})}")
        count = own.get("count", 0)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"{kind} must be a whole number of objects (or an object with count)")
        names = _text(own.get("names", _by_kind(body.get("names"), kind, "names")), f"{kind} names")
        shared_tags = _tags(body.get("tags"))
        plans[kind] = Plan(count, names if names is not None else f"{prefix}-{_SHORT[kind]}-",
                           {**shared_tags, **_tags(own.get("tags"))},
                           _text(own.get("address_prefix",
                                         _by_kind(body.get("address_prefix"), kind, "address_prefix")),
                                 f"{kind} address_prefix"))
    zones = body.get("template_zones", 1)
    if zones == "all":
        zones = None
    elif isinstance(zones, bool) or not isinstance(zones, int) or zones < 1:
        raise ValueError('template_zones must be "all" or a whole number of zones, at least 1')
    return plans, address_tag, zones


def seed(ctx: Ctx, body: dict[str, Any]) -> dict[str, int]:
    plans, address_tag, template_zones = parse(body)
    zone_ids = ctx.store.zone_ids()
    zone = zone_ids[0]
    os_type = next(o["id"] for o in ctx.coll("ostypes").values() if o["name"] == "Windows PV")
    made: dict[str, list[dict[str, Any]]] = {
        "isos": _images(ctx, "iso", plans["isos"], zone, os_type),
        "templates": _images(ctx, "template", plans["templates"], zone, os_type,
                             zone_ids[1:template_zones] if template_zones else zone_ids[1:]),
        "networks": _networks(ctx, plans["networks"], zone)}
    made["vms"] = _vms(ctx, plans["vms"], zone)
    for kind, records in made.items():
        _tag(ctx, kind, records, plans[kind], address_tag)
    return {kind: len(records) for kind, records in made.items()}


def _tag(ctx: Ctx, kind: str, records: list[dict[str, Any]], plan: Plan, address_tag: str) -> None:
    """The plan's tags, and the address tag, on every record (owned like the record)."""
    tags = ctx.store.data["tags"]
    owner = ctx.store.admin_account["id"]
    for i, rec in enumerate(records):
        pairs = dict(plan.tags)
        if plan.address_prefix is not None:
            pairs[address_tag] = f"{plan.address_prefix}{i}"
        for key, value in pairs.items():
            tags.append({"key": key, "value": value, "resourcetype": _TAG_TYPE[kind],
                         "resourceid": rec["id"], "customer": None,
                         "accountid": rec.get("accountid") or owner})


def _images(ctx: Ctx, kind: str, plan: Plan, zone: str, os_type: str,
            more_zones: list[str] | None = None) -> list[dict[str, Any]]:
    out = []
    for i in range(plan.count):
        p = {"name": f"{plan.names}{i}", "url": f"http://images.example/{plan.names}{i}.iso",
             "ostypeid": os_type}
        rec = new_record(ctx, kind, p, zone)
        rec.update(dl_start=ctx.now - 1, dl_seconds=0, dl_error=None)
        if kind == "iso":
            rec["bootable"] = True
        else:
            rec.update(format="QCOW2", hypervisor="KVM", templatetype="USER", requireshvm=False,
                       sshkeyenabled=False, sourcetemplateid=None, templatetag=None, details={})
            if more_zones:
                rec["copies"] = {z: {"dl_start": ctx.now - 1, "dl_seconds": 0, "dl_error": None,
                                     "created": ctx.now, "jobid": None} for z in more_zones}
        ctx.coll(f"{kind}s")[rec["id"]] = rec
        out.append(rec)
    return out


def _networks(ctx: Ctx, plan: Plan, zone: str) -> list[dict[str, Any]]:
    offering = next(o["id"] for o in ctx.coll("networkofferings").values()
                    if o["guestiptype"] == "Isolated")
    out = []
    for i in range(plan.count):
        n = ctx.store.next_seq("network")
        rec = {"id": ctx.new_id(), "n": n, "name": f"{plan.names}{i}", "displaytext": "bulk",
               "zoneid": zone, "networkofferingid": offering, "gateway": f"10.2.{n % 250}.1",
               "netmask": "255.255.255.0", "cidr": f"10.2.{n % 250}.0/24",
               "networkdomain": f"bulk{n}.internal", "externalid": None, "state": "Allocated",
               "created": ctx.now}
        ctx.coll("networks")[rec["id"]] = rec
        out.append(rec)
    return out


def _vms(ctx: Ctx, plan: Plan, zone: str) -> list[dict[str, Any]]:
    if plan.count == 0:
        return []
    net = next(iter(ctx.coll("networks").values()))
    image = next(iter(ctx.coll("isos").values()))
    offering = next(iter(ctx.coll("serviceofferings")))
    disk = next(iter(ctx.coll("diskofferings")))
    out = []
    for i in range(plan.count):
        n = ctx.store.next_seq("vm")
        vm = {"id": ctx.new_id(), "n": n, "name": f"{plan.names}{i}", "displayname": None,
              "group": None, "zoneid": zone, "templateid": image["id"], "isoid": None,
              "serviceofferingid": offering, "diskofferingid": disk, "hypervisor": "KVM",
              "keypair": None, "state": "Stopped", "details": {"tpmversion": "NONE"},
              "nics": [{"id": ctx.new_id(), "n": ctx.store.next_seq("nic"),
                        "networkid": net["id"], "deviceid": 0,
                        "isdefault": True, "ipaddress": f"10.3.{n // 250}.{n % 250}",
                        "macaddress": f"02:01:{n // 256 % 256:02x}:{n % 256:02x}:00:01"}],
              "created": ctx.now, "poweroff_at": None}
        ctx.coll("vms")[vm["id"]] = vm
        vol = {"id": ctx.new_id(), "name": f"ROOT-{n}", "type": "ROOT", "vmid": vm["id"],
               "size": 50 * GIB, "state": "Ready", "diskofferingid": disk, "zoneid": zone,
               "created": ctx.now}
        ctx.coll("volumes")[vol["id"]] = vol
        out.append(vm)
    return out


assert isos  # the ISO commands register before seeding uses their records

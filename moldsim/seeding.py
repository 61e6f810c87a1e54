"""Bulk inventory for scale tests: `POST /moldsim/seed` creates many objects at once,
directly in the store (no jobs, no downloads: everything is ready at once).

Body: {"isos": N, "networks": N, "vms": N, "templates": N, "prefix": "bulk"} — names are
`<prefix>-<kind>-<i>`; the objects carry no tags, so mwin never adopts them. VMs are
Stopped, attached to the first seeded (or existing) network, deployed from the first
seeded ISO, each with a ROOT volume.
"""

from __future__ import annotations

from typing import Any

from moldsim.commands import isos
from moldsim.context import Ctx
from moldsim.images import new_record
from moldsim.vmview import GIB


def seed(ctx: Ctx, body: dict[str, Any]) -> dict[str, int]:
    prefix = str(body.get("prefix", "bulk"))
    zone = ctx.store.zone_ids()[0]
    os_type = next(o["id"] for o in ctx.coll("ostypes").values() if o["name"] == "Windows PV")
    made = {"isos": _images(ctx, "iso", int(body.get("isos", 0)), prefix, zone, os_type),
            "templates": _images(ctx, "template", int(body.get("templates", 0)), prefix, zone,
                                 os_type),
            "networks": _networks(ctx, int(body.get("networks", 0)), prefix, zone)}
    made["vms"] = _vms(ctx, int(body.get("vms", 0)), prefix, zone)
    return made


def _images(ctx: Ctx, kind: str, count: int, prefix: str, zone: str, os_type: str) -> int:
    for i in range(count):
        p = {"name": f"{prefix}-{kind}-{i}", "url": f"http://images.example/{prefix}-{i}.iso",
             "ostypeid": os_type}
        rec = new_record(ctx, kind, p, zone)
        rec.update(dl_start=ctx.now - 1, dl_seconds=0, dl_error=None)
        if kind == "iso":
            rec["bootable"] = True
        else:
            rec.update(format="QCOW2", hypervisor="KVM", templatetype="USER", requireshvm=False,
                       sshkeyenabled=False, sourcetemplateid=None, templatetag=None, details={})
        ctx.coll(f"{kind}s")[rec["id"]] = rec
    return count


def _networks(ctx: Ctx, count: int, prefix: str, zone: str) -> int:
    offering = next(o["id"] for o in ctx.coll("networkofferings").values()
                    if o["guestiptype"] == "Isolated")
    for i in range(count):
        n = ctx.store.next_seq("network")
        rec = {"id": ctx.new_id(), "n": n, "name": f"{prefix}-net-{i}", "displaytext": "bulk",
               "zoneid": zone, "networkofferingid": offering, "gateway": f"10.2.{n % 250}.1",
               "netmask": "255.255.255.0", "cidr": f"10.2.{n % 250}.0/24",
               "networkdomain": f"bulk{n}.internal", "externalid": None, "state": "Allocated",
               "created": ctx.now}
        ctx.coll("networks")[rec["id"]] = rec
    return count


def _vms(ctx: Ctx, count: int, prefix: str, zone: str) -> int:
    if count == 0:
        return 0
    net = next(iter(ctx.coll("networks").values()))
    image = next(iter(ctx.coll("isos").values()))
    offering = next(iter(ctx.coll("serviceofferings")))
    disk = next(iter(ctx.coll("diskofferings")))
    for i in range(count):
        n = ctx.store.next_seq("vm")
        vm = {"id": ctx.new_id(), "n": n, "name": f"{prefix}-vm-{i}", "displayname": None,
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
    return count


assert isos  # the ISO commands register before seeding uses their records

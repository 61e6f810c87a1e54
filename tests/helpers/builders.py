"""Builders for planner and executor unit tests: a catalog, specs from YAML text, live objects
in the spec's vocabulary (as the kind modules' ``observe`` makes them), states.

Live objects are tagged with ``OWNER`` (the owner of every state built here) unless a test
passes another owner (another state's object) or ``owner=None`` (made by mwin 0.1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.model import ADDRESS_TAG, OWNER_TAG, Catalog, CatalogEntry, LiveObject, LiveSnapshot
from reconciler.plan import Plan
from reconciler.spec import SpecDoc, load_spec
from reconciler.state import ResourceState, State

OWNER = "default.0123456789ab"
OTHER_OWNER = "quick.ba9876543210"


def _uuid(n: int) -> str:
    return f"0b0f4a5e-0000-4000-8000-{n:012x}"


ZONE_ID = _uuid(1)
CATALOG = Catalog({
    "zone": [CatalogEntry(ZONE_ID, "Zone1", {}), CatalogEntry(_uuid(2), "Zone2", {})],
    "os_type": [CatalogEntry(_uuid(0xA1), "Windows PV", {}),
                CatalogEntry(_uuid(0xA2), "Windows Server 2022 (64-bit)", {}),
                CatalogEntry(_uuid(0xA4), "Windows 11 (64-bit)", {}),
                CatalogEntry(_uuid(0xA3), "None", {})],
    "service_offering": [CatalogEntry(_uuid(0xB1), "4vCore-8GB", {}),
                         CatalogEntry(_uuid(0xB2), "8vCore-16GB", {})],
    "disk_offering": [CatalogEntry(_uuid(0xC1), "50GB", {"disksize": 50}),
                      CatalogEntry(_uuid(0xC2), "100GB", {"disksize": 100})],
    "network_offering": [CatalogEntry(_uuid(0xD1), "DefaultIsolatedNetworkOfferingWithSourceNatService",
                                      {"guestiptype": "Isolated", "isdefault": True})],
    "api": [CatalogEntry("deployVirtualMachine", "deployVirtualMachine",
                         {"params": [{"name": "tpmversion"}]})],
})


def spec_from(tmp_path: Path, text: str, name: str = "spec.yaml") -> SpecDoc:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    doc, diags = load_spec(path)
    assert doc is not None, str(diags)
    return doc


def tags(address: str | None, owner: str | None = OWNER) -> dict[str, str]:
    if address is None:
        return {}
    return {ADDRESS_TAG: address, **({OWNER_TAG: owner} if owner else {})}


def iso(ident: str, name: str, address: str | None, owner: str | None = OWNER,
        **attrs: Any) -> LiveObject:
    base = {"name": name, "display_text": name, "url": f"https://example.com/{name}.iso",
            "zone": "Zone1", "os_type": "Windows PV", "bootable": True, "public": False,
            "featured": False, "extractable": False, "checksum": None}
    base.update(attrs)
    return LiveObject("iso", ident, name, base, tags(address, owner), "ready")


def network(ident: str, name: str, address: str | None, owner: str | None = OWNER,
            **attrs: Any) -> LiveObject:
    base = {"name": name, "display_text": name, "zone": "Zone1",
            "offering": "DefaultIsolatedNetworkOfferingWithSourceNatService", "gateway": "10.1.1.1",
            "netmask": "255.255.255.0", "network_domain": "cs1cloud.internal", "external_id": None}
    base.update(attrs)
    return LiveObject("network", ident, name, base, tags(address, owner), "Implemented")


def vm(ident: str, name: str, address: str | None, owner: str | None = OWNER, *,
       source: str = "inst", iso_id: str | None = None, cdrom: str | None = None,
       networks: dict[str, str] | None = None, snapshots: dict[str, str] | None = None,
       drives: int = 1, iso_ids: dict[str, str] | None = None, **attrs: Any) -> LiveObject:
    """A VM deployed from ISO ``source``; ``networks`` maps network names to ids (the first
    is the default NIC); ``cdrom``/``iso_id`` the ISO in its drive, or ``iso_ids`` (name ->
    id, first drive first) the ISOs in its ``drives`` drives."""
    if iso_ids:
        names = list(iso_ids)
        cdrom, iso_id = (names[0] if len(names) == 1 else names), iso_ids[names[0]]
    nets = networks or {"net": "n1"}
    snaps = snapshots or {}
    base = {"name": name, "display_name": name, "group": None, "zone": "Zone1", "pod": None,
            "cluster": None, "host": None, "install_iso": None, "template": None,
            "hypervisor": "KVM", "compute_offering": "4vCore-8GB", "disk_offering": "50GB",
            "disk_size": None, "networks": list(nets), "boot.type": "BIOS",
            "boot.mode": "LEGACY", "boot.tpm": "none", "root_disk_controller": None,
            "keyboard": None, "cdrom": cdrom, "state": "stopped", "snapshots": sorted(snaps)}
    base.update(attrs)
    held = iso_ids or ({cdrom: iso_id} if isinstance(cdrom, str) and iso_id else {})
    private = {"iso_id": iso_id, "iso_ids": held, "drives": drives, "source_name": source, "snapshot_ids": snaps,
               "failed_snapshots": {}, "network_ids": nets,
               "nic_network_ids": list(nets.values())}  # as vm.observe makes them
    return LiveObject("vm", ident, name, base, tags(address, owner), str(base["state"]),
                      private)


def template(ident: str, name: str, address: str | None, owner: str | None = OWNER,
             revision: int = 1, from_vm: str = "vm.m1", **attrs: Any) -> LiveObject:
    """A template (in Zone1, not shared, unless ``attrs`` say; ``channel`` adds the channel
    tag and a ``share`` the mwin:shared tag, as mwin leaves them)."""
    channel = attrs.pop("channel", False)
    base = {"name": name, "display_text": name, "os_type": "Windows PV", "public": False,
            "featured": False, "dynamically_scalable": False, "requires_hvm": False,
            "password_enabled": False, "from_vm": from_vm, "revision": revision,
            "zones": ["Zone1"], "share": None}
    base.update(attrs)
    all_tags = {**tags(address, owner), "mwin:revision": str(revision), "mwin:from-vm": from_vm,
                **({"mwin:channel": "stable"} if channel else {}),
                **({"mwin:shared": "true"} if base["share"] is not None else {})}
    return LiveObject("template", ident, name, base, all_tags if address else {}, "ready",
                      {"zone_ids": {z: _zone_id(z) for z in base["zones"]}})


def _zone_id(name: str) -> str:
    return next(e.id for e in CATALOG.tables["zone"] if e.name == name)


def live(*objects: LiveObject) -> LiveSnapshot:
    kinds: dict[str, dict[str, LiveObject]] = {k: {} for k in ("iso", "network", "vm", "template")}
    for obj in objects:
        kinds[obj.kind][obj.id] = obj
    return LiveSnapshot(CATALOG, kinds)


def state(records: dict[str, tuple[str, dict[str, Any]]] | None = None, *,
          protected: tuple[str, ...] = (), owner: str = OWNER) -> State:
    """A state with serial 1 recording ``{address: (id, attributes)}``."""
    resources = {a: ResourceState(id=i, attributes=attrs, protected=a in protected)
                 for a, (i, attrs) in (records or {}).items()}
    return State(serial=1, resources=resources, owner=owner)


def ops(plan: Plan) -> list[tuple[str, str]]:
    return [(a.address, a.operation.value) for a in plan.actions]

"""Reading VMs from Mold: listVirtualMachines joined with their VM snapshots and ROOT
volumes (three list calls for all VMs; for a plan, the last two only where it reads them), in
the spec's vocabulary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Catalog, LiveObject, holder_of, tags_of
from reconciler.mold.api import MoldApi
from reconciler.resources.focus import TARGETED_MAX, Focus, focused_rows
from reconciler.resources.vm.spec import one_or_list

KIND = "vm"
# The kind of object a `{name: …}`/`{id: …}` in each field names (live.plan_focus looks
# them up in that kind's list only).
REF_KINDS = {"install_iso": "iso", "template": "template", "cdrom": "iso", "networks": "network"}

def observe(raw: Mapping[str, Any], catalog: Catalog) -> LiveObject:
    """One VM as ``refresh`` joined it: its listVirtualMachines row with ``vmsnapshots`` (its
    listVMSnapshot rows) and ``rootgb`` (the ROOT volume's size) added."""
    snapshots = list(raw.get("vmsnapshots") or [])
    drive_list = _drives(raw)
    root_gb = raw.get("rootgb")
    details = raw.get("details") or {}
    good = [s for s in snapshots if str(s.get("state", "Ready")) != "Error"]
    uefi = details.get("UEFI") or (raw.get("bootmode") if raw.get("boottype") == "Uefi" else None)
    tpm = str(details.get("tpmversion", "NONE"))
    nics = sorted(raw.get("nic") or [], key=lambda n: (not n.get("isdefault"),
                                                      int(n.get("deviceid", 0) or 0)))
    attrs = {
        "project": raw.get("project"),
        "name": raw.get("name"),
        "display_name": raw.get("displayname") or raw.get("name"),
        "group": raw.get("group") or None,
        "zone": raw.get("zonename") or catalog.name_of("zone", raw.get("zoneid")),
        "pod": None, "cluster": None, "host": None,
        "install_iso": None, "template": None,
        "hypervisor": raw.get("hypervisor"),
        "compute_offering": raw.get("serviceofferingname"),
        "disk_offering": raw.get("diskofferingname"),
        "disk_size": root_gb,
        "networks": [n.get("networkname") for n in nics],
        "boot.type": "UEFI" if uefi else "BIOS",
        "boot.mode": str(uefi).upper() if uefi else "LEGACY",
        "boot.tpm": "2.0" if tpm.upper() in ("2.0", "V2_0") else "none",
        "root_disk_controller": details.get("rootDiskController"),
        "keyboard": details.get("keyboard"),
        "cdrom": one_or_list([str(i.get("name")) for i in drive_list]),
        "state": str(raw.get("state", "")).lower(),
        "snapshots": sorted(_snapshot_name(s) for s in good),
    }
    private = {
        "iso_id": raw.get("isoid"),
        "iso_ids": {str(i.get("name")): i.get("id") for i in drive_list},
        "drives": int(raw.get("isomaxcount") or 1),  # Mold without isomaxcount has one
        "source_name": raw.get("templatename"),
        "snapshot_ids": {_snapshot_name(s): s.get("id") for s in good},
        "failed_snapshots": {_snapshot_name(s): s.get("id") for s in snapshots
                             if s not in good},
        # still being taken (a job that outlived --job-timeout): counted, and said so
        "pending_snapshots": sorted(_snapshot_name(s) for s in good
                                    if str(s.get("state", "Ready")) in ("Allocated", "Creating")),
        "network_ids": {n.get("networkname"): n.get("networkid") for n in nics},
        # network id per NIC, the default NIC first: two NICs in networks of one name (a
        # replaced network's move, interrupted) stay two here
        "nic_network_ids": [str(n.get("networkid")) for n in nics if n.get("networkid")],
    }
    return LiveObject(KIND, str(raw["id"]), str(raw.get("name", "")), attrs, tags_of(raw),
                      raw.get("state"), private, holder=holder_of(raw))


def _drives(raw: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ISOs in the VM's drives, first drive first: ``isos`` (Mold with several drives:
    deviceseq 3 is the first, 4 the second), else the one ``isoid``."""
    if isinstance(raw.get("isos"), list):
        return sorted(raw["isos"], key=lambda i: int(i.get("deviceseq") or 0))
    if raw.get("isoid"):
        return [{"id": raw["isoid"], "name": raw.get("isoname")}]
    return []


def _snapshot_name(row: Mapping[str, Any]) -> str:
    """The name the spec gives a VM snapshot is Mold's display name: createVMSnapshot's
    ``name`` parameter sets ``displayname``, and Mold names the snapshot itself
    ``<instancename>_VS_<yyyyMMddHHmmss>`` (VMSnapshotManagerImpl.allocVMSnapshot)."""
    return str(row.get("displayname") or row.get("name", ""))


def holds(live: LiveObject) -> list[str]:
    """Mold ids this VM keeps in use while it exists: the ISO in its drive, its networks."""
    held = [live.private.get("iso_id"), *live.private.get("iso_ids", {}).values(),
            *live.private.get("network_ids", {}).values(),
            *live.private.get("nic_network_ids", [])]
    return list(dict.fromkeys(str(i) for i in held if i))


def refresh(client: MoldApi, catalog: Catalog, focus: Focus | None = None) -> list[LiveObject]:
    """The account's VMs (``focus``: those the plan needs, resources.focus) with their VM
    snapshots and ROOT disk sizes; with a focus, those two lists only where the plan reads
    them (``_snapshots_read``, ``_disks_read``)."""
    vms = focused_rows(client, focus, "listVirtualMachines", "virtualmachine", {"listall": True})
    snaps = client.list_all("listVMSnapshot", "vmSnapshot", {"listall": True}) \
        if vms and _snapshots_read(focus) else []
    vols = _root_disks(client, focus, vms)
    by_vm: dict[str, list[dict[str, Any]]] = {}
    for snap in snaps:
        by_vm.setdefault(str(snap.get("virtualmachineid")), []).append(snap)
    root = {str(v.get("virtualmachineid")): int(v.get("size") or 0) // (1024 ** 3) for v in vols}
    return [observe({**r, "vmsnapshots": by_vm.get(str(r["id"]), []),
                     "rootgb": root.get(str(r["id"])) or None}, catalog)
            for r in vms if str(r.get("state", "")).lower() != "expunging"]  # Destroyed: GONE


def _snapshots_read(focus: Focus | None) -> bool:
    """Whether a plan reads VM snapshots: a VM declares or recorded some, or its networks
    change (Mold refuses NIC changes while a VM snapshot exists: the planner says so)."""
    if focus is None:
        return True
    for address, spec in focus.declared.items():
        recorded = focus.attributes.get(address, {})
        if spec.snapshots or recorded.get("snapshots"):
            return True
        names = [focus.name_of.get(f"network.{n}", n) if isinstance(n, str) else n.name
                 for n in spec.networks]
        if "networks" in recorded and sorted(map(str, names)) != sorted(
                map(str, recorded.get("networks") or [])):
            return True
    return any(attrs.get("snapshots") for attrs in focus.attributes.values())


def _root_disks(client: MoldApi, focus: Focus | None, vms: list[dict[str, Any]]
                ) -> list[dict[str, Any]]:
    """ROOT volumes, read for the disk size: all of them without a focus; with one, only of
    the VMs that declare ``disk_size`` (a custom disk offering), one call each while few."""
    params = {"listall": True, "type": "ROOT"}
    if focus is None:
        return client.list_all("listVolumes", "volume", params)
    sized = {focus.name_of.get(a, a.split(".", 1)[1]) for a, spec in focus.declared.items()
             if spec.disk_size is not None}
    ids = [str(vm["id"]) for vm in vms if vm.get("name") in sized]
    if not ids:
        return []
    if len(ids) > TARGETED_MAX:
        return client.list_all("listVolumes", "volume", params)
    return [v for i in ids for v in client.list_all("listVolumes", "volume",
                                                    {**params, "virtualmachineid": i})]

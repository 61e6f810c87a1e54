"""The data a fresh moldsim starts with: zones, KVM, OS types, offerings, ROOT and its admin.

Every record here is already in its API shape (these kinds never change at run time).
Ids are random UUID4s; with `--data` they are persisted and so stable across restarts.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from moldsim import identity
from moldsim.clock import stamp

ZONE_NAME = "Zone1"  # the first zone; `--zones N` seeds Zone1 ... ZoneN

# (display name, category name)
OS_TYPES = [
    ("Windows PV", "Windows"),
    ("Windows 11 (64-bit)", "Windows"),
    ("Windows 10 (64-bit)", "Windows"),
    ("Windows 10 (32-bit)", "Windows"),
    ("Windows Server 2022 (64-bit)", "Windows"),
    ("Windows Server 2019 (64-bit)", "Windows"),
    ("Windows Server 2016 (64-bit)", "Windows"),
    ("Windows Server 2012 R2 (64-bit)", "Windows"),
    ("Ubuntu 22.04 LTS", "Ubuntu"),
    ("Ubuntu 20.04 LTS", "Ubuntu"),
    ("Rocky Linux 9", "RedHat"),
    ("Rocky Linux 8", "RedHat"),
    ("Other PV (64-bit)", "Other"),
    ("None", "None"),
]

# (name, cpunumber, memory MB)
SERVICE_OFFERINGS = [("2vCore-4GB", 2, 4096), ("4vCore-8GB", 4, 8192), ("8vCore-16GB", 8, 16384)]

# (name, disksize GB, iscustomized)
DISK_OFFERINGS = [("50GB", 50, False), ("100GB", 100, False), ("200GB", 200, False), ("Custom", 0, True)]

ISOLATED_SERVICES = ["Dhcp", "Dns", "SourceNat", "StaticNat", "Firewall", "PortForwarding", "Lb", "UserData", "Vpn"]


def _id() -> str:
    return str(uuid.uuid4())


def _zone(now: float, index: int = 1) -> dict[str, Any]:
    return {
        "id": _id(), "name": f"Zone{index}", "description": "moldsim zone",
        "networktype": "Advanced", "allocationstate": "Enabled",
        "dns1": "8.8.8.8", "internaldns1": "10.0.0.2", "guestcidraddress": "10.1.0.0/16",
        "securitygroupsenabled": False, "localstorageenabled": False,
        "dhcpprovider": "VirtualRouter", "ismultiarch": False, "type": "Core",
        "hasannotations": False, "tags": [], "resourcedetails": {}, "domainid": None,
    }


def _os_types() -> tuple[dict[str, Any], dict[str, Any]]:
    categories: dict[str, Any] = {}
    types: dict[str, Any] = {}
    for _, cat in OS_TYPES:
        if cat not in {c["name"] for c in categories.values()}:
            cid = _id()
            categories[cid] = {"id": cid, "name": cat}
    by_name = {c["name"]: c["id"] for c in categories.values()}
    for name, cat in OS_TYPES:
        oid = _id()
        types[oid] = {
            "id": oid, "name": name, "description": name,
            "oscategoryid": by_name[cat], "oscategoryname": cat,
            "isuserdefined": False, "fordisplay": True,
        }
    return categories, types


def _service_offerings(now: float) -> dict[str, Any]:
    out = {}
    for name, cpu, mem in SERVICE_OFFERINGS:
        oid = _id()
        out[oid] = {
            "id": oid, "name": name, "displaytext": f"{cpu} vCPU, {mem // 1024} GB RAM",
            "cpunumber": cpu, "cpuspeed": 1000, "memory": mem, "created": stamp(now),
            "iscustomized": False, "offerha": False, "limitcpuuse": False, "isvolatile": False,
            "issystem": False, "defaultuse": False, "storagetype": "shared",
            "provisioningtype": "thin", "dynamicscalingenabled": True,
            "diskofferingstrictness": False, "encryptroot": False, "kvdoenable": False,
            "state": "Active", "hasannotations": False,
        }
    return out


def _disk_offerings(now: float) -> dict[str, Any]:
    out = {}
    for name, size, custom in DISK_OFFERINGS:
        oid = _id()
        out[oid] = {
            "id": oid, "name": name,
            "displaytext": "Custom size disk" if custom else f"{size} GB disk",
            "disksize": size, "iscustomized": custom, "iscustomizediops": False,
            "created": stamp(now), "storagetype": "shared", "provisioningtype": "thin",
            "cacheMode": "none", "encrypt": False, "kvdoenable": False,
            "disksizestrictness": False, "state": "Active", "displayoffering": True,
            "suitableforvirtualmachine": True, "hasannotations": False,
        }
    return out


def _network_offering(name: str, shared: bool, now: float) -> dict[str, Any]:
    services = ["Dhcp", "Dns", "UserData"] if shared else ISOLATED_SERVICES
    return {
        "id": _id(), "name": name,
        "displaytext": ("Offering for Shared networks" if shared
                        else "Offering for Isolated networks with Source Nat service enabled"),
        "guestiptype": "Shared" if shared else "Isolated", "traffictype": "Guest",
        "state": "Enabled", "availability": "Optional" if shared else "Required",
        "isdefault": True, "forvpc": False, "specifyvlan": shared, "specifyipranges": shared,
        "conservemode": True, "egressdefaultpolicy": False, "ispersistent": False,
        "networkmode": "NATTED", "supportsstrechedl2subnet": False,
        "supportspublicaccess": False, "forNsx": False, "fortungsten": False,
        "internetprotocol": "IPv4", "created": stamp(now), "hasannotations": False,
        "service": [{"name": s, "provider": [{"name": "VirtualRouter"}]} for s in services],
    }


def cluster(zone: dict[str, Any], index: int) -> dict[str, Any]:
    """One KVM cluster of a zone (ClusterResponse fields; moldsim has no pods or hosts)."""
    return {"id": _id(), "name": f"Cluster{index}", "zoneid": zone["id"], "zonename": zone["name"],
            "hypervisortype": "KVM", "clustertype": "CloudManaged", "allocationstate": "Enabled",
            "managedstate": "Managed", "arch": "x86_64"}


def ensure_clusters(data: dict[str, Any]) -> bool:
    """Every zone has one cluster (stores of older moldsim versions get theirs now), and the
    store has its secret for upload URLs; True when something was added."""
    clusters = data.setdefault("clusters", {})
    added = False
    for i, zone in enumerate(data.get("zones", {}).values(), start=1):
        if not any(c["zoneid"] == zone["id"] for c in clusters.values()):
            made = cluster(zone, i)
            clusters[made["id"]] = made
            added = True
    if "upload_secret" not in data:
        data["upload_secret"] = secrets.token_urlsafe(32)
        added = True
    return added


def fresh_data(now: float, zones: int = 1) -> dict[str, Any]:
    """A complete store document for a brand-new moldsim (with `zones` zones)."""
    zone_list = [_zone(now, i) for i in range(1, max(1, zones) + 1)]
    categories, os_types = _os_types()
    isolated = _network_offering("DefaultIsolatedNetworkOfferingWithSourceNatService", False, now)
    shared = _network_offering("DefaultSharedNetworkOffering", True, now)
    return {
        "format": 1,
        # per-kind counters for internal numeric ids (VM n in ROOT-n, i-<account n>-<n>-VM);
        # account and user 1 are Mold's system ones, 2 the admin's
        "seq": {"account": 2, "user": 2, "domain": 1},
        **identity.seed(now),
        "settings": {"global": {}, "account": {}, "domain": {}},
        "zones": {zone["id"]: zone for zone in zone_list},
        "clusters": {c["id"]: c for c in (cluster(z, i) for i, z in enumerate(zone_list, start=1))},
        # the upload.post.secret.key of this moldsim (upload URL signatures; never listed)
        "upload_secret": secrets.token_urlsafe(32),
        "hypervisors": ["KVM"],
        "oscategories": categories,
        "ostypes": os_types,
        "serviceofferings": _service_offerings(now),
        "diskofferings": _disk_offerings(now),
        "networkofferings": {isolated["id"]: isolated, shared["id"]: shared},
        "isos": {}, "templates": {}, "networks": {}, "vms": {}, "volumes": {},
        "vmsnapshots": {}, "jobs": {},
        "tags": [],  # list of tag records (see commands/tags.py)
    }

"""The VM as its guest sees it: firmware, boot order, disk bus, hardware, the media in its drives.

Sources (docs/moldsim.md, "Guest model": "Boot order", "Disk bus"): L/M
LibvirtComputingResource.createGuestFromSpec (CDROM then HARDISK in L and upstream), M
configureBootOrder with the VM detail VmDetailConstants.BOOT_ORDER "bootOrder" (cdrom → CD
first, anything else → disk first), Mold's #1084 record (a deploy with additionalisoids:
install ISO boot order 1, ROOT disk 2), L getDiskModelFromVMDetail / getGuestDiskModel,
LibvirtVMDef.DiskDef.DiskBus, KVMGuru.configureVmOsDescription.
"""

from __future__ import annotations

from typing import Any

from moldsim import cdrom, winsetup
from moldsim.context import Ctx

# LibvirtVMDef.DiskDef.DiskBus (L): the values rootDiskController may name
DISK_BUSES = ("ide", "scsi", "virtio", "xen", "usb", "uml", "fdc", "sata")
# L LibvirtComputingResource.getGuestDiskModel: guest OS names that get a virtio-scsi disk
SCSI_OS_PREFIXES = ("Fedora", "CentOS", "Red Hat Enterprise Linux", "Debian GNU/Linux", "FreeBSD",
                    "Oracle", "Other PV", "Windows", "Rocky", "Alma")



def details(vm: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (vm.get("details") or {}).items()}


def image(ctx: Ctx, vm: dict[str, Any]) -> dict[str, Any]:
    rec: dict[str, Any] = ctx.coll("isos").get(vm["templateid"]) or ctx.coll("templates").get(vm["templateid"]) or {}
    return rec


def os_name(ctx: Ctx, vm: dict[str, Any]) -> str:
    """The guest OS display name (KVMGuru passes it when there is no hypervisor mapping)."""
    ostype = ctx.coll("ostypes").get(str(image(ctx, vm).get("ostypeid")), {})
    return str(ostype.get("name") or ostype.get("description") or "")


def boot_order(ctx: Ctx, vm: dict[str, Any]) -> list[str]:
    """The devices in the order Mold's KVM agent hands them to the firmware."""
    if not ctx.release.name.startswith("mold-"):
        return ["cdrom", "hd"]  # U/L createGuestFromSpec: CDROM, then HARDISK
    value = details(vm).get("bootOrder", "").strip().lower()
    if vm.get("iso_boot_first"):  # #1084: install ISO boot order 1, ROOT disk 2
        return ["hd", "cdrom"] if value == "hd" else ["cdrom", "hd"]
    return ["cdrom", "hd"] if value == "cdrom" else ["hd", "cdrom"]  # M configureBootOrder


def disk_bus(ctx: Ctx, vm: dict[str, Any]) -> str:
    """rootDiskController when it names a bus, else the guest OS's default bus."""
    given = details(vm).get("rootDiskController", "").strip().lower()
    if given in DISK_BUSES:
        return given
    name = os_name(ctx, vm)
    if name.startswith("Other PV Virtio-SCSI") or "Ubuntu" in name or name.startswith(SCSI_OS_PREFIXES):
        return "scsi"
    if "UEFI" in details(vm) and name.startswith("Other"):
        return "sata"
    return "ide"


def hardware(ctx: Ctx, vm: dict[str, Any]) -> dict[str, Any]:
    given = details(vm)
    offering = ctx.coll("serviceofferings").get(vm["serviceofferingid"], {})
    root: dict[str, Any] = next((v for v in ctx.coll("volumes").values()
                                 if v["vmid"] == vm["id"] and v["type"] == "ROOT"), {})
    return {"firmware": "UEFI" if "UEFI" in given else "BIOS",
            "secure_boot": given.get("UEFI", "").upper() == "SECURE",
            "tpm": given.get("tpmversion", "NONE"),
            "cpus": int(given.get("cpuNumber") or offering.get("cpunumber") or 0),
            "memory_mb": int(given.get("memory") or offering.get("memory") or 0),
            "disk_gib": int(root.get("size") or 0) / 1024 ** 3}


def drive_media(ctx: Ctx, iso_id: str | None) -> tuple[dict[str, Any] | None, winsetup.SetupMedia | None]:
    """(the ISO record, its medium) for an ISO whose uploaded bytes moldsim holds."""
    iso = ctx.coll("isos").get(iso_id) if iso_id else None
    upload = (iso or {}).get("upload") or {}
    if iso is None or upload.get("state") != "Uploaded" or not upload.get("path"):
        return iso, None
    return iso, winsetup.load(str(upload["path"]), str(upload.get("sha256") or ""))


def attached(ctx: Ctx, vm: dict[str, Any]) -> list[winsetup.SetupMedia]:
    """Every attached medium moldsim holds the bytes of, boot drive first."""
    found = [drive_media(ctx, iso_id)[1] for iso_id in cdrom.slots(vm).values()]
    return [m for m in found if m is not None and m.media is not None]

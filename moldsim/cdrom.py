"""CD-ROM drives of a VM: classic Mold's one drive, and Mold 4.23's several (profile mold-4.23).

A VM record keeps the ISO of its first drive (device sequence 3, hdc) in `isoid`, as Mold's
`vm_instance.iso_id`, and those of further drives in `extra_isos` {"4": iso id, ...}, as M's
`vm_iso_map` rows (VmIsoMapVO: vm id, ISO id, device sequence).

Sources (M = ablecloud-team/ablestack-cloud, U = apache/cloudstack; docs/moldsim.md, "CD-ROM
drives"):
- M api/.../response/UserVmResponse.java @0b10227: `isos` (AttachedIsoResponse list, since
  4.23.0, "The first entry mirrors isoid/isoname") and `isomaxcount` ("after applying the
  cluster-scoped vm.iso.max.count and the hypervisor's own cap").
- M server/.../api/query/dao/UserVmJoinDaoImpl.java @0b10227 newUserVmResponse: the first drive
  (TemplateManager.CDROM_PRIMARY_DEVICE_SEQ) with the ISO's own bootable flag, then every
  vm_iso_map row with bootable false; effectiveCdromMaxCount = min(VmIsoMaxCount.valueIn(the
  cluster of the VM's host, last host or the zone's first host), that host's
  HOST_CDROM_MAX_COUNT detail).
- U api/.../response/AttachedIsoResponse.java: id, name, displaytext, deviceseq ("3=hdc,
  4=hdd"); M's constructor takes a fifth argument, bootable (its JSON key was not read).
- U api/.../command/user/iso/DetachIsoCmd.java: `id` since 4.23.0, "Required when the Instance
  has more than one ISO attached".
- Mold verification records "#1084 구현·배포·검증 기록" (additionalisoids: one non-bootable ISO,
  KVM, a bootable install ISO, duplicates refused with 431 before the VM exists, slots 3/4
  stored at creation, startvm=false keeps them for the start; vm.iso.max.count 1 → 2) and
  "VM ISO 관리 개선 검증 — #1124" (a per-VM lock around attachISOToVM; count and duplicates
  re-checked inside it; a detach re-checks that its ISO is still attached; detaching the
  first drive leaves the second one as it is).
The refusal texts of the multi-drive checks were not found in the source that could be read:
the ones below marked "moldsim's wording" are moldsim's own; their codes (431, as an
InvalidParameterValueException) follow the records.
"""

from __future__ import annotations

from typing import Any

from moldsim import errors, identity, profiles, settings
from moldsim.context import Ctx

PRIMARY_SEQ = 3  # TemplateManager.CDROM_PRIMARY_DEVICE_SEQ (hdc)

# moldsim's wording (Mold's texts not read; see the module docstring)
FULL = "The VM already has {count} ISO(s) attached, the most it may have (isomaxcount {cap})."
ALREADY = "The ISO {name} is already attached to the VM."
NOT_ATTACHED = "The ISO {id} is not attached to the VM."
WHICH = "The VM has more than one ISO attached; specify the ISO to detach with id."
EXTRA_ONE = "Only one additional ISO may be given in additionalisoids."
EXTRA_KVM = "additionalisoids is supported only for the KVM hypervisor."
EXTRA_FROM_ISO = "additionalisoids needs an installation ISO in templateid."
EXTRA_DUPLICATE = "The ISO {id} is given more than once (templateid, additionalisoids)."
EXTRA_BOOTABLE = "The additional ISO {name} must not be bootable."
# Mold's own (L/M TemplateManagerImpl.attachIso), also used for an additional ISO
NOT_IN_ZONE = "ISO is not available in the zone the VM is in."


def multi(ctx: Ctx) -> bool:
    return profiles.multi_cdrom(ctx.release)


def slots(vm: dict[str, Any]) -> dict[int, str]:
    """Device sequence → ISO id of every drive that holds an ISO."""
    out = {PRIMARY_SEQ: vm["isoid"]} if vm.get("isoid") else {}
    out.update({int(seq): iso for seq, iso in (vm.get("extra_isos") or {}).items() if iso})
    return dict(sorted(out.items()))


def holds(vm: dict[str, Any], iso_id: str) -> bool:
    """The ISO is in one of the VM's drives."""
    return iso_id in slots(vm).values()


def cluster_of(ctx: Ctx, vm: dict[str, Any]) -> str | None:
    """The cluster whose vm.iso.max.count applies: moldsim has one cluster per zone."""
    return next((c["id"] for c in ctx.coll("clusters").values() if c["zoneid"] == vm["zoneid"]), None)


def max_count(ctx: Ctx, vm: dict[str, Any]) -> int:
    """UserVmJoinDaoImpl.effectiveCdromMaxCount: min(vm.iso.max.count for the VM's cluster,
    the host's HOST_CDROM_MAX_COUNT)."""
    configured = int(settings.number(ctx.store, ctx.config, "vm.iso.max.count", cluster_of(ctx, vm)))
    return max(0, min(configured, int(ctx.config.host_cdrom_max_count)))


def view_fields(ctx: Ctx, vm: dict[str, Any], out: dict[str, Any]) -> None:
    """`isos` (one entry per drive with an ISO, by device sequence; [] with none) and
    `isomaxcount`, on the mold-4.23 profile only."""
    if not multi(ctx):
        return
    entries = []
    for seq, iso_id in slots(vm).items():
        iso = ctx.coll("isos").get(iso_id)
        if iso is None:
            continue
        entries.append({"id": iso["id"], "name": iso["name"], "displaytext": iso["displaytext"],
                        "deviceseq": seq, "bootable": bool(iso.get("bootable")) and seq == PRIMARY_SEQ})
    out["isos"] = entries
    out["isomaxcount"] = max_count(ctx, vm)


def check_additional(ctx: Ctx, p: dict[str, Any], source: dict[str, Any],
                     owner: dict[str, Any]) -> dict[str, str]:
    """deployVirtualMachine additionalisoids (mold-4.23), before the VM exists (431; access
    531): one ISO, KVM, an install ISO in templateid (bootable, checked before), no duplicate,
    a non-bootable additional ISO that caller and owner may use, in the VM's zone. Returns the
    drives to store: {"4": iso id}."""
    extra = list(p.get("additionalisoids") or [])
    if not extra:
        return {}
    if len(set(extra)) != len(extra) or source["id"] in extra:
        dup = next(i for i in extra if i == source["id"] or extra.count(i) > 1)
        raise errors.param_error(EXTRA_DUPLICATE.format(id=dup))
    if len(extra) > 1:
        raise errors.param_error(EXTRA_ONE)
    if source["kind"] != "iso":
        raise errors.param_error(EXTRA_FROM_ISO)
    if str(p.get("hypervisor") or "").upper() != "KVM":
        raise errors.param_error(EXTRA_KVM)
    iso = ctx.coll("isos")[extra[0]]
    if iso.get("bootable"):
        raise errors.param_error(EXTRA_BOOTABLE.format(name=iso["name"]))
    identity.check_template(ctx.store, ctx.account, iso, operate=False)
    owner_acct = identity.account(ctx.store, owner["id"]) or ctx.account
    identity.check_template(ctx.store, owner_acct, iso, operate=False)
    if iso["zoneid"] not in (None, p["zoneid"]):
        raise errors.param_error(NOT_IN_ZONE)
    return {str(PRIMARY_SEQ + 1): iso["id"]}


def attach(ctx: Ctx, vm: dict[str, Any], iso: dict[str, Any]) -> None:
    """Put the ISO in a drive. Classic Mold: the one drive, replacing what is in it. Mold 4.23
    (inside the per-VM lock of #1124, so against the VM as it is now): refused when it is
    attached already or every drive up to isomaxcount is taken; else the lowest free drive."""
    if not multi(ctx):
        vm["isoid"] = iso["id"]
        return
    taken = slots(vm)
    if iso["id"] in taken.values():
        raise errors.param_error(ALREADY.format(name=iso["name"]))
    cap = max_count(ctx, vm)
    if len(taken) >= cap:
        raise errors.param_error(FULL.format(count=len(taken), cap=cap))
    seq = next(s for s in range(PRIMARY_SEQ, PRIMARY_SEQ + cap + len(taken) + 1) if s not in taken)
    if seq == PRIMARY_SEQ:
        vm["isoid"] = iso["id"]
    else:
        vm.setdefault("extra_isos", {})[str(seq)] = iso["id"]


def detach(ctx: Ctx, vm: dict[str, Any], iso_id: str | None) -> None:
    """Empty a drive. No ISO at all: Mold's 431 "The specified VM has no ISO attached to it.".
    Mold 4.23: `id` names the ISO (re-checked: it must still be attached); without it, the
    only ISO, or a refusal while several are attached. The other drives stay as they are."""
    taken = slots(vm)
    if not taken:
        raise errors.param_error("The specified VM has no ISO attached to it.")
    if not multi(ctx):
        vm["isoid"] = None
        return
    if iso_id is None:
        if len(taken) > 1:
            raise errors.param_error(WHICH)
        iso_id = next(iter(taken.values()))
    seq = next((s for s, i in taken.items() if i == iso_id), None)
    if seq is None:
        raise errors.param_error(NOT_ATTACHED.format(id=iso_id))
    if seq == PRIMARY_SEQ:
        vm["isoid"] = None
    else:
        vm["extra_isos"].pop(str(seq), None)


def queue_seconds(ctx: Ctx, vm_id: str) -> float | None:
    """Mold #1124's per-VM lock (mold-4.23): an attach/detach job on a VM with such a job still
    running starts when that one ends, so it ends one job duration after it. None: no wait."""
    if not multi(ctx):
        return None
    ends = [j["due"] for j in ctx.coll("jobs").values()
            if j["status"] == 0 and not j.get("hung") and j["instanceid"] == vm_id
            and j["command"] in ("attachIso", "detachIso")]
    if not ends:
        return None
    return max(0.0, max(ends) - ctx.now) + max(0.0, float(ctx.config.job_seconds))

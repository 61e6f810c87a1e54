"""VMs: deployed from an install ISO (or a template), with boot firmware, TPM, the ISO
in the CD drive, power state and named VM snapshots.

Rules (ATTRS):
- deploy-only, change forces replacement: zone, pod/cluster/host, the deploy source
  (install_iso/template), hypervisor, disk_offering, disk_size, networks (mwin does
  not add or remove NICs), boot type/mode, TPM, root_disk_controller, keyboard.
  Boot type is loudest: an installed OS cannot change firmware.
- in place: display_name, group (updateVirtualMachine).
- in place while stopped: name (hostname) and compute_offering
  (changeServiceForVirtualMachine); a running VM is stopped, changed, started.
- steps: cdrom → detach_iso / attach_iso (never both at once: detach first);
  state → start / stop (stop waits for a guest-initiated power-off first);
  snapshots → create_snapshot / delete_snapshot (only snapshots mwin made are deleted).
Omitting ``cdrom`` leaves the drive as the deploy left it (the install ISO).
Execution lives in ``vm_exec``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictInt, StrictStr, field_validator

from reconciler.address import Address
from reconciler.plan import Operation
from reconciler.resources.base import (
    Attr,
    Desired,
    Draft,
    LiveObject,
    OnChange,
    Ref,
    ResourceSpec,
    SpecModel,
    casefold_equal,
    diff_attrs,
    tags_of,
)
from reconciler.resources.common import replace_reason, split_changes

# The kind's API functions live in sibling modules; `x as x` re-exports them.
from reconciler.resources.vm_exec import execute as execute
from reconciler.resources.vm_rules import UNSET
from reconciler.resources.vm_rules import desired as desired
from reconciler.resources.vm_rules import validate as validate

KIND = "vm"
SECTION = "vms"
RESOURCE_TYPE = "UserVm"
LIST_COMMAND = "listVirtualMachines"  # also listVMSnapshot and listVolumes
BOOT_TYPE_REASON = ("boot type can never change once the OS is installed: the VM and its "
                    "disk are destroyed and deployed again")

IsoRef = StrictStr | Ref


class Boot(SpecModel):
    type: Literal["BIOS", "UEFI"] = "BIOS"
    mode: Literal["LEGACY", "SECURE"] | None = Field(None, description="default LEGACY")
    tpm: Literal["none", "2.0"] = "none"

    @field_validator("type", "mode", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("tpm", mode="before")
    @classmethod
    def _tpm(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "")):
            return "none"
        if value in (2, 2.0) or (isinstance(value, str) and value.lower() in ("2", "2.0", "v2_0")):
            return "2.0"
        return value


class Spec(ResourceSpec):
    """One entry of `vms:`."""

    name: StrictStr | None = Field(None, description="Hostname in Mold (default: the key)")
    display_name: StrictStr | None = None
    zone: StrictStr | None = None
    pod: StrictStr | None = None
    cluster: StrictStr | None = None
    host: StrictStr | None = None
    install_iso: IsoRef | None = Field(None, description="ISO to install from (deploy source)")
    template: IsoRef | None = Field(None, description="Template to deploy from (deploy source)")
    hypervisor: StrictStr | None = None
    compute_offering: StrictStr
    disk_offering: StrictStr | None = Field(None, description="Root disk offering (ISO deploys)")
    disk_size: StrictInt | None = Field(None, ge=1, description="GB, for a custom disk offering")
    networks: list[IsoRef] = Field(min_length=1)
    boot: Boot = Boot()
    root_disk_controller: Literal["ide", "sata", "virtio", "scsi"] | None = None
    keyboard: StrictStr | None = None
    group: StrictStr | None = None
    cdrom: IsoRef | None = Field(None, description="ISO in the drive (null: empty; omitted: as "
                                                   "deployed)")
    state: Literal["running", "stopped"] = "running"
    snapshots: list[StrictStr] = Field(default_factory=list)
    ssh_key_pair: StrictStr | None = Field(None, description="Not for Windows VMs")


ATTRS: tuple[Attr, ...] = (
    Attr("name", OnChange.NEEDS_STOP, "updateVirtualMachine"),
    Attr("display_name", OnChange.IN_PLACE, "updateVirtualMachine"),
    Attr("group", OnChange.IN_PLACE, "updateVirtualMachine"),
    Attr("zone", OnChange.REPLACE, equal=casefold_equal),
    Attr("pod", OnChange.REPLACE, optional=True),
    Attr("cluster", OnChange.REPLACE, optional=True),
    Attr("host", OnChange.REPLACE, optional=True),
    Attr("source", OnChange.REPLACE, replace_reason="the VM is deployed from another image"),
    Attr("hypervisor", OnChange.REPLACE, equal=casefold_equal),
    Attr("compute_offering", OnChange.NEEDS_STOP, "changeServiceForVirtualMachine"),
    Attr("disk_offering", OnChange.REPLACE, optional=True),
    Attr("disk_size", OnChange.REPLACE, optional=True),
    Attr("networks", OnChange.REPLACE, replace_reason="mwin does not add or remove NICs"),
    Attr("boot_type", OnChange.REPLACE, replace_reason=BOOT_TYPE_REASON),
    Attr("boot_mode", OnChange.REPLACE),
    Attr("tpm", OnChange.REPLACE, replace_reason="TPM is set at deploy time"),
    Attr("root_disk_controller", OnChange.REPLACE, optional=True, equal=casefold_equal),
    Attr("keyboard", OnChange.REPLACE, optional=True),
    Attr("cdrom", OnChange.STEP),
    Attr("state", OnChange.STEP),
    Attr("snapshots", OnChange.STEP),
)
DEPLOY_ONLY_FROM_STATE = ("pod", "cluster", "host")  # not readable back: compared with state
_NOT_DIFFED = {"cdrom", "state", "snapshots"}


def references(spec: Spec) -> list[tuple[str, Address]]:
    refs = []
    for field_name, kind, value in (("install_iso", "iso", spec.install_iso),
                                    ("template", "template", spec.template),
                                    ("cdrom", "iso", spec.cdrom)):
        if isinstance(value, str):
            refs.append((field_name, Address(kind, value)))
    refs += [(f"networks.{i}", Address("network", n)) for i, n in enumerate(spec.networks)
             if isinstance(n, str)]
    return refs


def observe(raw: dict[str, Any], catalog: Any, snapshots: list[dict[str, Any]],
            root_gb: int | None) -> LiveObject:
    details = raw.get("details") or {}
    uefi = details.get("UEFI") or (raw.get("bootmode") if raw.get("boottype") == "Uefi" else None)
    tpm = str(details.get("tpmversion", "NONE"))
    nics = sorted(raw.get("nic") or [], key=lambda n: int(n.get("deviceid", 0) or 0))
    attrs = {
        "name": raw.get("name"),
        "display_name": raw.get("displayname") or raw.get("name"),
        "group": raw.get("group") or None,
        "zone": raw.get("zonename") or catalog.name_of("zone", raw.get("zoneid")),
        "pod": None, "cluster": None, "host": None,
        "source": raw.get("templatename"),
        "hypervisor": raw.get("hypervisor"),
        "compute_offering": raw.get("serviceofferingname"),
        "disk_offering": raw.get("diskofferingname"),
        "disk_size": root_gb,
        "networks": [n.get("networkname") for n in nics],
        "boot_type": "UEFI" if uefi else "BIOS",
        "boot_mode": str(uefi).upper() if uefi else "LEGACY",
        "tpm": "2.0" if tpm.upper() in ("2.0", "V2_0") else "none",
        "root_disk_controller": details.get("rootDiskController"),
        "keyboard": details.get("keyboard"),
        "cdrom": raw.get("isoname"),
        "state": str(raw.get("state", "")).lower(),
        "snapshots": sorted(s.get("name", "") for s in snapshots),
    }
    live = LiveObject(KIND, str(raw["id"]), str(raw.get("name", "")), attrs, tags_of(raw),
                      raw.get("state"))
    live.attrs["_iso_id"] = raw.get("isoid")
    live.attrs["_snapshot_ids"] = {s.get("name"): s.get("id") for s in snapshots}
    return live


def refresh(client: Any, catalog: Any) -> list[LiveObject]:
    vms = client.list_all("listVirtualMachines", "virtualmachine", {"listall": True})
    snaps = client.list_all("listVMSnapshot", "vmSnapshot", {"listall": True})
    vols = client.list_all("listVolumes", "volume", {"listall": True, "type": "ROOT"})
    by_vm: dict[str, list[dict[str, Any]]] = {}
    for snap in snaps:
        by_vm.setdefault(str(snap.get("virtualmachineid")), []).append(snap)
    root = {str(v.get("virtualmachineid")): int(v.get("size") or 0) // (1024 ** 3) for v in vols}
    return [observe(r, catalog, by_vm.get(str(r["id"]), []), root.get(str(r["id"])) or None)
            for r in vms if str(r.get("state", "")).lower() not in ("destroyed", "expunging")]


# --- planning ----------------------------------------------------------------------------

def plan_changes(desired: Desired, live: LiveObject | None, ctx: Any) -> list[Draft]:
    needs = list(desired.inputs.get("_needs", []))
    if live is None:
        return _deploy(desired, None, ctx, needs, "declared in the spec, not in Mold")
    recorded = ctx.state_attrs(str(desired.address))
    current = {**live.attrs, **{k: recorded.get(k) for k in DEPLOY_ONLY_FROM_STATE}}
    visible = set(desired.attrs["snapshots"]) | set(recorded.get("snapshots") or [])
    current["snapshots"] = [n for n in live.attrs["snapshots"] if n in visible]
    diffable = tuple(a for a in ATTRS if a.name not in _NOT_DIFFED)
    changes = diff_attrs(diffable, desired.attrs, current)
    replace, in_place = split_changes(changes)
    if replace:
        return _deploy(desired, live, ctx, needs, replace_reason(replace),
                       [c.attr.name for c in changes], [c.attr.name for c in replace])
    drafts = _in_place(desired, live, current, in_place)
    state_now = drafts[-1].after if drafts else current
    return drafts + _steps(desired, live, dict(state_now or current), ctx)


def _public(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if not k.startswith("_")}


def _deploy(desired: Desired, live: LiveObject | None, ctx: Any, needs: list[str], reason: str,
            changed: list[str] | None = None, requires: list[str] | None = None) -> list[Draft]:
    from_iso = desired.inputs.get("source_kind") == "iso"
    start = from_iso or desired.attrs["state"] == "running"
    after = {**desired.attrs, "cdrom": desired.attrs["_install_iso_name"] if from_iso else None,
             "state": "running" if start else "stopped", "snapshots": []}
    op = Operation.CREATE if live is None else Operation.REPLACE
    inputs = {**desired.inputs, "startvm": start}
    draft = Draft(op, reason, before=_public(live.attrs) if live else None, after=_public(after),
                  changed=changed or [], requires_replace=requires or [], inputs=inputs,
                  needs=needs)
    return [draft] + _steps(desired, None, after, ctx)


def _in_place(desired: Desired, live: LiveObject, current: dict[str, Any],
              changes: list[Any]) -> list[Draft]:
    drafts: list[Draft] = []
    state = dict(current)
    stop_first = [c for c in changes if c.attr.on_change is OnChange.NEEDS_STOP]
    if stop_first and state["state"] == "running":
        names = ", ".join(c.attr.name for c in stop_first)
        drafts.append(_state_draft(Operation.STOP, state, f"{names} can only change while the "
                                                         "VM is stopped"))
        state = dict(drafts[-1].after or {})
    offering = [c for c in changes if c.attr.name == "compute_offering"]
    if offering:
        after = {**state, "compute_offering": offering[0].after}
        drafts.append(Draft(Operation.CHANGE_OFFERING, "compute_offering changed (needs the VM "
                            "stopped)", before=_public(state), after=_public(after),
                            changed=["compute_offering"],
                            inputs={"serviceofferingid": desired.inputs["serviceofferingid"]}))
        state = after
    updates = [c for c in changes if c.attr.command == "updateVirtualMachine"]
    if updates:
        after = {**state, **{c.attr.name: c.after for c in updates}}
        drafts.append(Draft(Operation.UPDATE, f"{', '.join(c.attr.name for c in updates)} "
                            "changed: update in place", before=_public(state),
                            after=_public(after), changed=[c.attr.name for c in updates]))
        state = after
    if stop_first and current["state"] == "running" and desired.attrs["state"] == "running":
        drafts.append(_state_draft(Operation.START, state, "start again after the change"))
    return drafts


def _state_draft(op: Operation, state: dict[str, Any], reason: str, **inputs: Any) -> Draft:
    after = {**state, "state": "stopped" if op is Operation.STOP else "running"}
    return Draft(op, reason, before=_public(state), after=_public(after), changed=["state"],
                 inputs=dict(inputs))


def _steps(desired: Desired, live: LiveObject | None, state: dict[str, Any], ctx: Any
           ) -> list[Draft]:
    """cdrom, power state and snapshots, from the attributes the VM has at this point."""
    drafts: list[Draft] = []
    want = desired.attrs
    recorded = ctx.state_attrs(str(desired.address))

    def drifted(name: str) -> bool:  # Mold changed it behind mwin's back
        return live is not None and name in recorded and recorded[name] != live.attrs.get(name)

    if want["cdrom"] != UNSET and want["cdrom"] != state.get("cdrom"):
        if state.get("cdrom") is not None:
            after = {**state, "cdrom": None}
            iso_id = live.attrs.get("_iso_id") if live else None
            drafts.append(Draft(Operation.DETACH_ISO, f"eject {state['cdrom']!r} from the drive",
                                before=_public(state), after=_public(after), changed=["cdrom"],
                                releases=[iso_id] if iso_id else [], drift=drifted("cdrom")))
            state = after
        if want["cdrom"] is not None:
            after = {**state, "cdrom": want["cdrom"]}
            drafts.append(Draft(Operation.ATTACH_ISO, f"insert {want['cdrom']!r} into the drive",
                                before=_public(state), after=_public(after), changed=["cdrom"],
                                inputs={"isoid": desired.inputs["cdrom_id"]},
                                needs=list(desired.inputs.get("_cdrom_needs", [])),
                                drift=drifted("cdrom")))
            state = after
    if want["state"] != state.get("state"):
        op = Operation.START if want["state"] == "running" else Operation.STOP
        drafts.append(_state_draft(op, state, f"declared {want['state']}"))
        drafts[-1].drift = drifted("state")
        state = dict(drafts[-1].after or {})
    drafts += _snapshot_steps(desired, live, state, ctx)
    return drafts


def _snapshot_steps(desired: Desired, live: LiveObject | None, state: dict[str, Any], ctx: Any
                    ) -> list[Draft]:
    drafts = []
    have = list(state.get("snapshots") or [])
    managed = set(ctx.state_attrs(str(desired.address)).get("snapshots") or [])
    ids = live.attrs.get("_snapshot_ids", {}) if live else {}
    for name in desired.attrs["snapshots"]:
        if name not in have:
            after = {**state, "snapshots": sorted(have + [name])}
            drafts.append(Draft(Operation.CREATE_SNAPSHOT, f"take VM snapshot {name!r}",
                                before=_public(state), after=_public(after),
                                changed=["snapshots"], inputs={"name": name}))
            state, have = after, list(after["snapshots"])
    for name in sorted(set(have) - set(desired.attrs["snapshots"])):
        if name in managed and name in ids:
            after = {**state, "snapshots": sorted(set(have) - {name})}
            drafts.append(Draft(Operation.DELETE_SNAPSHOT, f"VM snapshot {name!r} is no longer "
                                "declared", before=_public(state), after=_public(after),
                                changed=["snapshots"], inputs={"snapshot_id": ids[name]}))
            state, have = after, list(after["snapshots"])
    return drafts

"""VMs: deployed from an install ISO (or a template), with boot firmware, TPM, the ISO
in the CD drive, networks, power state and named VM snapshots.

Rules (ATTRS):
- deploy-only (DEPLOY_ONLY): the deploy source (``install_iso``/``template``), pod/cluster/
  host, hypervisor, disk_offering, disk_size, root_disk_controller, keyboard. They are set
  when the VM is deployed; once it exists (with an OS installed on its disk) a different value
  in the spec is a plan warning and nothing else: a new Mold id behind the same ISO resource,
  or the spec pointing at another image, never redeploys a VM. ``--replace`` does, on purpose.
- replacement, loud: zone, boot.type (an installed OS cannot change firmware), boot.mode,
  boot.tpm (set at deploy time).
- in place: display_name, group (updateVirtualMachine).
- in place while stopped: name (hostname) and compute_offering
  (changeServiceForVirtualMachine); a running VM is stopped, changed, started.
- steps: networks → add_nic / update_default_nic / remove_nic (the first network is the
  default NIC); cdrom → detach_iso / attach_iso (never both at once: detach first);
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
    deploy_only_changes,
    diff_attrs,
    tags_of,
)
from reconciler.resources.common import replace_reason, split_changes

# The kind's API functions live in sibling modules; `x as x` re-exports them.
from reconciler.resources.vm_exec import execute as execute
from reconciler.resources.vm_rules import UNSET, tpm_input
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
    type: Literal["BIOS", "UEFI"] = Field("BIOS", description="Firmware: BIOS or UEFI (Windows 11 "
                                                              "needs UEFI). Fixed once the OS is "
                                                              "installed")
    mode: Literal["LEGACY", "SECURE"] | None = Field(
        None, description="LEGACY (default) or SECURE (Secure Boot; needs UEFI)")
    tpm: Literal["none", "2.0"] = Field("none", description='"2.0" for a TPM 2.0 (Windows 11), '
                                                            "or none")

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
    networks: list[IsoRef] = Field(min_length=1, description="Networks, one NIC each; the "
                                                             "first is the default NIC")
    boot: Boot = Field(default_factory=Boot, description="Firmware, Secure Boot and TPM")
    root_disk_controller: Literal["ide", "sata", "virtio", "scsi"] | None = None
    keyboard: StrictStr | None = None
    group: StrictStr | None = None
    cdrom: IsoRef | None = Field(None, description="ISO in the drive (null: empty; omitted: as "
                                                   "deployed)")
    state: Literal["running", "stopped"] = Field("running", description="Power state")
    snapshots: list[StrictStr] = Field(default_factory=list,
                                       description="Names of VM snapshots to keep")
    ssh_key_pair: StrictStr | None = Field(None, description="Not for Windows VMs")


def _same_networks(a: Any, b: Any) -> bool:
    """The same networks with the same default NIC; the order of the others does not matter."""
    return bool(a) and bool(b) and a[0] == b[0] and set(a) == set(b)


ATTRS: tuple[Attr, ...] = (
    Attr("project", OnChange.DEPLOY_ONLY, optional=True),
    Attr("name", OnChange.NEEDS_STOP, "updateVirtualMachine"),
    Attr("display_name", OnChange.IN_PLACE, "updateVirtualMachine"),
    Attr("group", OnChange.IN_PLACE, "updateVirtualMachine", optional=True),  # none: keep it
    Attr("zone", OnChange.REPLACE, equal=casefold_equal,
         replace_reason="a VM cannot move to another zone: it is deployed again there"),
    Attr("pod", OnChange.DEPLOY_ONLY, optional=True),
    Attr("cluster", OnChange.DEPLOY_ONLY, optional=True),
    Attr("host", OnChange.DEPLOY_ONLY, optional=True),
    Attr("install_iso", OnChange.DEPLOY_ONLY),
    Attr("template", OnChange.DEPLOY_ONLY),
    Attr("hypervisor", OnChange.DEPLOY_ONLY, equal=casefold_equal),
    Attr("compute_offering", OnChange.NEEDS_STOP, "changeServiceForVirtualMachine"),
    Attr("disk_offering", OnChange.DEPLOY_ONLY, optional=True),
    Attr("disk_size", OnChange.DEPLOY_ONLY, optional=True),
    Attr("networks", OnChange.STEP, equal=_same_networks),
    Attr("boot.type", OnChange.REPLACE, replace_reason=BOOT_TYPE_REASON, optional=True),
    Attr("boot.mode", OnChange.REPLACE, replace_reason="Secure Boot is set at deploy time",
         optional=True),
    Attr("boot.tpm", OnChange.REPLACE, replace_reason="TPM is set at deploy time",
         optional=True),
    Attr("root_disk_controller", OnChange.DEPLOY_ONLY, optional=True, equal=casefold_equal),
    Attr("keyboard", OnChange.DEPLOY_ONLY, optional=True),
    Attr("cdrom", OnChange.STEP),
    Attr("state", OnChange.STEP),
    Attr("snapshots", OnChange.STEP),
)
FROM_STATE = ("pod", "cluster", "host", "install_iso", "template")  # not readable back from Mold
_STEPS = {a.name for a in ATTRS if a.on_change is OnChange.STEP}
_SOURCE_KEYS = ("install_iso", "template")


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
        "cdrom": raw.get("isoname"),
        "state": str(raw.get("state", "")).lower(),
        "snapshots": sorted(_snapshot_name(s) for s in good),
    }
    private = {
        "iso_id": raw.get("isoid"),
        "source_name": raw.get("templatename"),
        "snapshot_ids": {_snapshot_name(s): s.get("id") for s in good},
        "failed_snapshots": {_snapshot_name(s): s.get("id") for s in snapshots
                             if s not in good},
        "network_ids": {n.get("networkname"): n.get("networkid") for n in nics},
    }
    return LiveObject(KIND, str(raw["id"]), str(raw.get("name", "")), attrs, tags_of(raw),
                      raw.get("state"), private)


def _snapshot_name(row: dict[str, Any]) -> str:
    """The name the spec gives a VM snapshot is Mold's display name: createVMSnapshot's
    ``name`` parameter sets ``displayname``, and Mold names the snapshot itself
    ``<instancename>_VS_<yyyyMMddHHmmss>`` (VMSnapshotManagerImpl.allocVMSnapshot)."""
    return str(row.get("displayname") or row.get("name", ""))


def holds(live: LiveObject) -> list[str]:
    """Mold ids this VM keeps in use while it exists: the ISO in its drive, its networks."""
    held = [live.private.get("iso_id")] + list(live.private.get("network_ids", {}).values())
    return [str(i) for i in held if i]


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
    if live is None:
        return _deploy(desired, None, ctx, "declared in the spec, not in Mold")
    current = _current(desired, live, ctx)
    diffable = tuple(a for a in ATTRS if a.name not in _STEPS)
    changes = diff_attrs(diffable, desired.attrs, current)
    replace, in_place = split_changes(changes)
    if replace:
        return _deploy(desired, live, ctx, replace_reason(replace),
                       [c.attr.name for c in changes], [c.attr.name for c in replace])
    _warn_deploy_only(desired, current, ctx)
    drafts = _in_place(desired, live, current, in_place)
    state_now = drafts[-1].after if drafts else current
    return drafts + _steps(desired, live, dict(state_now or current), ctx)


def _current(desired: Desired, live: LiveObject, ctx: Any) -> dict[str, Any]:
    """What the VM is now, in the spec's words: Mold's answer, plus what only state knows
    (placement and the deploy source as the spec named them when it was deployed)."""
    recorded = ctx.state_attrs(str(desired.address))
    current = {**live.attrs, **{k: recorded.get(k) for k in FROM_STATE if k in recorded}}
    if not any(recorded.get(k) for k in _SOURCE_KEYS):  # adopted, or recorded by mwin 0.1
        same = live.private.get("source_name") == desired.private.get("source_name")
        for key in _SOURCE_KEYS:
            current[key] = desired.attrs[key] if same else (
                live.private.get("source_name") if desired.attrs[key] is not None else None)
    for name in ctx.ignored(desired.address):
        if name in current:
            desired.attrs[name] = current[name]
    visible = set(desired.attrs["snapshots"]) | set(recorded.get("snapshots") or [])
    current["snapshots"] = [n for n in live.attrs["snapshots"] if n in visible]
    return current


def _warn_deploy_only(desired: Desired, current: dict[str, Any], ctx: Any) -> None:
    """A deploy-only attribute the spec now sets otherwise: say so, change nothing."""
    address = str(desired.address)
    way_out = (f"nothing to do (`--replace {address}` redeploys it and destroys its disk; "
               "`lifecycle.ignore_changes` silences this)")
    changes = deploy_only_changes(ATTRS, desired.attrs, current)
    source = [c for c in changes if c.attr.name in _SOURCE_KEYS]
    if source:
        was = next((f"{k} {current[k]!r}" for k in _SOURCE_KEYS if current.get(k)), "unknown")
        now = next((f"{k} {desired.attrs[k]!r}" for k in _SOURCE_KEYS if desired.attrs.get(k)),
                   "nothing")
        key = next(k for k in _SOURCE_KEYS if desired.attrs.get(k))
        ctx.warn(desired, key, f"deployed from {was}; the spec now says {now}: {way_out}")
    for change in changes:
        if change.attr.name not in _SOURCE_KEYS:
            ctx.warn(desired, change.attr.name,
                     f"{change.attr.name} was {change.before!r} when the VM was deployed; the "
                     f"spec now says {change.after!r}: {way_out}")


def _deploy(desired: Desired, live: LiveObject | None, ctx: Any, reason: str,
            changed: list[str] | None = None, requires: list[str] | None = None) -> list[Draft]:
    from_iso = desired.inputs.get("source_kind") == "iso"
    start = from_iso or desired.attrs["state"] == "running"
    after = {**desired.attrs, "cdrom": desired.private.get("install_iso_name") if from_iso
             else None, "state": "running" if start else "stopped", "snapshots": []}
    op = Operation.CREATE if live is None else Operation.REPLACE
    inputs = {**desired.inputs, "startvm": start}
    tpm = tpm_input(desired, ctx)
    if tpm is not None:
        inputs["tpmversion"] = tpm
    draft = Draft(op, reason, before=dict(live.attrs) if live else None, after=after,
                  changed=changed or [], requires_replace=requires or [], inputs=inputs,
                  needs=list(desired.needs), releases=holds(live) if live else [],
                  frees=live.id if live else None)
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
                            "stopped)", before=state, after=after,
                            changed=["compute_offering"],
                            inputs={"serviceofferingid": desired.inputs["serviceofferingid"]}))
        state = after
    updates = [c for c in changes if c.attr.command == "updateVirtualMachine"]
    if updates:
        after = {**state, **{c.attr.name: c.after for c in updates}}
        drafts.append(Draft(Operation.UPDATE, f"{', '.join(c.attr.name for c in updates)} "
                            "changed: update in place", before=state,
                            after=after, changed=[c.attr.name for c in updates]))
        state = after
    if stop_first and current["state"] == "running" and desired.attrs["state"] == "running":
        drafts.append(_state_draft(Operation.START, state, "start again after the change"))
    return drafts


def _state_draft(op: Operation, state: dict[str, Any], reason: str, **inputs: Any) -> Draft:
    after = {**state, "state": "stopped" if op is Operation.STOP else "running"}
    return Draft(op, reason, before=state, after=after, changed=["state"], inputs=dict(inputs))


def _steps(desired: Desired, live: LiveObject | None, state: dict[str, Any], ctx: Any
           ) -> list[Draft]:
    """networks, cdrom, power state and snapshots, from the attributes the VM has now."""
    recorded = ctx.state_attrs(str(desired.address))

    def drifted(name: str) -> bool:  # Mold changed it behind mwin's back
        return live is not None and name in recorded and recorded[name] != live.attrs.get(name)

    drafts: list[Draft] = []
    for make in (_nic_steps, _cdrom_steps, _power_steps, _snapshot_steps):
        made = make(desired, live, state, ctx)
        for draft in made:
            draft.drift = draft.drift or any(drifted(name) for name in draft.changed)
        drafts += made
        state = dict(made[-1].after or state) if made else state
    return drafts


def _step(op: Operation, reason: str, state: dict[str, Any], changes: dict[str, Any],
          **fields: Any) -> Draft:
    after = {**state, **changes}
    return Draft(op, reason, before=state, after=after, changed=sorted(changes), **fields)


def _nic_steps(desired: Desired, live: LiveObject | None, state: dict[str, Any], ctx: Any
               ) -> list[Draft]:
    """Add NICs for new networks, move the default NIC, then remove NICs of dropped networks
    (a default NIC cannot be removed, so it moves first)."""
    want, have = list(desired.attrs["networks"]), list(state.get("networks") or [])
    if live is None or _same_networks(want, have):
        return []
    if live.private.get("snapshot_ids"):
        names = ", ".join(sorted(live.private["snapshot_ids"]))
        ctx.error_at(desired.address, "networks",
                     f"networks differ ({', '.join(have)} → {', '.join(want)}), but Mold refuses "
                     f"to add, remove or change NICs of a VM with VM snapshots ({names})",
                     detail="UserVmManagerImpl refuses NIC changes while any VM snapshot exists: "
                            "drop the snapshots from `snapshots` and apply first, or keep the "
                            "networks as they are")
        return []
    ids = desired.private.get("network_ids", {})
    live_ids = live.private.get("network_ids", {})
    drafts = []
    for name in [n for n in want if n not in have]:
        ref = ids.get(name)
        needs = [ref["$ref"]] if isinstance(ref, dict) else []
        drafts.append(_step(Operation.ADD_NIC, f"add a NIC in network {name!r}", state,
                            {"networks": have + [name]}, inputs={"networkid": ref}, needs=needs))
        state, have = dict(drafts[-1].after or {}), have + [name]
    if have[0] != want[0]:
        order = [want[0]] + [n for n in have if n != want[0]]
        drafts.append(_step(Operation.SET_DEFAULT_NIC, f"make the NIC in {want[0]!r} the "
                            "default (the first of `networks`)", state, {"networks": order},
                            inputs={"networkid": ids.get(want[0])}))
        state, have = dict(drafts[-1].after or {}), order
    for name in [n for n in have if n not in want]:
        left = [n for n in have if n != name]
        network_id = live_ids.get(name)
        drafts.append(_step(Operation.REMOVE_NIC, f"remove the NIC in network {name!r} (no "
                            "longer in `networks`)", state, {"networks": left},
                            inputs={"networkid": network_id},
                            releases=[network_id] if network_id else []))
        state, have = dict(drafts[-1].after or {}), left
    return drafts


def _cdrom_steps(desired: Desired, live: LiveObject | None, state: dict[str, Any], ctx: Any
                 ) -> list[Draft]:
    want = desired.attrs["cdrom"]
    if want == UNSET or want == state.get("cdrom"):
        return []
    drafts = []
    if state.get("cdrom") is not None:
        iso_id = live.private.get("iso_id") if live else None
        drafts.append(_step(Operation.DETACH_ISO, f"eject {state['cdrom']!r} from the drive",
                            state, {"cdrom": None}, releases=[iso_id] if iso_id else []))
        state = dict(drafts[-1].after or {})
    if want is not None:
        drafts.append(_step(Operation.ATTACH_ISO, f"insert {want!r} into the drive", state,
                            {"cdrom": want}, inputs={"isoid": desired.inputs["cdrom_id"]},
                            needs=list(desired.private.get("cdrom_needs", []))))
    return drafts


def _power_steps(desired: Desired, live: LiveObject | None, state: dict[str, Any], ctx: Any
                 ) -> list[Draft]:
    want = desired.attrs["state"]
    if want == state.get("state"):
        return []
    op = Operation.START if want == "running" else Operation.STOP
    return [_state_draft(op, state, f"declared {want}")]


def _snapshot_steps(desired: Desired, live: LiveObject | None, state: dict[str, Any], ctx: Any
                    ) -> list[Draft]:
    drafts = []
    have = list(state.get("snapshots") or [])
    managed = set(ctx.state_attrs(str(desired.address)).get("snapshots") or [])
    ids = live.private.get("snapshot_ids", {}) if live else {}
    failed = live.private.get("failed_snapshots", {}) if live else {}
    for name in desired.attrs["snapshots"]:
        if name in failed and name not in have:
            drafts.append(_step(Operation.DELETE_SNAPSHOT, f"VM snapshot {name!r} is in Error (an "
                                "earlier try failed): delete it before taking it again", state,
                                {}, inputs={"snapshot_id": failed[name]}))
        if name not in have:
            if state.get("state") == "running":
                ctx.warn(desired, "snapshots",
                         f"VM snapshot {name!r} is taken while the VM runs: Mold (KVM, "
                         "kvm.vmstoragesnapshot.enabled) freezes the guest's file systems "
                         "through qemu-guest-agent first, and without the agent the job fails "
                         "\"Could not freeze VM\". Install the guest tools first, or take it "
                         "with the VM stopped")
            drafts.append(_step(Operation.CREATE_SNAPSHOT, f"take VM snapshot {name!r}", state,
                                {"snapshots": sorted(have + [name])}, inputs={"name": name}))
            state = dict(drafts[-1].after or {})
            have = list(state["snapshots"])
    for name in sorted(set(have) - set(desired.attrs["snapshots"])):
        if name in managed and name in ids:
            drafts.append(_step(Operation.DELETE_SNAPSHOT, f"VM snapshot {name!r} is no longer "
                                "declared", state, {"snapshots": sorted(set(have) - {name})},
                                inputs={"snapshot_id": ids[name]}))
            state = dict(drafts[-1].after or {})
            have = list(state["snapshots"])
    return drafts


def current_attrs(desired: Desired, live: LiveObject, ctx: Any) -> dict[str, Any]:
    """The VM as it is now, in the spec's words (for steps other kinds' plans add)."""
    return _current(desired, live, ctx)


def reattach_steps(address: str, live: LiveObject, iso_id: str, iso_address: str | None,
                   state: dict[str, Any]) -> list[Draft]:
    """The ISO ``iso_id`` in this VM's drive is being replaced or deleted: eject it first, and
    insert the ISO resource's new object when the spec still wants it there (``iso_address``)."""
    drafts = [_step(Operation.DETACH_ISO, f"eject {state.get('cdrom')!r} ({iso_id}): that ISO "
                    "is about to be deleted", state, {"cdrom": None}, releases=[iso_id])]
    if iso_address is not None:
        drafts.append(_step(Operation.ATTACH_ISO, f"insert the new {iso_address} again",
                            dict(drafts[-1].after or {}), {"cdrom": state.get("cdrom")},
                            inputs={"isoid": {"$ref": iso_address}}, needs=[iso_address]))
    return drafts

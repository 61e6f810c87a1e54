"""Planning a VM: deploy, replace (loudly, for firmware), in-place updates, and the steps
(NICs, the CD drive, power, snapshots) from the state the VM is in at each point."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler.model import Desired, Draft, LiveObject
from reconciler.plan import Operation
from reconciler.resources.base import OnChange, deploy_only_changes, diff_attrs
from reconciler.resources.common import FORCED_REASON, replace_reason, split_changes
from reconciler.resources.contract import PlanningContext
from reconciler.resources.vm.observe import holds
from reconciler.resources.vm.rules import tpm_input
from reconciler.resources.vm.spec import (
    ATTRS,
    FROM_STATE,
    SETTLING,
    SOURCE_KEYS,
    STEPS,
    UNSET,
    drives,
    one_or_list,
    same_networks,
    settled,
)

# --- planning ----------------------------------------------------------------------------

def plan_changes(desired: Desired, live: LiveObject | None, ctx: PlanningContext) -> list[Draft]:
    if live is None:
        return _deploy(desired, None, ctx, "declared in the spec, not in Mold")
    if live.state == "Error":  # Mold's mark of a deploy that failed: the VM never ran
        drafts = _deploy(desired, live, ctx, "its deploy failed in Mold (state Error: it never "
                         "ran, nothing is installed on it): deploy it again")
        drafts[0].broken = True
        return drafts
    current = _current(desired, live, ctx)
    diffable = tuple(a for a in ATTRS if a.name not in STEPS)
    changes = diff_attrs(diffable, desired.attrs, current)
    replace, in_place = split_changes(changes)
    if replace:
        return _deploy(desired, live, ctx, replace_reason(replace),
                       [c.attr.name for c in changes], [c.attr.name for c in replace])
    _warn_deploy_only(desired, current, ctx)
    drafts = _in_place(desired, live, current, in_place)
    state_now = drafts[-1].after if drafts else current
    return drafts + _steps(desired, live, dict(state_now or current), ctx)


def forced_replace(desired: Desired, live: LiveObject, ctx: PlanningContext) -> list[Draft]:
    """``--replace``: deployed again as declared (power state, drives), then its steps."""
    return _deploy(desired, live, ctx, FORCED_REASON)


def plan_recover(desired: Desired, gone: LiveObject, ctx: PlanningContext) -> list[Draft]:
    """A VM destroyed outside mwin that Mold has not expunged yet (expunge.delay): its disk,
    with what is installed on it, is still there. recoverVirtualMachine brings it back Stopped
    with its NICs and drives; the usual steps follow. Redeploying it instead would leave the
    installed disk to be expunged."""
    back = replace(gone, attrs={**gone.attrs, "state": "stopped"}, state="Stopped")
    drafts = plan_changes(desired, back, ctx)
    if any(d.operation is Operation.REPLACE for d in drafts):
        return drafts  # redeployed anyway: the spec changed what only a deploy sets
    recovered = Draft(Operation.RECOVER, "destroyed in Mold outside mwin and not expunged yet: "
                      "recover it (its disk, with what is installed on it, is kept)",
                      before=dict(gone.attrs), after=_current(desired, back, ctx),
                      inputs={"id": gone.id}, drift=True)
    return [recovered, *drafts]


def _current(desired: Desired, live: LiveObject, ctx: PlanningContext) -> dict[str, Any]:
    """What the VM is now, in the spec's words: Mold's answer, plus what only state knows
    (placement and the deploy source as the spec named them when it was deployed)."""
    recorded = ctx.state_attrs(str(desired.address))
    current = {**live.attrs, **{k: recorded.get(k) for k in FROM_STATE if k in recorded}}
    if not any(recorded.get(k) for k in SOURCE_KEYS):  # adopted, or recorded by mwin 0.1
        same = live.private.get("source_name") == desired.private.get("source_name")
        for key in SOURCE_KEYS:
            current[key] = desired.attrs[key] if same else (
                live.private.get("source_name") if desired.attrs[key] is not None else None)
    for name in ctx.ignored(desired.address):
        if name in current:
            desired.attrs[name] = current[name]
    visible = set(desired.attrs["snapshots"]) | set(recorded.get("snapshots") or [])
    current["snapshots"] = [n for n in live.attrs["snapshots"] if n in visible]
    return current


def _warn_deploy_only(desired: Desired, current: dict[str, Any], ctx: PlanningContext) -> None:
    """A deploy-only attribute the spec now sets otherwise: say so, change nothing."""
    address = str(desired.address)
    way_out = (f"nothing to do (`--replace {address}` redeploys it and destroys its disk; "
               "`lifecycle.ignore_changes` silences this)")
    changes = deploy_only_changes(ATTRS, desired.attrs, current)
    # a source Mold no longer shows (the ISO it was installed from is gone) and state does
    # not know (adopted) is no evidence of a change: nothing to say
    source = [c for c in changes if c.attr.name in SOURCE_KEYS] \
        if any(current.get(k) for k in SOURCE_KEYS) else []
    if source:
        was = next(f"{k} {current[k]!r}" for k in SOURCE_KEYS if current.get(k))
        now = next((f"{k} {desired.attrs[k]!r}" for k in SOURCE_KEYS if desired.attrs.get(k)),
                   "nothing")
        key = next(k for k in SOURCE_KEYS if desired.attrs.get(k))
        ctx.warn(desired, key, f"deployed from {was}; the spec now says {now}: {way_out}")
    for change in changes:
        if change.attr.name not in SOURCE_KEYS:
            ctx.warn(desired, change.attr.name,
                     f"{change.attr.name} was {change.before!r} when the VM was deployed; the "
                     f"spec now says {change.after!r}: {way_out}")


def _deploy(desired: Desired, live: LiveObject | None, ctx: PlanningContext, reason: str,
            changed: list[str] | None = None, requires: list[str] | None = None) -> list[Draft]:
    from_iso = desired.inputs.get("source_kind") == "iso"
    start = from_iso or desired.attrs["state"] == "running"
    op = Operation.CREATE if live is None else Operation.REPLACE
    inputs = {**desired.inputs, "startvm": start}
    tpm = tpm_input(desired, ctx)
    if tpm is not None:
        inputs["tpmversion"] = tpm
    inputs.update(_first_boot(desired))
    loaded = [desired.private.get("install_iso_name")] if from_iso else []
    extra = _second_drive(desired, ctx) if from_iso else None
    needs = list(desired.needs)
    if extra is not None:  # deployed with it: wait for that ISO too
        inputs["additionalisoids"] = [desired.private["cdrom_ids"][extra]]
        loaded.append(extra)
        needs += [n for n in desired.private.get("cdrom_needs", {}).get(extra, [])
                  if n not in needs]
    after = {**desired.attrs, "cdrom": one_or_list([str(n) for n in loaded]),
             "state": "running" if start else "stopped", "snapshots": []}
    if desired.private.get("unattended"):
        after["unattended"] = INSTALLING
    draft = Draft(op, reason, before=dict(live.attrs) if live else None, after=after,
                  changed=changed or [], requires_replace=requires or [], inputs=inputs,
                  needs=needs, releases=holds(live) if live else [],
                  frees=live.id if live else None)
    return [draft] + _steps(desired, None, after, ctx)


INSTALLING, INSTALLED = "installing", "installed"  # state's record of an unattended install
_RECORD_ONLY = {"unattended"}  # kept by state alone: Mold never shows them, so never drift


def _first_boot(desired: Desired) -> dict[str, Any]:
    """The UEFI first-boot guard of unattended media (docs/unattended.md): press a key at the
    installer's "Press any key to boot from CD or DVD" through the console, or put the disk
    first in the boot order (the VM detail bootOrder=hd, LibvirtComputingResource
    .configureBootOrder) for media whose UEFI image does not ask. BIOS needs neither:
    etfsboot.com asks only once the disk is bootable."""
    unattended = desired.private.get("unattended")
    if not unattended or desired.attrs.get("boot.type") != "UEFI":
        return {}
    if unattended["first_boot"] == "keypress":
        return {"boot_keypress": True}
    details = [dict(d) for d in desired.inputs.get("details") or [{}]]
    details[0]["bootOrder"] = "hd"
    return {"details": details}


def _install_steps(desired: Desired, live: LiveObject | None, state: dict[str, Any],
                   ctx: PlanningContext) -> list[Draft]:
    """A VM from unattended media declared stopped: Windows Setup runs and the guest powers
    itself off at the end (sysprep /shutdown). Planned right after the deploy (or again when
    an apply ended while Setup ran), before anything else touches the VM; never a stop."""
    if not desired.private.get("unattended") or desired.attrs["state"] != "stopped" \
            or state.get("state") != "running":
        return []
    recorded = ctx.state_attrs(str(desired.address))
    if live is not None and recorded.get("unattended") != INSTALLING:
        return []
    return [_step(Operation.AWAIT_INSTALL, "Windows Setup runs from the unattended media: wait "
                  "for the guest to power itself off (sysprep /shutdown); never a stop", state,
                  {"state": "stopped", "unattended": INSTALLED})]


def _second_drive(desired: Desired, ctx: PlanningContext) -> str | None:
    """The ISO deployed into the second drive beside the installer (``additionalisoids``):
    the first ISO of the declared drives that is not the installer, where Mold offers it
    (listApis, asked only now). Without it, a VM declaring two ISOs is an error at `cdrom`."""
    wanted = [n for n in drives(desired.attrs.get("cdrom"))
              if n != desired.private.get("install_iso_name")]
    if not wanted:
        return None
    if not ctx.catalog.api_known("deployVirtualMachine"):
        return wanted[0]  # planned again once listApis is read
    if "additionalisoids" in (ctx.catalog.api_params("deployVirtualMachine") or ()):
        return wanted[0]
    if len(drives(desired.attrs.get("cdrom"))) > 1:
        ctx.error_at(desired.address, "cdrom", _one_drive_text(desired))
    return None


def _one_drive_text(desired: Desired) -> str:
    return (f"`cdrom` lists {len(drives(desired.attrs['cdrom']))} ISOs, but this Mold has one "
            "CD drive per VM (deployVirtualMachine has no `additionalisoids`: Mold 4.23 "
            "\"Europa\" has two): declare one ISO, or swap them in steps as the stage files "
            "of specs/windows-11 do")


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


def _steps(desired: Desired, live: LiveObject | None, state: dict[str, Any], ctx: PlanningContext
           ) -> list[Draft]:
    """networks, cdrom, power state and snapshots, from the attributes the VM has now."""
    recorded = ctx.state_attrs(str(desired.address))

    def drifted(name: str) -> bool:  # Mold changed it behind mwin's back
        return live is not None and name in recorded and name not in _RECORD_ONLY \
            and recorded[name] != live.attrs.get(name)

    drafts: list[Draft] = []
    for make in (_install_steps, _nic_steps, _cdrom_steps, _power_steps, _snapshot_steps):
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


def _nic_steps(desired: Desired, live: LiveObject | None, state: dict[str, Any], ctx: PlanningContext
               ) -> list[Draft]:
    """Add NICs for new networks, move the default NIC, then remove NICs of dropped networks
    (a default NIC cannot be removed, so it moves first)."""
    want, have = list(desired.attrs["networks"]), list(state.get("networks") or [])
    if live is None or same_networks(want, have):
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


def _cdrom_steps(desired: Desired, live: LiveObject | None, state: dict[str, Any],
                 ctx: PlanningContext) -> list[Draft]:
    """One step per ISO: eject what is not where the spec wants it (by id, so the other drive
    keeps its ISO), then insert what is missing, first drive first (Mold fills the lowest free
    drive). Mold runs one ISO job of a VM at a time, and so does the plan."""
    want = desired.attrs["cdrom"]
    if want == UNSET or drives(want) == drives(state.get("cdrom")):
        return []
    wanted, have = drives(want), drives(state.get("cdrom"))
    limit = live.private.get("drives", 1) if live else max(len(wanted), 1)
    if len(wanted) > limit:
        ctx.error_at(desired.address, "cdrom", _one_drive_text(desired) if limit == 1 else
                     f"`cdrom` lists {len(wanted)} ISOs, but this VM has {limit} CD drives "
                     "(isomaxcount; the cluster setting vm.iso.max.count)")
        return []
    live_ids = live.private.get("iso_ids", {}) if live else {}
    keep = 0
    while keep < min(len(have), len(wanted)) and have[keep] == wanted[keep]:
        keep += 1
    drafts: list[Draft] = []
    for name in reversed(have[keep:]):
        iso_id = live_ids.get(name)
        left = [n for n in drives(state.get("cdrom")) if n != name]
        drafts.append(_step(Operation.DETACH_ISO, f"eject {name!r} from its drive", state,
                            {"cdrom": one_or_list(left)}, inputs={"isoid": iso_id},
                            releases=[iso_id] if iso_id else []))
        state = dict(drafts[-1].after or {})
    ids, needs = desired.private.get("cdrom_ids", {}), desired.private.get("cdrom_needs", {})
    for name in wanted[keep:]:
        loaded = [*drives(state.get("cdrom")), name]
        where = "the drive" if len(wanted) == 1 else f"drive {len(loaded)}"
        drafts.append(_step(Operation.ATTACH_ISO, f"insert {name!r} into {where}", state,
                            {"cdrom": one_or_list(loaded)}, inputs={"isoid": ids.get(name)},
                            needs=list(needs.get(name, []))))
        state = dict(drafts[-1].after or {})
    return drafts


def _power_steps(desired: Desired, live: LiveObject | None, state: dict[str, Any], ctx: PlanningContext
                 ) -> list[Draft]:
    want = desired.attrs["state"]
    if live is not None and live.attrs.get("state") in SETTLING:
        ctx.warn(desired, "state", f"it is {live.attrs['state']} in Mold: a job still works on "
                 f"it and takes it {SETTLING[live.attrs['state']]}; how that job ends shows in "
                 "the next `mwin plan`")
        return []  # Mold starts or stops no VM in those states
    if want == settled(state.get("state")):
        return []
    op = Operation.START if want == "running" else Operation.STOP
    if live is None and op is Operation.STOP:  # right after this plan's deploy
        return [_state_draft(op, state, f"declared {want} (just deployed: no guest to shut "
                                        "down first)", fresh=True)]
    return [_state_draft(op, state, f"declared {want}")]


def _snapshot_steps(desired: Desired, live: LiveObject | None, state: dict[str, Any], ctx: PlanningContext
                    ) -> list[Draft]:
    drafts = []
    have = list(state.get("snapshots") or [])
    managed = set(ctx.state_attrs(str(desired.address)).get("snapshots") or [])
    ids = live.private.get("snapshot_ids", {}) if live else {}
    failed = live.private.get("failed_snapshots", {}) if live else {}
    pending = list(live.private.get("pending_snapshots", [])) if live else []
    for name in pending:  # Mold deletes none while it is taken: left to its job
        ctx.warn(desired, "snapshots", f"VM snapshot {name!r} is still being taken in Mold (a "
                 "job works on it): how it ends shows in the next `mwin plan`")
    for name in sorted(set(failed) & managed - set(desired.attrs["snapshots"])):
        drafts.append(_step(Operation.DELETE_SNAPSHOT, f"VM snapshot {name!r} is in Error (an "
                            "earlier try failed) and no longer declared: delete it", state, {},
                            inputs={"snapshot_id": failed[name]}))
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
        if name in managed and name in ids and name not in pending:
            drafts.append(_step(Operation.DELETE_SNAPSHOT, f"VM snapshot {name!r} is no longer "
                                "declared", state, {"snapshots": sorted(set(have) - {name})},
                                inputs={"snapshot_id": ids[name]}))
            state = dict(drafts[-1].after or {})
            have = list(state["snapshots"])
    return drafts


def release_steps(desired: Desired | None, live: LiveObject, held: str, freed: str | None,
                  planned: list[Draft], ctx: PlanningContext) -> list[Draft]:
    """The ISO ``held`` in the drive is about to be deleted: eject it, and insert the ISO
    resource's new object again where the spec still wants it there (the drive declared with
    that ISO, or left as deployed). A network it is in: move the NIC to the network
    resource's new object (``_nic_moves``)."""
    state = dict(planned[-1].after or {}) if planned and planned[-1].after else (
        _current(desired, live, ctx) if desired else dict(live.attrs))
    if held in _nic_networks(live):
        return _nic_moves(desired, live, held, freed, state, ctx)
    names = {i: n for n, i in live.private.get("iso_ids", {}).items()}
    if held not in names and held != live.private.get("iso_id"):
        return []
    name = names.get(held, live.attrs.get("cdrom"))
    loaded = drives(state.get("cdrom"))
    wanted = desired is not None and freed is not None and (
        desired.attrs.get("cdrom") == UNSET or name in drives(desired.attrs.get("cdrom")))
    left = [n for n in loaded if n != name]
    drafts = [_step(Operation.DETACH_ISO, f"eject {name!r} ({held}): that ISO is about to be "
                    "deleted", state, {"cdrom": one_or_list(left)}, inputs={"isoid": held},
                    releases=[held])]
    if wanted and freed is not None:
        drafts.append(_step(Operation.ATTACH_ISO, f"insert the new {freed} again",
                            dict(drafts[-1].after or {}), {"cdrom": one_or_list(loaded)},
                            inputs={"isoid": {"$ref": freed}}, needs=[freed]))
    return drafts


def _nic_networks(live: LiveObject) -> list[str]:
    """The network id of each NIC, the default NIC first."""
    return list(live.private.get("nic_network_ids")
                or [str(i) for i in live.private.get("network_ids", {}).values() if i])


def _nic_moves(desired: Desired | None, live: LiveObject, held: str, freed: str | None,
               state: dict[str, Any], ctx: PlanningContext) -> list[Draft]:
    """The network ``held`` (a NIC of this VM is in it) is about to be deleted because its
    resource ``freed`` is replaced: add a NIC in the new network, make that the default NIC
    where the old one was (Mold never removes the default NIC), then remove the NIC in the
    old network, which its deletion waits for. ``networks`` names stay as they are. Nothing
    for a network the spec no longer declares (``networks`` no longer names it, so the NIC
    steps remove it), nor under `--replace` of the network: that one action deletes the
    old network itself, so nothing can come in between (the plan warns)."""
    if desired is None or freed is None or freed in ctx.options.force_replace:
        return []
    old = ctx.live.get("network", held)
    name = old.name if old else held
    if state.get("snapshots"):
        ctx.error_at(desired.address, "networks",
                     f"{freed} is replaced, so this VM's NIC in network {name!r} moves to the new "
                     "network, but Mold refuses to add, remove or change NICs of a VM with VM "
                     f"snapshots ({', '.join(state['snapshots'])})",
                     detail="UserVmManagerImpl refuses NIC changes while any VM snapshot exists: "
                            "drop the snapshots from `snapshots` and apply first, or change the "
                            "network back so that it needs no replacement")
        return []
    new = {"$ref": freed}
    drafts = [_step(Operation.ADD_NIC, f"add a NIC in the new network of {freed} (the old one, "
                    f"{name!r} {held}, is replaced)", state, {}, inputs={"networkid": new},
                    needs=[freed])]
    if _nic_networks(live)[0] == held:
        drafts.append(_step(Operation.SET_DEFAULT_NIC, f"make the NIC in the new network of "
                            f"{freed} the default (the NIC in {held} was)", state, {},
                            inputs={"networkid": new}))
    drafts.append(_step(Operation.REMOVE_NIC, f"remove the NIC in the replaced network {name!r} "
                        f"({held}), which is deleted next", state, {}, inputs={"networkid": held},
                        releases=[held]))
    return drafts

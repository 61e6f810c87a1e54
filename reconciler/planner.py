"""(spec, state, live) → Plan. Pure: no I/O, no clock except the plan's timestamp.

For every declared resource the planner finds its live object (by the id in state, else by
its address tag *and this state's owner tag*, else by a unique exact name among untagged
objects, which it adopts), asks the kind module for the drafts that close the gap, and
numbers them into actions in an order that is valid to execute. Objects in state but no
longer declared are deleted after everything that could still use them.

Ownership (docs/state.md): an object tagged with another owner is never adopted, changed or
deleted; one tagged by mwin 0.1 (address, no owner) is kept only where state records its id
(and gets the owner tag), otherwise it needs `mwin import --unowned`.

Order (``_edges``): the drafts of one address run one after another (so Mold never gets two
jobs of one VM at once); a draft that needs an address waits for that address's last draft
that makes it ready (not for the deletion of an object it replaced); deleting a Mold object
waits for every draft that stops using it (``releases``); deleting an address no longer
declared waits for every draft of the kinds after it. Every edge points from a later draft
to an earlier one in a fixed order, so plans are acyclic by construction.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reconciler import __version__
from reconciler.diagnostics import Diagnostics
from reconciler.errors import PlanError
from reconciler.model import (
    ADDRESS_TAG,
    OWNER_TAG,
    Address,
    Catalog,
    Declared,
    Defaults,
    Desired,
    Draft,
    LiveObject,
    LiveSnapshot,
    account_holder,
)
from reconciler.plan import DESTRUCTIVE_OPERATIONS, Action, Operation, Plan
from reconciler.resources import KIND_ORDER, KINDS
from reconciler.resources.base import diff_attrs
from reconciler.resources.common import FORCED_REASON, split_changes
from reconciler.resources.contract import KindModule
from reconciler.spec import SpecDoc
from reconciler.state import State

__all__ = ["PlanContext", "PlanOptions", "make_plan", "make_destroy_plan", "make_refresh_plan"]


@dataclass(frozen=True)
class PlanOptions:
    targets: tuple[str, ...] = ()  # limit to these addresses and what they depend on
    force_replace: tuple[str, ...] = ()
    adopt_unowned: bool = False  # take objects tagged by mwin 0.1 (address, no owner)
    provenance: tuple[tuple[str, str], ...] = ()  # template tags: git commit, ... (workflow)


@dataclass
class PlanContext:
    """What kind modules may consult while planning."""

    catalog: Catalog
    live: LiveSnapshot
    state: State
    defaults: Defaults
    declared: dict[Address, Declared]
    diags: Diagnostics
    options: PlanOptions = PlanOptions()
    spec_digest: str = ""
    desired: dict[str, Desired] = field(default_factory=dict)  # address -> resolved desired
    matched: dict[str, LiveObject | None] = field(default_factory=dict)  # address -> live object
    drafts: dict[str, list[Draft]] = field(default_factory=dict)  # address -> its drafts so far
    _by_tag: dict[str, dict[str, list[LiveObject]]] = field(default_factory=dict)
    _by_name: dict[str, dict[str, list[LiveObject]]] = field(default_factory=dict)

    def tagged(self, kind: str, address: str) -> list[LiveObject]:
        """Live objects of a kind carrying this address tag (indexed once per kind)."""
        if kind not in self._by_tag:
            index: dict[str, list[LiveObject]] = {}
            for obj in self.live.of_kind(kind):
                index.setdefault(obj.address_tag or "", []).append(obj)
            self._by_tag[kind] = index
        return self._by_tag[kind].get(address, [])

    def named(self, kind: str, name: str) -> list[LiveObject]:
        if kind not in self._by_name:
            index: dict[str, list[LiveObject]] = {}
            for obj in self.live.of_kind(kind):
                index.setdefault(obj.name, []).append(obj)
            self._by_name[kind] = index
        return self._by_name[kind].get(name, [])

    @property
    def owner(self) -> str | None:
        return self.state.owner

    def held_here(self, obj: LiveObject, desired: Desired) -> bool:
        """Whether ``obj`` is held where the declaration's objects are: its project, else the
        account of these keys. An admin's lists show other accounts' objects too (listall),
        and those are never adopted nor in the way. Not known (no holder, no caller): yes."""
        project = desired.inputs.get("projectid")
        if project:
            expected: str | None = f"project:{project}"
        else:
            callers = self.catalog.entries("caller")
            raw = callers[0].raw if len(callers) == 1 else {}
            expected = (account_holder(str(raw["domainid"]), str(raw["name"]))
                        if raw.get("domainid") and raw.get("name") else None)
        return expected is None or obj.holder is None or obj.holder == expected

    @property
    def provenance(self) -> dict[str, str]:
        return {"mwin:spec-digest": self.spec_digest, **dict(self.options.provenance)}

    def ignored(self, address: Address) -> set[str]:
        decl = self.declared.get(address)
        return set(decl.spec.lifecycle.ignore_changes) if decl else set()

    def state_attrs(self, address: str) -> dict[str, Any]:
        record = self.state.resources.get(address)
        return dict(record.attributes) if record else {}

    def warn(self, desired: Desired, field_name: str, text: str) -> None:
        decl = self.declared.get(desired.address)
        pos = decl.at(field_name) if decl else None
        self.diags.warning(text, pos, address=str(desired.address))

    def error_at(self, address: Address, field_name: str, text: str, detail: str | None = None) -> None:
        decl = self.declared.get(address)
        self.diags.error(text, decl.at(field_name) if decl else None, address=str(address),
                         detail=detail)


def make_plan(spec: SpecDoc, state: State, live: LiveSnapshot,
              options: PlanOptions = PlanOptions()) -> tuple[Plan, Diagnostics]:
    ctx = PlanContext(live.catalog, live, state, spec.defaults, spec.resources, Diagnostics(),
                      options, spec.digest)
    drafts: list[tuple[str, Draft]] = []
    for kind in KIND_ORDER:
        for decl in spec.of_kind(kind):
            desired = KINDS[kind].desired(decl, ctx, ctx.diags)
            if desired is not None and _in_project(decl, desired, ctx):
                ctx.desired[str(decl.address)] = desired
    for kind in KIND_ORDER:
        for decl in spec.of_kind(kind):
            if str(decl.address) in ctx.desired:
                drafts.extend(_plan_declared(decl, ctx, options))
    _resolve_clean_stops(drafts, ctx)
    drafts.extend(_plan_removed(spec, state, live, ctx.diags))
    drafts = _release_freed(drafts, ctx)
    _check_flag_addresses(options, {str(a) for a in spec.resources} | set(state.resources),
                          ctx.diags)
    if ctx.diags.has_errors:
        raise PlanError(ctx.diags)
    drafts = _only_targets(drafts, options.targets, ctx)
    declared = {str(a) for a in spec.resources}
    return _build(drafts, state, spec.digest, live, ctx.diags, declared), ctx.diags


def _resolve_clean_stops(drafts: list[tuple[str, Draft]], ctx: PlanContext) -> None:
    """A draft that needs a VM stopped cleanly (a template made from its disk): that VM's
    stop in this plan waits for the guest's own power-off and is never forced unasked."""
    for vm in {d.clean_stop for _a, d in drafts if d.clean_stop}:
        for draft in ctx.drafts.get(str(vm), []):
            if draft.operation is Operation.STOP and not draft.inputs.get("for_template"):
                draft.inputs["for_template"] = True
                draft.reason += " (so a template can be made from its disk)"


def _in_project(decl: Declared, desired: Desired, ctx: PlanContext) -> bool:
    """The project the resource belongs to (its own, else defaults.project): its id goes with
    every call about it. False when it names a project Mold does not have (an error)."""
    name = decl.spec.project or ctx.defaults.project
    if name is None:
        return True
    entry = ctx.catalog.resolve("project", name, decl.at("project"), ctx.diags,
                                str(decl.address))
    if entry is None:
        return False
    desired.attrs["project"], desired.inputs["projectid"] = entry.name, entry.id
    return True


def _check_flag_addresses(options: PlanOptions, known: set[str], diags: Diagnostics) -> None:
    """A mistyped --target or --replace is an error, never a silently empty plan."""
    for flag, addresses in (("--target", options.targets), ("--replace", options.force_replace)):
        for address in sorted(set(addresses) - known):
            close = difflib.get_close_matches(address, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            diags.error(f"{flag} {address}: no such address in the spec or in state{hint}")


def make_destroy_plan(state: State, live: LiveSnapshot) -> Plan:
    """Everything in state, dependants first; a resource state records as protected makes it
    an error (PlanError), as does anything the kinds refuse."""
    empty = SpecDoc(Defaults(), {}, [])
    diags = Diagnostics()
    drafts = list(_plan_removed(empty, state, live, diags, reason="destroy: everything in state"))
    if diags.has_errors:
        raise PlanError(diags)
    plan = _build(drafts, state, "", live, diags, set())
    return plan.model_copy(update={"destroy_mode": True})


def make_refresh_plan(state: State, live: LiveSnapshot) -> Plan:
    """What changed in Mold behind mwin's back, as state-only actions (`--refresh-only`):
    refresh for objects whose recorded attributes differ, forget for objects gone."""
    drafts: list[tuple[str, Draft]] = []
    for address, record in sorted(state.resources.items()):
        kind = address.split(".", 1)[0]
        obj = live.get(kind, record.id)
        if obj is None:
            drafts.append((address, Draft(Operation.FORGET, "deleted in Mold outside mwin",
                                          before=dict(record.attributes), inputs={"id": record.id},
                                          drift=True)))
            continue
        changed = _drifted(kind, record.attributes, obj.attrs)
        if changed:
            after = {**record.attributes, **{k: obj.attrs[k] for k in changed}}
            drafts.append((address, Draft(Operation.REFRESH, f"changed in Mold outside mwin: "
                                          f"{', '.join(changed)}", before=dict(record.attributes),
                                          after=after, changed=changed, inputs={"id": record.id},
                                          drift=True)))
    plan = _build(drafts, state, "", live, Diagnostics(), set(state.resources))
    return plan.model_copy(update={"refresh_only": True})


def _drifted(kind: str, recorded: dict[str, Any], held: dict[str, Any]) -> list[str]:
    """Recorded attributes that Mold now holds otherwise. Attributes Mold does not report, and
    optional ones left unset on either side ("whatever Mold has"), are no drift; None of a
    required attribute is a value like any other (an empty CD drive, an ISO swapped in)."""
    attrs = {a.name: a for a in KINDS[kind].ATTRS}
    changed = []
    for key, value in recorded.items():
        attr = attrs.get(key)
        if key not in held or ((attr is None or attr.optional)
                               and (value is None or held[key] is None)):
            continue
        if not (attr.equal(value, held[key]) if attr else value == held[key]):
            changed.append(key)
    return sorted(changed)


# --- per resource ----------------------------------------------------------------------

def _plan_declared(decl: Declared, ctx: PlanContext, options: PlanOptions
                   ) -> Iterable[tuple[str, Draft]]:
    kind = KINDS[decl.address.kind]
    address = str(decl.address)
    desired = ctx.desired[address]
    live, bookkeeping = _match(decl.address, desired, ctx)
    ctx.matched[address] = live
    if live is not None:
        for name in decl.spec.lifecycle.ignore_changes:  # take Mold's value: no difference
            if name in live.attrs:
                desired.attrs[name] = live.attrs[name]
    adopts = [d for d in bookkeeping if d.operation is Operation.ADOPT]
    leftovers = [d for d in bookkeeping if d.operation is not Operation.ADOPT]
    if address in options.force_replace and live is not None:
        # a kind whose replacement is more than one REPLACE (an ISO: the old one deleted
        # after VMs eject it; a VM: deployed as declared, then its steps) plans it itself
        forced = getattr(kind, "forced_replace", None)
        changes = forced(desired, live, ctx) if forced else [_forced_replace(desired, live)]
    elif live is None and ctx.state.id_of(address):
        changes = _plan_gone(kind, desired, ctx)
    else:
        changes = kind.plan_changes(desired, live, ctx)
    drafts: list[Draft] = [*adopts, *changes, *leftovers]
    for draft in drafts:
        if draft.operation is Operation.DELETE and draft.frees is None:
            draft.frees = draft.inputs.get("id")
        if desired.inputs.get("projectid"):
            draft.inputs.setdefault("projectid", desired.inputs["projectid"])
    if live is not None:
        drifted = set(_drifted(decl.address.kind, ctx.state_attrs(address), live.attrs))
        for draft in drafts:
            draft.inputs.setdefault("id", live.id)
            # undoes a change made in Mold, not in the spec (by the same rule as refreshes)
            draft.drift = draft.drift or bool(drifted & set(draft.changed))
    protect = decl.spec.lifecycle.protect
    record = ctx.state.resources.get(address)
    if not drafts and record is not None and live is not None and record.protected != protect:
        drafts.append(Draft(Operation.REFRESH, f"lifecycle.protect is now {str(protect).lower()}: "
                            "record it in state", after=dict(record.attributes),
                            inputs={"id": live.id}))
    for draft in drafts:
        draft.protect = protect
    ctx.drafts[address] = drafts
    if protect:
        _check_protect(decl, drafts, ctx)
    return [(address, d) for d in drafts]


def _plan_gone(kind: KindModule, desired: Desired, ctx: PlanContext) -> list[Draft]:
    """A recorded object Mold no longer holds: recovered where Mold keeps it recoverable and
    the kind can (``plan_recover``: a VM destroyed, not yet expunged), else made again."""
    gone = ctx.live.gone.get(desired.address.kind, {}).get(str(ctx.state.id_of(
        str(desired.address))))
    recover = getattr(kind, "plan_recover", None)
    if gone is not None and gone.owner_tag not in (None, ctx.owner):
        _foreign(desired.address, gone, ctx, recorded=True)  # never recovered for this state
        return []
    if gone is not None and recover is not None:
        return list(recover(desired, gone, ctx))
    return [d if d.operation not in (Operation.CREATE, Operation.CREATE_TEMPLATE) else
            _with(d, reason="was deleted in Mold (outside mwin, or by Mold when an earlier "
                            "apply's job failed): create it again", drift=True)
            for d in kind.plan_changes(desired, None, ctx)]


def _check_protect(decl: Declared, drafts: list[Draft], ctx: PlanContext) -> None:
    """Protection is of the address: deleting or replacing its object is an error, except a
    new revision (a template's: the address stays, old revisions retire by their policy),
    the cleanup of leftovers of an interrupted replacement, and the replacement of an object
    Mold marks failed (a VM whose deploy failed never ran: there is nothing to protect)."""
    for draft in drafts:
        if draft.inputs.get("orphan") or draft.new_revision or draft.broken:
            continue
        if draft.operation in (Operation.DELETE, Operation.REPLACE):
            ctx.error_at(decl.address, "lifecycle.protect",
                         f"protected by lifecycle.protect, but the plan would "
                         f"{draft.operation.value} it: {draft.reason}",
                         detail="change the spec so that no replacement is needed, or "
                                "remove `protect: true` on purpose first")


def _with(draft: Draft, **changes: Any) -> Draft:
    copy = Draft(**draft.__dict__)
    for key, value in changes.items():
        setattr(copy, key, value)
    return copy


def _forced_replace(desired: Desired, live: LiveObject) -> Draft:
    holds = getattr(KINDS[live.kind], "holds", None)
    return Draft(Operation.REPLACE, FORCED_REASON, before=dict(live.attrs),
                 after=desired.attrs, inputs=dict(desired.inputs), needs=list(desired.needs),
                 releases=holds(live) if holds else [], frees=live.id)


def _owners(objects: list[LiveObject], owner: str | None
            ) -> tuple[list[LiveObject], list[LiveObject], list[LiveObject]]:
    """(this state's, mwin 0.1's without an owner, other owners') objects."""
    mine = [o for o in objects if owner and o.owner_tag == owner]
    unowned = [o for o in objects if o.owner_tag is None]
    foreign = [o for o in objects if o.owner_tag is not None and o.owner_tag != owner]
    return mine, unowned, foreign


def _match(address: Address, desired: Desired, ctx: PlanContext) -> tuple[LiveObject | None, list[Draft]]:
    """The live object for a declared address, plus drafts that fix its bookkeeping: an
    adopt when state lacks it (or its owner tag), deletes of leftovers of an interrupted
    replacement. Objects of other owners are never matched: they are errors."""
    known = ctx.state.id_of(str(address))
    mine, unowned, foreign = _owners(ctx.tagged(address.kind, str(address)), ctx.owner)
    unowned = [o for o in unowned if ctx.held_here(o, desired)]
    foreign = [o for o in foreign if ctx.held_here(o, desired)]
    if known is not None:
        return _match_known(address, desired, ctx, known, mine)
    if len(mine) == 1:
        return mine[0], [_adopt(mine[0], f"found in Mold by its tags ({str(address)!r}, owner "
                                         f"{ctx.owner}): adopt", ctx)]
    if len(mine) > 1:
        _ambiguous(address, mine, ctx, "carry this address and this state's owner")
        return None, []
    if unowned:
        return _match_unowned(address, unowned, ctx)
    if foreign:
        _foreign(address, foreign[0], ctx)
        return None, []
    named = [o for o in ctx.named(address.kind, str(desired.attrs.get("name")))
             if o.address_tag is None and ctx.held_here(o, desired)]
    if len(named) == 1:
        return named[0], [_adopt(named[0], "an untagged object with this exact name exists: adopt "
                                           "it instead of creating a duplicate", ctx)]
    if len(named) > 1:
        _ambiguous(address, named, ctx, "have this exact name and no mwin tag")
    return None, []


def _match_known(address: Address, desired: Desired, ctx: PlanContext, known: str,
                 mine: list[LiveObject]) -> tuple[LiveObject | None, list[Draft]]:
    current = ctx.live.get(address.kind, known)
    if current is not None and current.owner_tag not in (None, ctx.owner):
        _foreign(address, current, ctx, recorded=True)
        return None, []
    kept = set(ctx.state_attrs(str(address)).get("previous_ids") or [])  # older revisions
    leftovers = [o for o in mine if o.id != known and o.id not in kept]
    drafts: list[Draft] = []
    if leftovers:
        current, drafts = _settle(address, desired, current, leftovers, ctx)
    if current is not None and current.address_tag is None:
        drafts.insert(0, _tag_recorded(address, current, ctx))
    elif current is not None and current.owner_tag is None:
        drafts.insert(0, _adopt(current, f"recorded in this state, tagged by an older mwin "
                                          f"without an owner: add {OWNER_TAG}={ctx.owner}", ctx))
    elif current is not None and current.address_tag not in (None, str(address)):
        drafts.insert(0, _adopt(current, f"recorded here but tagged {current.address_tag!r} "
                                          f"(moved with `mwin state mv`): retag it {address}",
                                ctx, address))
    return current, drafts


def _tag_recorded(address: Address, current: LiveObject, ctx: PlanContext) -> Draft:
    """An object state recorded when Mold made it whose tagging then failed: tagged now, with
    the kind's own tags too (``adopt_tags``: a template's revision), keeping what state
    recorded that Mold cannot tell without those tags (a revision's history)."""
    recorded = ctx.state_attrs(str(address))
    draft = _adopt(current, "recorded in this state but not tagged (its tagging failed or was "
                            f"cut short): tag it {address}", ctx)
    hidden = getattr(KINDS[address.kind], "STATE_ONLY", ())  # the executor keeps HISTORY
    draft.after = {**{k: v for k, v in recorded.items() if k not in hidden},
                   **{k: v for k, v in current.attrs.items() if v is not None}}
    kind_tags = getattr(KINDS[address.kind], "adopt_tags", None)
    if kind_tags is not None:
        draft.inputs["extra_tags"] = kind_tags(recorded)
    return draft


def _match_unowned(address: Address, unowned: list[LiveObject], ctx: PlanContext
                   ) -> tuple[LiveObject | None, list[Draft]]:
    """Objects an older mwin tagged with this address but no owner: any state with that
    address could have made them, so they are taken only when asked to."""
    if ctx.options.adopt_unowned and len(unowned) == 1:
        return unowned[0], [_adopt(unowned[0], f"tagged {str(address)!r} by an older mwin, no "
                                               f"owner: take it (add {OWNER_TAG}={ctx.owner})",
                                   ctx)]
    ids = ", ".join(o.id for o in unowned)
    ctx.error_at(address, "name", f"Mold holds {len(unowned)} object(s) tagged {str(address)!r} by "
                 f"an older mwin, with no owner tag: {ids}. This state does not record them, so "
                 "they may belong to another state; they are not adopted silently",
                 detail=f"if it is this state's, take it with `mwin import {address} ID` (or "
                        "`mwin import --all --unowned` for every such object); if it belongs to "
                        "another state, give this resource another key")
    return None, []


def _foreign(address: Address, obj: LiveObject, ctx: PlanContext, recorded: bool = False) -> None:
    how = (f"state records its id {obj.id}, but it" if recorded else
           f"{obj.kind} {obj.id} ({obj.name!r}) carries this address and")
    ctx.error_at(address, "name", f"{how} belongs to another state (owner {obj.owner_tag}): "
                 "this state never adopts, changes or deletes it",
                 detail=f"to move it here on purpose: `mwin state rm {address}` in the state "
                        f"that owns it, then `mwin import {address} {obj.id} --take-over` here; "
                        "or give this resource another key")


def _settle(address: Address, desired: Desired, current: LiveObject | None,
            leftovers: list[LiveObject], ctx: PlanContext) -> tuple[LiveObject | None, list[Draft]]:
    """Several of this state's objects carry this address's tag (a replacement was
    interrupted): keep the one in state if it matches the spec (mwin records a new object as
    soon as Mold has it, so that is the newest), else one that matches, else the one in state;
    delete the others."""
    attrs = KINDS[address.kind].ATTRS
    pool = ([current] if current else []) + leftovers
    fits = [o for o in pool if not split_changes(diff_attrs(attrs, desired.attrs, o.attrs))[0]]
    keep = current if current in fits else fits[-1] if fits else (current or leftovers[-1])
    drafts = []
    if keep is not current:
        drafts.append(_adopt(keep, "left by an interrupted replacement and matching the spec: "
                                   "adopt it in place of the recorded object", ctx))
    for other in pool:
        if other is not keep:
            drafts.append(_delete(other, f"leftover object {other.id} carries this address's "
                                  "tag (interrupted replacement): delete it", orphan=True))
    return keep, drafts


def _ambiguous(address: Address, objects: list[LiveObject], ctx: PlanContext, why: str) -> None:
    ids = ", ".join(o.id for o in objects)
    ctx.error_at(address, "name", f"{len(objects)} objects in Mold {why}: {ids}",
                 detail="delete the duplicates or import one with `mwin import ADDRESS ID`")


def _adopt(live: LiveObject, reason: str, ctx: PlanContext, address: Address | None = None
           ) -> Draft:
    """Record ``live`` in state, adding whichever ownership tags it lacks (and, given the
    ``address`` it is recorded at, replacing an address tag of another)."""
    missing = {key: value for key, value in ((ADDRESS_TAG, None), (OWNER_TAG, ctx.owner))
               if key not in live.tags}
    inputs: dict[str, Any] = {"id": live.id, "add_tags": sorted(missing)}
    if address is not None and live.tags.get(ADDRESS_TAG) not in (None, str(address)):
        inputs["wrong_tags"] = {ADDRESS_TAG: live.tags[ADDRESS_TAG]}
    return Draft(Operation.ADOPT, reason, after=dict(live.attrs), inputs=inputs)


def _delete(live: LiveObject, reason: str, orphan: bool = False) -> Draft:
    holds = getattr(KINDS[live.kind], "holds", None)
    inputs: dict[str, Any] = {"id": live.id, "orphan": True} if orphan else {"id": live.id}
    return Draft(Operation.DELETE, reason, before=dict(live.attrs), inputs=inputs,
                 releases=holds(live) if holds else [], frees=live.id)


def _plan_removed(spec: SpecDoc, state: State, live: LiveSnapshot, diags: Diagnostics,
                  reason: str = "no longer in the spec") -> Iterable[tuple[str, Draft]]:
    """Addresses in state that the spec no longer declares: delete their objects, dependants
    first. A protected one is an error; one another owner holds is only forgotten."""
    declared = {str(a) for a in spec.resources}
    gone = [(a, r) for a, r in state.resources.items() if a not in declared]
    gone.sort(key=lambda item: len(deletion_waits(item[0].split(".", 1)[0])))  # dependants first
    drafts = []
    for address, record in gone:
        kind = address.split(".", 1)[0]
        obj = live.get(kind, record.id)
        if obj is None:
            drafts.append((address, Draft(Operation.FORGET, "already gone from Mold: remove from "
                                          "state", before=dict(record.attributes),
                                          inputs={"id": record.id})))
        elif obj.owner_tag not in (None, state.owner):
            drafts.append((address, Draft(Operation.FORGET, f"{reason}, but its object {obj.id} "
                                          f"belongs to another state (owner {obj.owner_tag}): "
                                          "only removed from this state, left in Mold",
                                          before=dict(obj.attrs), inputs={"id": record.id})))
        elif record.protected:
            diags.error(f"protected (state records lifecycle.protect from its last apply), but "
                        f"the plan would delete it: {reason}", address=address,
                        detail="to delete it on purpose, declare it again with "
                               "`lifecycle: {protect: false}` and apply (state then records it "
                               "unprotected), then remove it")
        else:
            draft = _delete(obj, reason)
            more = getattr(KINDS[kind], "removal_inputs", None)  # e.g. a template's history
            if more is not None:
                draft.inputs.update(more(record.attributes))
            drafts.append((address, draft))
    return drafts


def _release_freed(drafts: list[tuple[str, Draft]], ctx: PlanContext
                   ) -> list[tuple[str, Draft]]:
    """A Mold object about to be deleted (replaced, no longer declared, or a leftover) while
    another object still holds it (an ISO in a VM's drive): the holder's kind plans the steps
    that let go of it first, and take the resource's new object back where its spec still
    wants it. What no step releases (a holder this state does not manage, or one whose kind
    cannot let go) is a warning: that deletion fails until it is released."""
    doomed = {d.frees: a for a, d in drafts if d.frees}
    released = {r for _a, d in drafts for r in d.releases}
    managed = {id(o): a for a, o in ctx.matched.items() if o is not None}
    extra: list[tuple[str, Draft]] = []
    for kind_name, kind in KINDS.items():
        for holder in ctx.live.of_kind(kind_name):
            for held in kind.holds(holder):
                if held not in doomed or held in released:
                    continue
                address = managed.get(id(holder))
                freed = doomed[held]
                steps = [] if address is None else kind.release_steps(
                    ctx.desired.get(address), holder, held,
                    freed if Address.parse(freed) in ctx.declared else None,
                    ctx.drafts.get(address) or [], ctx)
                if not steps:
                    who = f"{address}" if address else "which this state does not manage"
                    ctx.diags.warning(f"{kind_name} {holder.name!r} ({holder.id}), {who}, "
                                      f"holds {held} of {freed}: deleting it fails until it "
                                      "is released", address=freed)
                for draft in steps:
                    draft.inputs.setdefault("id", holder.id)
                    extra.append((str(address), draft))
                    ctx.drafts.setdefault(str(address), []).append(draft)
    return drafts + extra


def _only_targets(drafts: list[tuple[str, Draft]], targets: tuple[str, ...], ctx: PlanContext
                  ) -> list[tuple[str, Draft]]:
    if not targets:
        return drafts
    wanted = set(targets)
    changed = True
    while changed:  # add what the targets depend on
        changed = False
        for address, draft in drafts:
            if address in wanted:
                for need in draft.needs:
                    if need not in wanted:
                        wanted.add(need)
                        changed = True
    return [(a, d) for a, d in drafts if a in wanted]


# --- numbering -------------------------------------------------------------------------

def _is_cleanup(draft: Draft) -> bool:
    """Deleting an object an address no longer uses (a replaced or leftover one), or built
    media after use (what needs the address waits for it to be made, not retired)."""
    return (draft.operation is Operation.DELETE and bool(draft.inputs.get("orphan"))) or \
        draft.operation is Operation.RETIRE


def _edges(drafts: list[tuple[str, Draft]], declared: set[str]) -> list[set[int]]:
    """deps[i] = drafts that must finish before draft i (see the module docstring): the
    previous draft of the same address; for each address it needs, that address's last
    draft that is not a cleanup; for a deletion of a Mold object, every draft releasing it;
    for a deletion of an address no longer declared, every draft of the kinds it waits for
    (``deletion_waits``)."""
    deps: list[set[int]] = [set() for _ in drafts]
    ready_of: dict[str, int] = {}
    for i, (address, draft) in enumerate(drafts):
        if not _is_cleanup(draft):
            ready_of[address] = i
    releasers: dict[str, list[int]] = {}
    for i, (_address, draft) in enumerate(drafts):
        for mold_id in draft.releases:
            releasers.setdefault(mold_id, []).append(i)
    previous: dict[str, int] = {}
    for i, (address, draft) in enumerate(drafts):
        if address in previous:
            deps[i].add(previous[address])
        previous[address] = i
        deps[i].update(ready_of[n] for n in draft.needs if n in ready_of and n != address)
        if draft.frees:
            deps[i].update(j for j in releasers.get(draft.frees, []) if j != i)
        if draft.operation in (Operation.DELETE, Operation.FORGET) and address not in declared:
            waits = deletion_waits(address.split(".", 1)[0])
            deps[i].update(j for j, (a, _d) in enumerate(drafts)
                           if a.split(".", 1)[0] in waits and a != address)
    return deps


def deletion_waits(kind: str) -> set[str]:
    """The kinds whose actions deleting an object of ``kind`` waits for: the kinds made after
    it (their objects may use it), and the kinds its module names in ``DELETED_AFTER``
    (objects deployed from it although made before it: a VM from a template). A kind that
    names ``kind`` there is not waited for: it waits the other way."""
    if kind not in KINDS:
        return set()
    later = KIND_ORDER[KIND_ORDER.index(kind) + 1:]
    return {k for k in later if kind not in _deleted_after(k)} | set(_deleted_after(kind))


def _deleted_after(kind: str) -> tuple[str, ...]:
    return tuple(getattr(KINDS[kind], "DELETED_AFTER", ()))


def _topological(deps: list[set[int]]) -> list[int]:
    """Kahn's algorithm, always taking the earliest ready draft: keeps the planner's order
    wherever the dependencies allow it."""
    import heapq

    waiting = [len(d) for d in deps]
    users: list[list[int]] = [[] for _ in deps]
    for i, d in enumerate(deps):
        for j in d:
            users[j].append(i)
    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    out: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        out.append(i)
        for user in users[i]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    if len(out) != len(deps):  # pragma: no cover - the edge rules make cycles impossible
        raise RuntimeError("planner produced circular action dependencies")
    return out


def _build(drafts: list[tuple[str, Draft]], state: State, spec_digest: str, live: LiveSnapshot,
           diags: Diagnostics, declared: set[str]) -> Plan:
    deps = _edges(drafts, declared)
    order = _topological(deps)
    index_of = {old: new for new, old in enumerate(order)}
    actions: list[Action] = []
    for old in order:
        address, draft = drafts[old]
        mold_id = draft.inputs.get("id") or state.id_of(address)
        actions.append(Action(
            address=address, operation=draft.operation, reason=draft.reason,
            destructive=draft.operation in DESTRUCTIVE_OPERATIONS,
            before=draft.before, after=draft.after, changed=draft.changed,
            requires_replace=draft.requires_replace,
            depends_on=sorted(index_of[d] for d in deps[old]),
            mold_id=mold_id, inputs=draft.inputs, drift=draft.drift, protect=draft.protect))
    return Plan(
        mwin_version=__version__,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        state_lineage=state.lineage if state.serial else None,
        state_serial=state.serial,
        spec_digest=spec_digest,
        live_digest=live_digest(actions, live),
        actions=actions,
        warnings=[d.render() for d in diags.warnings],
    )


def live_digest(actions: list[Action], live: LiveSnapshot) -> str:
    """sha256 over the live attributes of every object the actions touch."""
    seen = {}
    for action in actions:
        obj = live.get(action.kind, action.mold_id)
        seen[action.address] = obj.attrs if obj else None
    text = json.dumps(seen, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


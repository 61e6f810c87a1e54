"""(spec, state, live) → Plan. Pure: no I/O, no clock except the plan's timestamp.

For every declared resource the planner finds its live object (by the id in
state, else by the address tag, else by a unique exact name, which it adopts),
asks the kind module for the drafts that close the gap, and numbers them into
actions in an order that is valid to execute. Objects in state but no longer
declared are deleted after everything that could still use them.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from reconciler import __version__
from reconciler.address import KIND_ORDER, Address
from reconciler.diagnostics import Diagnostics
from reconciler.errors import PlanError
from reconciler.live import Catalog, LiveSnapshot
from reconciler.plan import DESTRUCTIVE_OPERATIONS, Action, Operation, Plan
from reconciler.resources import KINDS
from reconciler.resources.base import Desired, Draft, LiveObject, diff_attrs
from reconciler.resources.common import split_changes
from reconciler.spec import Declared, Defaults, SpecDoc
from reconciler.state import State

__all__ = ["PlanContext", "PlanOptions", "make_plan", "make_destroy_plan", "make_refresh_plan"]


@dataclass(frozen=True)
class PlanOptions:
    targets: tuple[str, ...] = ()  # limit to these addresses and what they depend on
    force_replace: tuple[str, ...] = ()


@dataclass
class PlanContext:
    """What kind modules may consult while planning."""

    catalog: Catalog
    live: LiveSnapshot
    state: State
    defaults: Defaults
    declared: dict[Address, Declared]
    diags: Diagnostics
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

    def mark_stop_for_template(self, vm: str) -> None:
        """A template will be made from ``vm``: its stop must be a clean guest power-off."""
        for draft in self.drafts.get(vm, []):
            if draft.operation is Operation.STOP:
                draft.inputs["for_template"] = True
                draft.reason += " (so a template can be made from its disk)"

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
    ctx = PlanContext(live.catalog, live, state, spec.defaults, spec.resources, Diagnostics())
    drafts: list[tuple[str, Draft]] = []
    for kind in KIND_ORDER:
        for decl in spec.of_kind(kind):
            desired = KINDS[kind].desired(decl, ctx, ctx.diags)
            if desired is not None:
                ctx.desired[str(decl.address)] = desired
    for kind in KIND_ORDER:
        for decl in spec.of_kind(kind):
            if str(decl.address) in ctx.desired:
                drafts.extend(_plan_declared(decl, ctx, options))
    drafts.extend(_plan_removed(spec, state, live))
    _check_flag_addresses(options, {str(a) for a in spec.resources} | set(state.resources),
                          ctx.diags)
    if ctx.diags.has_errors:
        raise PlanError(ctx.diags)
    drafts = _only_targets(drafts, options.targets, ctx)
    return _build(drafts, state, spec.digest, live, ctx.diags), ctx.diags


def _check_flag_addresses(options: PlanOptions, known: set[str], diags: Diagnostics) -> None:
    """A mistyped --target or --replace is an error, never a silently empty plan."""
    for flag, addresses in (("--target", options.targets), ("--replace", options.force_replace)):
        for address in sorted(set(addresses) - known):
            close = difflib.get_close_matches(address, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            diags.error(f"{flag} {address}: no such address in the spec or in state{hint}")


def make_destroy_plan(state: State, live: LiveSnapshot) -> Plan:
    empty = SpecDoc(Defaults(), {}, [])
    drafts = list(_plan_removed(empty, state, live, reason="destroy: everything in state"))
    plan = _build(drafts, state, "", live, Diagnostics())
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
    plan = _build(drafts, state, "", live, Diagnostics())
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
            desired.attrs[name] = live.attrs.get(name)
    drafts: list[Draft] = list(bookkeeping)
    if live is None and ctx.state.id_of(address):
        desired_reason = "was deleted in Mold outside mwin: create it again"
        drafts.extend(d if d.operation not in (Operation.CREATE, Operation.CREATE_TEMPLATE) else
                      _with(d, reason=desired_reason, drift=True)
                      for d in kind.plan_changes(desired, live, ctx))
    else:
        drafts.extend(kind.plan_changes(desired, live, ctx))
    if address in options.force_replace and live is not None:
        drafts = [d for d in drafts if d.operation is Operation.ADOPT] + [_forced_replace(desired, live)]
    if live is not None:
        recorded = ctx.state_attrs(address)
        for draft in drafts:
            draft.inputs.setdefault("id", live.id)
            draft.drift = draft.drift or any(  # undoes a change made in Mold, not in the spec
                k in recorded and recorded[k] != live.attrs.get(k) for k in draft.changed)
    ctx.drafts[address] = drafts
    if decl.spec.lifecycle.protect:
        for draft in drafts:
            if draft.operation in (Operation.DELETE, Operation.REPLACE):
                ctx.error_at(decl.address, "lifecycle.protect",
                             f"protected by lifecycle.protect, but the plan would "
                             f"{draft.operation.value} it: {draft.reason}",
                             detail="change the spec so that no replacement is needed, or "
                                    "remove `protect: true` on purpose first")
    return [(address, d) for d in drafts]


def _with(draft: Draft, **changes: Any) -> Draft:
    copy = Draft(**{**draft.__dict__})
    for key, value in changes.items():
        setattr(copy, key, value)
    return copy


def _forced_replace(desired: Desired, live: LiveObject) -> Draft:
    return Draft(Operation.REPLACE, "replacement requested with --replace", before=dict(live.attrs),
                 after=desired.attrs, inputs=dict(desired.inputs))


def _match(address: Address, desired: Desired, ctx: PlanContext) -> tuple[LiveObject | None, list[Draft]]:
    """The live object for a declared address, plus drafts that fix its bookkeeping:
    an adopt when state lacks it, deletes of leftovers of an interrupted replacement."""
    known = ctx.state.id_of(str(address))
    tagged = ctx.tagged(address.kind, str(address))
    if known is not None:
        current = ctx.live.get(address.kind, known)
        kept = set(ctx.state_attrs(str(address)).get("previous_ids") or [])  # older revisions
        leftovers = [o for o in tagged if o.id != known and o.id not in kept]
        return _settle(address, desired, current, leftovers) if leftovers else (current, [])
    if len(tagged) == 1:
        return tagged[0], [_adopt(tagged[0], f"found in Mold by its tag {str(address)!r}: adopt")]
    if len(tagged) > 1:
        _ambiguous(address, tagged, ctx, "carry the tag of this address")
        return None, []
    named = [o for o in ctx.named(address.kind, str(desired.attrs.get("name")))
             if o.address_tag is None]
    if len(named) == 1:
        return named[0], [_adopt(named[0], "an untagged object with this exact name exists: adopt "
                                           "it instead of creating a duplicate")]
    if len(named) > 1:
        _ambiguous(address, named, ctx, "have this exact name and no mwin tag")
    return None, []


def _settle(address: Address, desired: Desired, current: LiveObject | None,
            leftovers: list[LiveObject]) -> tuple[LiveObject | None, list[Draft]]:
    """Several objects carry this address's tag (a replacement was interrupted): keep the one
    that already matches the spec (else the one in state) and delete the others."""
    attrs = KINDS[address.kind].ATTRS
    pool = ([current] if current else []) + leftovers
    fits = [o for o in pool if not split_changes(diff_attrs(attrs, desired.attrs, o.attrs))[0]]
    keep = fits[-1] if fits else (current or leftovers[-1])
    drafts = []
    if keep is not current:
        drafts.append(_adopt(keep, "left by an interrupted replacement and matching the spec: "
                                   "adopt it in place of the recorded object"))
    for other in pool:
        if other is not keep:
            drafts.append(Draft(Operation.DELETE, f"leftover object {other.id} carries this "
                                "address's tag (interrupted replacement): delete it",
                                before=dict(other.attrs), inputs={"id": other.id, "orphan": True}))
    return keep, drafts


def _ambiguous(address: Address, objects: list[LiveObject], ctx: PlanContext, why: str) -> None:
    ids = ", ".join(o.id for o in objects)
    ctx.error_at(address, "name", f"{len(objects)} objects in Mold {why}: {ids}",
                 detail="delete the duplicates or import one with `mwin import ADDRESS ID`")


def _adopt(live: LiveObject, reason: str) -> Draft:
    attrs = {k: v for k, v in live.attrs.items() if not k.startswith("_")}
    return Draft(Operation.ADOPT, reason, after=attrs,
                 inputs={"id": live.id, "tagged": live.address_tag is not None})


def _plan_removed(spec: SpecDoc, state: State, live: LiveSnapshot,
                  reason: str = "no longer in the spec") -> Iterable[tuple[str, Draft]]:
    declared = {str(a) for a in spec.resources}
    order = {k: i for i, k in enumerate(KIND_ORDER)}
    gone = [(a, r) for a, r in state.resources.items() if a not in declared]
    gone.sort(key=lambda item: -order.get(item[0].split(".", 1)[0], 0))  # dependants first
    for address, record in gone:
        kind = address.split(".", 1)[0]
        obj = live.get(kind, record.id)
        if obj is None:
            yield address, Draft(Operation.FORGET, "already gone from Mold: remove from state",
                                 before=dict(record.attributes), inputs={"id": record.id})
        else:
            yield address, Draft(Operation.DELETE, reason, before=dict(obj.attrs),
                                 inputs={"id": record.id})


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

def _edges(drafts: list[tuple[str, Draft]], state: State) -> list[set[int]]:
    """deps[i] = drafts that must finish before draft i: earlier drafts of the same address,
    the last draft of every address it needs, for a deletion every draft of a kind that may
    use it, and for anything that deletes a Mold object every draft that releases it."""
    order = {k: i for i, k in enumerate(KIND_ORDER)}
    deps: list[set[int]] = [set() for _ in drafts]
    last_of: dict[str, int] = {}
    for i, (address, _draft) in enumerate(drafts):
        last_of[address] = i
    previous: dict[str, int] = {}
    for i, (address, draft) in enumerate(drafts):
        if address in previous:
            deps[i].add(previous[address])
        previous[address] = i
        deps[i].update(last_of[n] for n in draft.needs if n in last_of and n != address)
        if draft.operation in (Operation.DELETE, Operation.FORGET):
            rank = order[address.split(".", 1)[0]]
            deps[i].update(j for j, (a, _d) in enumerate(drafts) if order[a.split(".", 1)[0]] > rank)
        if draft.operation in (Operation.DELETE, Operation.REPLACE):
            mold_id = draft.inputs.get("id") or state.id_of(address)
            deps[i].update(j for j, (_a, d) in enumerate(drafts) if mold_id and mold_id in d.releases)
    return deps


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
    if len(out) != len(deps):  # pragma: no cover - kinds never plan circular steps
        raise RuntimeError("planner produced circular action dependencies")
    return out


def _build(drafts: list[tuple[str, Draft]], state: State, spec_digest: str, live: LiveSnapshot,
           diags: Diagnostics) -> Plan:
    deps = _edges(drafts, state)
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
            mold_id=mold_id, inputs=draft.inputs, drift=draft.drift))
    return Plan(
        mwin_version=__version__,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
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


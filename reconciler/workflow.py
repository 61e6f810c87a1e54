"""The operations behind the CLI commands, as plain functions that return values.

The CLI (reconciler.cli) parses flags, calls one of these, renders the result and maps errors to
exit codes; these functions do the work and never print.
"""

from __future__ import annotations

import difflib
import json
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pydantic

from reconciler.diagnostics import Diagnostics
from reconciler.errors import MwinError, PlanError, PlanStale, SpecInvalid, StateError
from reconciler.executor import check_fresh
from reconciler.live import load_apis, plan_focus, refresh
from reconciler.model import OWNER_TAG, LiveSnapshot
from reconciler.mold.api import MoldApi
from reconciler.mold.scope import ALL_PROJECTS, Scoped
from reconciler.plan import Plan
from reconciler.planner import (
    PlanOptions,
    live_digest,
    make_destroy_plan,
    make_plan,
    make_refresh_plan,
)
from reconciler.resources import KINDS, parse_address
from reconciler.resources.base import ExecContext
from reconciler.resources.common import retag
from reconciler.spec import SpecDoc, load_spec
from reconciler.state import ResourceState, State, StateBackend, with_owner

__all__ = ["Planned", "validate", "plan", "refresh_plan", "destroy_plan", "read_plan_file",
           "is_plan_file", "verify_saved_plan", "import_one", "adoptions_only", "state_rm",
           "state_mv", "rebuild_state"]


@dataclass
class Planned:
    plan: Plan
    diagnostics: Diagnostics  # warnings from loading and planning
    live: LiveSnapshot
    state: State


def validate(spec_path: str | Path) -> tuple[SpecDoc, Diagnostics]:
    doc, diags = load_spec(spec_path)
    if doc is None:
        raise SpecInvalid(diags)
    return doc, diags


def plan(spec_path: str | Path, backend: StateBackend, client: MoldApi,
         options: PlanOptions = PlanOptions(),
         loaded: tuple[SpecDoc, Diagnostics] | None = None) -> Planned:
    """``loaded``: the spec at ``spec_path`` as ``validate`` returned it, when the caller has
    it already."""
    doc, diags = loaded if loaded is not None else validate(spec_path)
    state = backend.read()
    placement = sorted({t for d in doc.resources.values()
                        for t in KINDS[d.address.kind].tables(d.spec)})
    projects = _projects_in_play(doc, state)
    focus = plan_focus(doc.resources, state, KINDS)
    # declared, recorded, or named by a reference ({name: …}/{id: …} of an image made by hand)
    declared = {a.kind for a in doc.resources} | set(focus)
    live = refresh(client, KINDS, wanted=_kinds_in_play(state, declared),
                   extra_tables=sorted({*placement, *(["project"] if projects else [])}),
                   projects=projects, focus=focus)
    commit = git_commit(Path(spec_path))
    if commit:
        options = replace(options, provenance=(*options.provenance, ("mwin:git-commit", commit)))
    the_plan, plan_diags = _plan_with_apis(doc, state, live, options, client)
    the_plan = the_plan.model_copy(update={"spec_path": str(spec_path)})
    diags.extend(plan_diags)
    return Planned(the_plan, diags, live, state)


def git_commit(path: Path) -> str | None:
    """The commit the spec's work tree is at, with ``-dirty`` when it has changes; None
    outside Git (or without git)."""
    where = path if path.is_dir() else path.parent
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=False)
        if head.returncode != 0:
            return None
        changes = subprocess.run(["git", "-C", str(where), "status", "--porcelain"],
                                 capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if changes.stdout.strip() else "")


def _plan_with_apis(doc: SpecDoc, state: State, live: LiveSnapshot, options: PlanOptions,
                    client: MoldApi) -> tuple[Plan, Diagnostics]:
    """Plan; if the planner asked what a command accepts (a deploy it is about to plan),
    read just that with ``listApis name=…`` and plan again with the answer."""
    try:
        first = make_plan(doc, state, live, options)
    except PlanError:
        if not live.catalog.missing_apis():
            raise
        first = None
    missing = live.catalog.missing_apis()
    if not missing and first is not None:
        return first
    load_apis(client, live.catalog, missing)
    return make_plan(doc, state, live, options)


def _projects_in_play(doc: SpecDoc | None, state: State) -> bool:
    """Whether any resource is declared in a project or recorded as a project's object: then
    refreshes also list project resources (Mold leaves them out of lists otherwise)."""
    declared = doc is not None and (doc.defaults.project is not None or any(
        d.spec.project for d in doc.resources.values()))
    return declared or any(r.attributes.get("project") for r in state.resources.values())


def _kinds_in_play(state: State, declared: set[str] | None = None) -> list[str]:
    """Kinds worth reading from Mold: declared in the spec or recorded in state."""
    wanted = (declared or set()) | {a.split(".", 1)[0] for a in state.resources}
    return [k for k in KINDS if k in wanted]


def refresh_plan(backend: StateBackend, client: MoldApi) -> Planned:
    state = backend.read()
    live = refresh(client, KINDS, wanted=_kinds_in_play(state),
                   projects=_projects_in_play(None, state))
    return Planned(make_refresh_plan(state, live), Diagnostics(), live, state)


def destroy_plan(backend: StateBackend, client: MoldApi, spec_path: str | Path | None = None,
                 targets: tuple[str, ...] = ()) -> Planned:
    """Everything in state, dependants first. With a spec, resources it declares with
    ``lifecycle.protect`` make it an error (each named at its protect key), as in a plan.
    ``targets``: only these addresses, and what must go before them (what uses them)."""
    state = backend.read()
    diags = Diagnostics()
    if spec_path is not None:
        doc, diags = validate(spec_path)
        _refuse_protected(doc, state)
    live = refresh(client, KINDS, wanted=_kinds_in_play(state),
                   projects=_projects_in_play(None, state))
    the_plan = make_destroy_plan(state, live)
    if targets:
        the_plan = _only_destroying(the_plan, targets, state)
    return Planned(the_plan, diags, live, state)


def _only_destroying(the_plan: Plan, targets: tuple[str, ...], state: State) -> Plan:
    """The destroy plan reduced to the targets' actions and those they wait for (in a destroy
    plan: the dependants that go first, the releases of what they hold), indices renumbered."""
    for address in targets:
        if address not in state.resources:
            close = difflib.get_close_matches(address, sorted(state.resources), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise MwinError(f"--target {address} is not in state{hint}")
    keep = {i for i, a in enumerate(the_plan.actions) if a.address in targets}
    todo = list(keep)
    while todo:
        for before in the_plan.actions[todo.pop()].depends_on:
            if before not in keep:
                keep.add(before)
                todo.append(before)
    new_index = {old: new for new, old in enumerate(sorted(keep))}
    actions = [the_plan.actions[old].model_copy(update={"depends_on": sorted(
        new_index[d] for d in the_plan.actions[old].depends_on)}) for old in sorted(keep)]
    return the_plan.model_copy(update={"actions": actions})


def _refuse_protected(doc: SpecDoc, state: State) -> None:
    problems = Diagnostics()
    for address, decl in sorted(doc.resources.items(), key=lambda item: str(item[0])):
        if decl.spec.lifecycle.protect and str(address) in state.resources:
            problems.error("protected by lifecycle.protect: `mwin destroy` would delete it. "
                           "Set `protect: false` first if it really must go",
                           decl.at("lifecycle.protect"), address=str(address))
    if problems.has_errors:
        raise PlanError(problems)


def find_spec(path: str | Path) -> Path | None:
    """``path`` if it holds a spec (a file, or a directory with *.yaml/*.yml files)."""
    where = Path(path)
    if where.is_file():
        return where
    if where.is_dir() and any([*where.glob("*.yaml"), *where.glob("*.yml")]):
        return where
    return None


def is_plan_file(path: str | Path) -> bool:
    p = Path(path)
    if not p.is_file() or p.suffix.lower() in (".yaml", ".yml"):
        return False
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and "actions" in data and "spec_digest" in data


def read_plan_file(path: str | Path) -> Plan:
    """The plan saved in ``path``; MwinError in one line when it is not one."""
    try:
        return Plan.from_file_json(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    except UnicodeDecodeError:
        why = "not UTF-8 text"
    except pydantic.ValidationError as exc:
        why = _plan_problem(exc)
    raise MwinError(f"{path} is not a readable mwin plan file ({why}); save one with "
                    "`mwin plan --out FILE`")


def _plan_problem(exc: pydantic.ValidationError) -> str:
    """The first reason a file is no plan, in words (never pydantic's report)."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return "not JSON"
    where = ".".join(map(str, first["loc"]))
    more = f", and {len(errors) - 1} more problem(s)" if len(errors) > 1 else ""
    return f"{where + ': ' if where else ''}{first['msg'].lower()}{more}"


def verify_saved_plan(the_plan: Plan, state: State, client: MoldApi) -> None:
    """Refuse a saved plan once the world moved: state, or a live object it acts on."""
    check_fresh(the_plan, state)
    if the_plan.spec_path and Path(the_plan.spec_path).exists():
        doc, _diags = load_spec(the_plan.spec_path)
        if doc is None or doc.digest != the_plan.spec_digest:
            raise PlanStale(f"saved plan is stale: the spec {the_plan.spec_path} changed since "
                            "the plan was made. Run `mwin plan` again.")
    kinds = sorted({a.kind for a in the_plan.actions})
    live = refresh(client, KINDS, wanted=kinds, projects=_projects_in_play(None, state) or any(
        a.inputs.get("projectid") for a in the_plan.actions))
    if live_digest(the_plan.actions, live) != the_plan.live_digest:
        raise PlanStale("saved plan is stale: an object it acts on changed in Mold since the plan "
                        "was made. Run `mwin plan` again.")


def adoptions_only(the_plan: Plan) -> Plan:
    """The plan reduced to its adopt actions (`mwin import --all`)."""
    kept = [a for a in the_plan.actions if a.operation.value == "adopt"]
    return the_plan.model_copy(update={"actions": [a.model_copy(update={"depends_on": []})
                                                   for a in kept]})


def import_one(spec_path: str | Path, backend: StateBackend, client: MoldApi, address: str,
               mold_id: str, take_over: bool = False) -> ImportResult:
    """Record an existing Mold object as ADDRESS (declared in the spec) and give it this
    state's tags. Tags that are right stay; an object another state owns needs ``take_over``
    (its owner tag is replaced), and the result says whose it was."""
    doc, _diags = validate(spec_path)
    try:
        parsed = parse_address(address)
    except ValueError as exc:
        raise MwinError(str(exc)) from None
    if parsed not in doc.resources:
        raise MwinError(f"{address} is not declared in {spec_path}: declare it first, then import")
    state = backend.read()
    if address in state.resources:
        raise MwinError(f"{address} is already in state (id {state.resources[address].id}); "
                        "use `mwin state rm` first to re-import")
    live = refresh(client, KINDS, wanted=[parsed.kind], projects=True)
    obj = live.get(parsed.kind, mold_id)
    if obj is None:
        raise MwinError(_not_importable(client, parsed.kind, mold_id))
    previous = obj.owner_tag
    if previous not in (None, state.owner) and not take_over:
        raise MwinError(f"{mold_id} belongs to another state (owner {previous}, address "
                        f"{obj.address_tag}): importing it here would let two states manage it. "
                        f"Remove it from that state first (`mwin state rm {obj.address_tag}` "
                        "there), then pass --take-over")
    ctx = ExecContext(client=client, resolve=lambda value: value, progress=lambda text: None,
                      owner=state.owner)
    retag(ctx, KINDS[parsed.kind].RESOURCE_TYPE, obj.id, obj.tags, ctx.ownership_tags(address))
    record = ResourceState(id=mold_id, attributes=dict(obj.attrs))
    written = backend.write(state.with_resource(address, record))
    return ImportResult(written, previous if previous != state.owner else None,
                        obj.address_tag if obj.address_tag != address else None)


@dataclass
class ImportResult:
    state: State
    taken_from: str | None  # the owner it had, when another state's
    old_address: str | None  # the address tag it had, when another one


def _not_importable(client: MoldApi, kind: str, mold_id: str) -> str:
    """Why MOLD_ID is no KIND: it is another kind's object, or not visible at all."""
    others = [k for k in KINDS if k != kind]
    live = refresh(client, KINDS, wanted=others, projects=True)
    found = next((k for k in others if live.get(k, mold_id) is not None), None)
    if found:
        return (f"{mold_id} is of kind {found} in Mold, not {kind}: import it as an address "
                f"declared under {KINDS[found].SECTION}:")
    return f"Mold has no {kind} with id {mold_id} visible to this account"


def state_rm(backend: StateBackend, addresses: list[str]) -> State:
    state = backend.read()
    missing = [a for a in addresses if a not in state.resources]
    if missing:
        raise MwinError(f"not in state: {', '.join(missing)}")
    for address in addresses:
        state = state.with_resource(address, None)
    return backend.write(state)


def state_mv(backend: StateBackend, old: str, new: str) -> State:
    state = backend.read()
    if old not in state.resources:
        raise MwinError(f"{old} is not in state")
    if new in state.resources:
        raise MwinError(f"{new} is already in state")
    try:
        if parse_address(old).kind != parse_address(new).kind:
            raise MwinError(f"cannot move {old} to another kind ({new})")
    except ValueError as exc:
        raise MwinError(str(exc)) from None
    record = state.resources[old]
    return backend.write(state.with_resource(old, None).with_resource(new, record))


def rebuild_state(backend: StateBackend, client: MoldApi, owner: str | None = None
                  ) -> tuple[State, list[str]]:
    """State rebuilt from Mold's tags: the objects tagged with ``owner`` (default: this
    state's own), nothing else. Returns it and the problems: addresses claimed by several of
    those objects are left out, and objects tagged by an older mwin without an owner are
    listed (`mwin import` takes them)."""
    try:
        old = backend.read()
    except StateError:
        old = backend_fresh(backend)
    owner = owner or old.owner
    live = refresh(client, KINDS, projects=True)
    claims: dict[str, list[Any]] = {}
    unowned: list[str] = []
    for kind in KINDS:
        for obj in live.of_kind(kind):
            if not (obj.address_tag and obj.address_tag.startswith(f"{kind}.")):
                continue
            if obj.owner_tag == owner:
                claims.setdefault(obj.address_tag, []).append(obj)
            elif obj.owner_tag is None:
                unowned.append(f"{obj.address_tag} ({obj.id})")
    state = old.model_copy(update={"resources": {}, "owner": owner})
    problems = []
    for address, objects in sorted(claims.items()):
        revisions = [o.attrs.get("revision") for o in objects]
        if len(objects) > 1 and None in revisions:
            problems.append(f"{address} is claimed by {len(objects)} objects: "
                            + ", ".join(o.id for o in objects)
                            + "; import the right one with `mwin import`")
            continue
        objects.sort(key=lambda o: o.attrs.get("revision") or 0, reverse=True)
        attrs = dict(objects[0].attrs)
        if len(objects) > 1:  # template revisions: the newest is current, the rest were kept
            attrs["previous_ids"] = [o.id for o in objects[1:]]
        state = state.with_resource(address, ResourceState(id=objects[0].id, attributes=attrs))
    if unowned:
        problems.append(f"{len(unowned)} object(s) carry an address tag but no owner (made by "
                        f"an older mwin), so they were not taken: {', '.join(sorted(unowned))}; "
                        "if they are this state's, take them with `mwin import --all --unowned`")
    return backend.write(state), problems


def backend_fresh(backend: StateBackend) -> State:
    """An empty state for ``backend`` with its derived owner (when what it holds is
    unreadable and is about to be replaced)."""
    return with_owner(State(), backend.identity(), backend.workspace)


@dataclass(frozen=True)
class Revision:
    """One template revision as Mold holds it, for `mwin templates`."""

    address: str
    id: str
    name: str
    revision: int | None
    channel: str | None
    zones: dict[str, str]  # zone name -> "ready" or Mold's status text
    provenance: dict[str, str]  # the mwin:* tags but address and owner


def template_revisions(backend: StateBackend, client: MoldApi, spec_path: str | Path | None = None
                       ) -> list[Revision]:
    """Every revision of this state's templates (those the spec declares, when given), per
    zone, with its provenance and channel; newest first within an address."""
    state = backend.read()
    wanted = None
    if spec_path is not None:
        doc, _diags = validate(spec_path)
        wanted = {str(d.address) for d in doc.of_kind("template")}
    rows = Scoped(client, [None, ALL_PROJECTS]).list_all(
        "listTemplates", "template", {"templatefilter": "self", "listall": True,
                                      "tags": [{"key": OWNER_TAG, "value": state.owner}]})
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row["id"]), []).append(row)
    found = []
    for ident, group in grouped.items():
        tags = {t.get("key", ""): t.get("value", "") for t in group[0].get("tags") or []}
        address = tags.get("mwin:address")
        if address is None or tags.get("mwin:owner") != state.owner:
            continue
        if wanted is not None and address not in wanted:
            continue
        zones = {str(r.get("zonename")): "ready" if r.get("isready") else
                 str(r.get("status") or "not ready") for r in group}
        provenance = {k: v for k, v in tags.items() if k.startswith("mwin:")
                      and k not in ("mwin:address", "mwin:owner", "mwin:channel",
                                    "mwin:revision")}
        revision = tags.get("mwin:revision")
        found.append(Revision(address, ident, str(group[0].get("name")),
                              int(revision) if revision and revision.isdigit() else None,
                              tags.get("mwin:channel"), zones, provenance))
    found.sort(key=lambda r: (r.address, -(r.revision or 0)))
    return found

"""The operations behind the CLI commands, as plain functions that return values.

cli.py parses flags, calls one of these, renders the result and maps errors to
exit codes; these functions do the work and never print.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.diagnostics import Diagnostics
from reconciler.errors import MwinError, PlanStale, SpecInvalid
from reconciler.executor import ApplyOptions, ApplyResult, apply_plan, check_fresh
from reconciler.hooks import Hook
from reconciler.live import LiveSnapshot, refresh
from reconciler.plan import Plan
from reconciler.planner import PlanOptions, live_digest, make_destroy_plan, make_plan
from reconciler.resources import KINDS
from reconciler.spec import SpecDoc, load_spec
from reconciler.state import State, StateBackend

__all__ = ["Planned", "validate", "plan", "destroy_plan", "apply", "read_plan_file",
           "is_plan_file", "verify_saved_plan"]


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


def plan(spec_path: str | Path, backend: StateBackend, client: Any,
         options: PlanOptions = PlanOptions()) -> Planned:
    doc, diags = validate(spec_path)
    state = backend.read()
    placement = sorted({f for d in doc.of_kind("vm") for f in ("pod", "cluster", "host")
                        if getattr(d.spec, f, None)})
    live = refresh(client, KINDS, extra_tables=placement)
    the_plan, plan_diags = make_plan(doc, state, live, options)
    diags.extend(plan_diags)
    return Planned(the_plan, diags, live, state)


def destroy_plan(backend: StateBackend, client: Any) -> Planned:
    state = backend.read()
    live = refresh(client, KINDS)
    return Planned(make_destroy_plan(state, live), Diagnostics(), live, state)


def apply(the_plan: Plan, backend: StateBackend, state: State, client: Any, hook: Hook,
          options: ApplyOptions) -> ApplyResult:
    return apply_plan(the_plan, backend, state, client, hook, options)


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
    try:
        return Plan.from_file_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MwinError(f"{path} is not a readable mwin plan file: {exc}") from None


def verify_saved_plan(the_plan: Plan, state: State, client: Any) -> None:
    """Refuse a saved plan once the world moved: state, or a live object it acts on."""
    check_fresh(the_plan, state)
    kinds = sorted({a.kind for a in the_plan.actions})
    live = refresh(client, KINDS, wanted=kinds)
    if live_digest(the_plan.actions, live) != the_plan.live_digest:
        raise PlanStale("saved plan is stale: an object it acts on changed in Mold since the plan "
                        "was made. Run `mwin plan` again.")

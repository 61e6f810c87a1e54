"""The stable, versioned JSON of a plan (documented in docs/plan-json.md)."""

from __future__ import annotations

import json
from typing import Any

from reconciler.plan import Operation, Plan
from reconciler.render.changes import element_changes, is_nested

__all__ = ["plan_to_json", "JSON_FORMAT_VERSION"]

JSON_FORMAT_VERSION = "1.0"

# Terraform-style action lists, so consumers scanning for "delete" see replacements.
_CHANGE_ACTIONS = {
    Operation.CREATE: ["create"],
    Operation.CREATE_TEMPLATE: ["create"],
    Operation.DELETE: ["delete"],
    Operation.REPLACE: ["create", "delete"],
    Operation.ADOPT: ["import"],
    Operation.FORGET: ["forget"],
    Operation.REFRESH: ["refresh"],
    Operation.DELETE_TEMPLATE_COPY: ["delete"],
    Operation.RETIRE: ["delete"],
    Operation.RECOVER: ["recover"],
}


def plan_dict(plan: Plan) -> dict[str, Any]:
    summary = plan.summary.model_dump()
    return {
        "format_version": JSON_FORMAT_VERSION,
        "mwin_version": plan.mwin_version,
        "created_at": plan.created_at,
        "state": {"lineage": plan.state_lineage, "serial": plan.state_serial},
        "spec_digest": plan.spec_digest,
        "summary": summary,
        "no_op": plan.empty,
        "destroy_mode": plan.destroy_mode,
        "refresh_only": plan.refresh_only,
        "drift": [{"index": i, "address": a.address, "operation": a.operation.value,
                   "changed": a.changed} for i, a in enumerate(plan.actions) if a.drift],
        "actions": [
            {
                "index": i,
                "address": a.address,
                "kind": a.kind,
                "operation": a.operation.value,
                "actions": _CHANGE_ACTIONS.get(a.operation, ["update"]),
                "destructive": a.destructive,
                "reason": a.reason,
                "depends_on": a.depends_on,
                "mold_id": a.mold_id,
                "before": a.before,
                "after": a.after,
                "changed": a.changed,
                "requires_replace": a.requires_replace,
                "drift": a.drift,
                "element_changes": _element_changes(a.before or {}, a.after or {}, a.changed),
            }
            for i, a in enumerate(plan.actions)
        ],
        "warnings": plan.warnings,
    }


def _element_changes(before: dict[str, Any], after: dict[str, Any], changed: list[str]
                     ) -> dict[str, list[dict[str, str]]]:
    """Per changed list or mapping attribute, its elements added (+), removed (-) or changed
    (~), as the text plan shows them."""
    return {key: [{"change": sign, "element": text}
                  for sign, text in element_changes(before.get(key), after.get(key))]
            for key in changed if is_nested(before.get(key), after.get(key))}


def plan_to_json(plan: Plan) -> str:
    return json.dumps(plan_dict(plan), indent=2, ensure_ascii=False)

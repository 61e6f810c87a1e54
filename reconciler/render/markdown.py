"""Plans as Markdown, for pull-request comments: destructive actions flagged first, a
table of actions, then one collapsed <details> block per resource."""

from __future__ import annotations

import json
from typing import Any

from reconciler.plan import Action, Plan
from reconciler.render.colour import pad, display_width
from reconciler.render.text import summary_line

__all__ = ["render_markdown"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: list[list[str]]) -> list[str]:
    """A pipe table whose columns line up in a monospace view, Hangul counted double-width."""
    widths = [max(display_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(pad(c, w) for c, w in zip(row, widths)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _details(index: int, action: Action) -> list[str]:
    before, after = action.before or {}, action.after or {}
    keys = action.changed or sorted(set(before) | set(after))
    lines = [f"<details><summary>#{index + 1} <code>{action.address}</code> "
             f"{action.operation.value}</summary>", "", "```diff"]
    for key in keys:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key in before and old is not None:
            lines.append(f"- {key} = {_value(old)}")
        if key in after and new is not None:
            mark = "  # forces replacement" if key in action.requires_replace else ""
            lines.append(f"+ {key} = {_value(new)}{mark}")
    lines += ["```", "", "</details>"]
    return lines


def render_markdown(plan: Plan) -> str:
    out = ["### mwin plan", ""]
    if plan.empty:
        out.append("**No changes.** Mold matches the spec.")
        return "\n".join(out) + "\n"
    destructive = [a for a in plan.actions if a.destructive]
    if destructive:
        out.append(f"> [!CAUTION]\n> {len(destructive)} destructive action(s): "
                   + ", ".join(f"`{a.address}` ({a.operation.value})" for a in destructive))
        out.append("")
    out.append(f"**{summary_line(plan)}**")
    out.append("")
    rows = [["#", "address", "operation", "reason"]]
    rows += [[str(i + 1), f"`{a.address}`", a.operation.value + (" ⚠" if a.destructive else ""),
              _cell(a.reason)] for i, a in enumerate(plan.actions)]
    out += _table(rows)
    out.append("")
    for index, action in enumerate(plan.actions):
        out += _details(index, action)
    for warning in plan.warnings:
        out.append(f"> [!WARNING]\n> {_cell(warning)}")
    return "\n".join(out) + "\n"

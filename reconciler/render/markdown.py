"""Plans as Markdown, for pull-request comments: destructive actions flagged first, a
table of actions, the graph of what waits for what (Mermaid, collapsed; only when some action
waits for another), then one collapsed <details> block per resource."""

from __future__ import annotations

import json
from typing import Any

from reconciler.plan import Action, Plan
from reconciler.render.changes import element_changes, is_nested
from reconciler.render.colour import display_width, pad
from reconciler.render.graph import to_mermaid
from reconciler.render.text import DRIFT_NOTE, summary_line

__all__ = ["render_markdown"]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: list[list[str]]) -> list[str]:
    """A pipe table whose columns line up in a monospace view, Hangul counted double-width."""
    widths = [max(display_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(pad(c, w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _details(address: str, steps: list[tuple[int, Action]]) -> list[str]:
    """One collapsed block for a resource: the attribute changes of all its actions."""
    names = ", ".join(f"#{i + 1} {a.operation.value}" for i, a in steps)
    lines = [f"<details><summary><code>{address}</code>: {names}</summary>", "", "```diff"]
    for index, action in steps:
        drift = f" {DRIFT_NOTE}" if action.drift else ""
        lines += [f"@@ #{index + 1} {action.operation.value} @@{drift}", *_diff_lines(action)]
    lines += ["```", "", "</details>"]
    return lines


def _diff_lines(action: Action) -> list[str]:
    before, after = action.before or {}, action.after or {}
    lines = []
    for key in action.changed or sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if is_nested(old, new):
            lines += [f"{'!' if sign == '~' else sign} {key}: {text}"
                      for sign, text in element_changes(old, new)]
            continue
        if key in before and old is not None:
            lines.append(f"- {key} = {_value(old)}")
        if key in after and new is not None:
            mark = "  # forces replacement" if key in action.requires_replace else ""
            lines.append(f"+ {key} = {_value(new)}{mark}")
    return lines


def _graph(plan: Plan) -> list[str]:
    """The action graph, collapsed: forges draw a ```mermaid block (GitHub, GitLab)."""
    return ["<details><summary>Graph of the actions (what waits for what)</summary>", "",
            "```mermaid", *to_mermaid(plan).splitlines(), "```", "", "</details>", ""]


def render_markdown(plan: Plan) -> str:
    out = ["### mwin plan", ""]
    if plan.empty:
        out.append("**No changes.** Mold matches the spec.")
        return "\n".join(out + _warnings(plan)) + "\n"
    destructive = [a for a in plan.actions if a.destructive]
    if destructive:
        out.append(f"> [!CAUTION]\n> {len(destructive)} destructive action(s): "
                   + ", ".join(f"`{a.address}` ({a.operation.value})" for a in destructive))
        out.append("")
    out.append(f"**{summary_line(plan)}**")
    out.append("")
    rows = [["#", "address", "operation", "reason"]]
    rows += [[str(i + 1), f"`{a.address}`", a.operation.value + (" ⚠" if a.destructive else ""),
              _cell(a.reason + (" " + DRIFT_NOTE if a.drift else ""))]
             for i, a in enumerate(plan.actions)]
    out += _table(rows)
    out.append("")
    if any(a.depends_on for a in plan.actions):
        out += _graph(plan)
    by_resource: dict[str, list[tuple[int, Action]]] = {}  # address -> its steps, plan order
    for index, action in enumerate(plan.actions):
        by_resource.setdefault(action.address, []).append((index, action))
    for address, steps in by_resource.items():
        out += _details(address, steps)
    return "\n".join(out + _warnings(plan)) + "\n"


def _warnings(plan: Plan) -> list[str]:
    """One quote block each; the blank line before ends the HTML block of a </details>."""
    out: list[str] = []
    for warning in plan.warnings:
        out += ["", f"> [!WARNING]\n> {_cell(warning)}"]
    return out

"""A plan's action graph as Graphviz DOT and as Mermaid (`mwin graph`, and the collapsed
graph of the Markdown plan, which GitHub and GitLab draw).

One node per action, named ``a<index>`` and labelled ``#<n> <address>`` over its operation;
one edge per ``depends_on`` entry, from the action waited for to the one that waits (the order
apply follows). Nodes are coloured by what the operation does to Mold: green adds, amber
changes, red deletes or replaces, blue only touches state.
"""

from __future__ import annotations

import json

from reconciler.plan import Action, Operation, Plan

__all__ = ["edges", "to_dot", "to_mermaid", "COLOURS"]

# operation class -> (fill, stroke), light fills that keep black text readable
COLOURS: dict[str, tuple[str, str]] = {
    "add": ("#d8f3dc", "#2d6a4f"),
    "change": ("#fff3bf", "#b08900"),
    "destroy": ("#ffd6d6", "#c0392b"),
    "state": ("#dbe9ff", "#1c5fb8"),
}
_STATE_ONLY = {Operation.ADOPT, Operation.FORGET, Operation.REFRESH}
_ADDS = {Operation.CREATE, Operation.CREATE_TEMPLATE}


def colour_class(action: Action) -> str:
    if action.destructive or action.operation in (Operation.DELETE, Operation.REPLACE):
        return "destroy"
    if action.operation in _ADDS:
        return "add"
    if action.operation in _STATE_ONLY:
        return "state"
    return "change"


def edges(plan: Plan) -> list[tuple[int, int]]:
    """(waited for, waiting) per dependency, in plan order."""
    return [(before, index) for index, action in enumerate(plan.actions)
            for before in action.depends_on]


def _label(index: int, action: Action) -> tuple[str, str]:
    return f"#{index + 1} {action.address}", action.operation.value


def to_dot(plan: Plan) -> str:
    lines = ["digraph mwin_plan {", "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    for index, action in enumerate(plan.actions):
        head, operation = _label(index, action)
        fill, stroke = COLOURS[colour_class(action)]
        label = json.dumps(f"{head}\n{operation}", ensure_ascii=False)
        lines.append(f'  a{index} [label={label}, fillcolor="{fill}", color="{stroke}"];')
    lines += [f"  a{before} -> a{after};" for before, after in edges(plan)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(plan: Plan) -> str:
    lines = ["flowchart LR"]
    if not plan.actions:
        lines.append('  empty["No changes"]')
    for index, action in enumerate(plan.actions):
        head, operation = _label(index, action)
        lines.append(f'  a{index}["{_mermaid_text(head)}<br/>{_mermaid_text(operation)}"]')
    lines += [f"  a{before} --> a{after}" for before, after in edges(plan)]
    used: dict[str, list[str]] = {}
    for index, action in enumerate(plan.actions):
        used.setdefault(colour_class(action), []).append(f"a{index}")
    for name, nodes in used.items():
        fill, stroke = COLOURS[name]
        lines.append(f"  classDef {name} fill:{fill},stroke:{stroke},color:#000")
        lines.append(f"  class {','.join(nodes)} {name}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    """Text inside a quoted Mermaid label: quotes and angle brackets as entity codes."""
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;"))

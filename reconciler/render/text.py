"""Human-readable plans (Terraform-like) and the apply progress view."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

from reconciler.plan import Action, Operation, Plan
from reconciler.render.changes import element_changes, is_nested
from reconciler.render.colour import Style, display_width, pad

__all__ = ["render_plan", "summary_line", "ProgressView", "SYMBOLS", "DRIFT_NOTE"]

# operation -> (symbol, colour, verb for the header line)
SYMBOLS: dict[Operation, tuple[str, str, str]] = {
    Operation.CREATE: ("+", "green", "will be created"),
    Operation.CREATE_TEMPLATE: ("+", "green", "will be created from its VM's ROOT volume"),
    Operation.UPDATE: ("~", "yellow", "will be updated in place"),
    Operation.DELETE: ("-", "red", "will be destroyed"),
    Operation.REPLACE: ("-/+", "red", "must be replaced"),
    Operation.ADOPT: ("<=", "cyan", "will be adopted from Mold"),
    Operation.FORGET: ("x", "dim", "will be removed from state"),
    Operation.REFRESH: ("~", "cyan", "will be updated in state to what Mold holds"),
    Operation.RETIRE: ("-", "red", "will be deleted after use"),
    Operation.RECOVER: ("+", "cyan", "will be recovered (destroyed outside mwin, its disk kept)"),
}
STEP = ("~", "yellow", "")
DRIFT_NOTE = "(drift: the value was changed in Mold outside mwin; this puts it back)"


def summary_line(plan: Plan) -> str:
    s = plan.summary
    text = f"Plan: {s.add} to add, {s.change} to change, {s.destroy} to destroy."
    extras = [f"{s.adopt} to adopt" if s.adopt else "", f"{s.forget} to forget" if s.forget else "",
              f"{s.refresh} to refresh in state" if s.refresh else ""]
    extras = [e for e in extras if e]
    return text[:-1] + (", " + ", ".join(extras) + "." if extras else ".")


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _attr_lines(action: Action, style: Style) -> list[str]:
    before, after = action.before or {}, action.after or {}
    op = action.operation
    if op in (Operation.ADOPT, Operation.FORGET):
        return []
    if op in (Operation.CREATE, Operation.CREATE_TEMPLATE):
        keys = [k for k in after if after[k] is not None]
    elif op is Operation.DELETE:
        keys = [k for k in before if before[k] is not None]
    else:
        keys = list(action.changed)
    width = max((display_width(k) for k in keys), default=0)
    lines = []
    for key in keys:
        name = pad(key, width)
        if op in (Operation.CREATE, Operation.CREATE_TEMPLATE):
            lines.append(f"      {style('+', 'green')} {name} = {_value(after[key])}")
        elif op is Operation.DELETE:
            lines.append(f"      {style('-', 'red')} {name} = {_value(before[key])}")
        else:
            note = style("  # forces replacement", "red") if key in action.requires_replace else ""
            old, new = before.get(key), after.get(key)
            if is_nested(old, new):
                lines.append(f"      {style('~', 'yellow')} {name}:{note}")
                colours = {"+": "green", "-": "red", "~": "yellow"}
                lines += [f"          {style(sign, colours[sign])} {text}"
                          for sign, text in element_changes(old, new)]
                continue
            lines.append(f"      {style('~', 'yellow')} {name} = {_value(old)} → "
                         f"{_value(new)}{note}")
    return lines


def render_action(index: int, action: Action, style: Style) -> list[str]:
    symbol, colour, verb = SYMBOLS.get(action.operation, STEP)
    if not verb:
        verb = f"will {action.operation.value.replace('_', ' ')}"
    head = style(f"  # {action.address} {verb}", "bold")
    lines = [head, f"    {style('(' + action.reason + ')', 'dim')}"]
    if action.drift:
        lines.append(f"    {style(DRIFT_NOTE, 'yellow')}")
    deps = f"  after #{', #'.join(str(d + 1) for d in action.depends_on)}" if action.depends_on else ""
    kind, _, key = action.address.partition(".")
    lines.append(f"{style(symbol.rjust(3), colour)} {kind} {json.dumps(key, ensure_ascii=False)}"
                 f"  [#{index + 1}]{style(deps, 'dim')}")
    lines.extend(_attr_lines(action, style))
    return lines


def render_plan(plan: Plan, style: Style) -> str:
    out: list[str] = []
    for warning in plan.warnings:
        out.append(style(warning, "yellow"))  # "file:line: warning: …", as compilers say it
    if out:
        out.append("")
    if plan.empty:
        out.append(style("No changes.", "green", "bold") + " Mold matches the spec.")
        return "\n".join(out)
    destructive = [a for a in plan.actions if a.destructive]
    if destructive:
        names = ", ".join(sorted({a.address for a in destructive}))
        out.append(style(f"! {len(destructive)} destructive action(s): {names}", "red", "bold"))
        out.append("")
    out.append("mwin will perform the following actions, in this order:")
    out.append("")
    for index, action in enumerate(plan.actions):
        out.extend(render_action(index, action, style))
        out.append("")
    out.append(style(summary_line(plan), "bold"))
    return "\n".join(out)


class ProgressView:
    """Apply progress as lines: one per start, progress change, finish or failure (where
    stderr is not a terminal: CI logs, files; on a terminal the CLI shows
    ``render.progress.LiveProgress``).

    ``stream`` defaults to ``sys.stderr`` as it is when the view is made; ``style`` to plain
    text (the CLI passes the one --color/--no-color and the stream decide, ``style_for``)."""

    def __init__(self, stream: TextIO | None = None, style: Style | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.style = style or Style(False)
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}

    def _say(self, text: str) -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def _label(self, action: Action) -> str:
        return f"{action.address} ({action.operation.value})"

    def action_started(self, index: int, action: Action) -> None:
        self._started[index] = time.monotonic()
        self._say(f"{self._label(action)}: started")

    def action_progress(self, index: int, action: Action, message: str) -> None:
        elapsed = time.monotonic() - self._started.get(index, time.monotonic())
        self._say(self.style(f"{self._label(action)}: {message} [{elapsed:.0f}s elapsed]", "dim"))

    def action_finished(self, index: int, action: Action, seconds: float) -> None:
        self._say(self.style(f"{self._label(action)}: done after {seconds:.1f}s", "green"))

    def action_failed(self, index: int, action: Action, error: Exception) -> None:
        self._say(self.style(f"{self._label(action)}: FAILED: {error}", "red", "bold"))

    def action_skipped(self, index: int, action: Action, because: list[int]) -> None:
        after = ", ".join(f"#{b + 1}" for b in because)
        self._say(self.style(f"{self._label(action)}: skipped because {after} did not succeed",
                             "yellow"))

    def close(self) -> None:
        """Nothing to take off the screen (``render.progress.LiveProgress`` has)."""

    def __enter__(self) -> ProgressView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Where a command's text goes, and in which colours.

``Output(color)`` carries --color/--no-color (the command's, or the one given before the
command name: ``globalopts.chosen_colour``) to every view: each stream (stdout for plans and
results, stderr for warnings and apply progress) is styled by that flag, else by whether it is
a terminal (NO_COLOR and TERM=dumb switch colour off; ``render.colour.use_colour``). Styled
text goes out through ``echo``, which tells click the same (click strips colour codes from
a stream that is not a terminal unless told otherwise).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TextIO

import typer

from reconciler.cli.globalopts import chosen_colour
from reconciler.diagnostics import Diagnostics
from reconciler.hooks import Hook
from reconciler.mold import narrate_jobs
from reconciler.plan import Action, Plan
from reconciler.render.colour import Style, style_for
from reconciler.render.progress import LiveProgress
from reconciler.render.text import ProgressView, render_plan

__all__ = ["Output", "Progress"]


@dataclass(frozen=True)
class Output:
    color: bool | None = None  # --color/--no-color; None: each stream decides

    def __post_init__(self) -> None:
        if self.color is None:  # given before the command name, or to a command without it
            object.__setattr__(self, "color", chosen_colour())

    @property
    def out(self) -> Style:
        return style_for(sys.stdout, self.color)

    @property
    def err(self) -> Style:
        return style_for(sys.stderr, self.color)

    def echo(self, text: str, *, err: bool = False) -> None:
        typer.echo(text, err=err, color=self.color)

    def warnings(self, diags: Diagnostics) -> None:
        for diag in diags.warnings:
            self.echo(self.err(diag.render(), "yellow"), err=True)  # "file:line: warning: …"

    def plan(self, the_plan: Plan, *, warnings: bool = True) -> None:
        """The plan as text on stdout; ``warnings=False`` leaves out the plan's own warnings
        (when ``warnings()`` has printed them on stderr)."""
        shown = the_plan if warnings else the_plan.model_copy(update={"warnings": []})
        self.echo(render_plan(shown, self.out))

    def progress(self) -> Progress:
        """The apply progress view on stderr: live lines on a terminal, plain lines
        otherwise. Use it as a context manager: leaving it takes the live lines away."""
        stream = sys.stderr
        view: ProgressView | LiveProgress
        if _is_terminal(stream):
            view = LiveProgress(stream, colour=self.err.enabled)
        else:
            view = ProgressView(stream, self.err)
        return Progress(view)


def _is_terminal(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


class Progress:
    """A progress view (hook) that also hears of the jobs an action waits on without saying
    so itself (the createTags job after a create, …: ``mold.narrate_jobs``). The executor
    calls ``action_started`` and ``action_finished`` in the worker thread that runs the
    action, which is where the client's waits run."""

    def __init__(self, view: Hook | ProgressView | LiveProgress) -> None:
        self.view = view

    def action_started(self, index: int, action: Action) -> None:
        narrate_jobs(lambda message: self.view.action_progress(index, action, message))
        self.view.action_started(index, action)

    def action_progress(self, index: int, action: Action, message: str) -> None:
        self.view.action_progress(index, action, message)

    def action_finished(self, index: int, action: Action, seconds: float) -> None:
        narrate_jobs(None)
        self.view.action_finished(index, action, seconds)

    def action_failed(self, index: int, action: Action, error: Exception) -> None:
        self.view.action_failed(index, action, error)

    def action_skipped(self, index: int, action: Action, because: list[int]) -> None:
        self.view.action_skipped(index, action, because)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        close = getattr(self.view, "close", None)
        if close is not None:
            close()

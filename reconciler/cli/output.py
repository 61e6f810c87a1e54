"""Where a command's text goes, and in which colours.

``Output(color)`` carries --color/--no-color (the command's, or the one given before the
command name: ``globalopts.chosen_colour``) to every view: each stream (stdout for plans and
results, stderr for warnings and apply progress) is styled by that flag, else by whether it is
a terminal (NO_COLOR and TERM=dumb switch colour off; ``render.colour.use_colour``). Styled
text goes out through ``echo``, which tells click the same (click strips colour codes from
a stream that is not a terminal unless told otherwise).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import typer

from reconciler.cli.globalopts import chosen_colour
from reconciler.diagnostics import Diagnostics
from reconciler.plan import Plan
from reconciler.render.colour import Style, style_for
from reconciler.render.text import ProgressView, render_plan

__all__ = ["Output"]


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
            self.echo(self.err("Warning: ", "yellow", "bold") + diag.render(), err=True)

    def plan(self, the_plan: Plan, *, warnings: bool = True) -> None:
        """The plan as text on stdout; ``warnings=False`` leaves out the plan's own warnings
        (when ``warnings()`` has printed them on stderr)."""
        shown = the_plan if warnings else the_plan.model_copy(update={"warnings": []})
        self.echo(render_plan(shown, self.out))

    def progress(self) -> ProgressView:
        """The apply progress view, on stderr."""
        return ProgressView(sys.stderr, self.err)

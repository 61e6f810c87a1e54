"""`mwin plan`: what apply would change, as text, JSON or Markdown, optionally saved."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler import workflow
from reconciler.cli import planfile
from reconciler.cli.guards import AllowEmptyOpt, refuse_empty_spec
from reconciler.cli.options import (
    ColorOpt,
    Connection,
    PlanJsonOpt,
    PollOpt,
    ReplaceOpt,
    SpecArg,
    StateOptions,
    TargetOpt,
    grouped,
)
from reconciler.cli.output import Output
from reconciler.planner import PlanOptions
from reconciler.render.json import plan_to_json
from reconciler.render.markdown import render_markdown

__all__ = ["plan"]


@grouped
def plan(spec: SpecArg = Path(), where: StateOptions = StateOptions(),
         as_json: PlanJsonOpt = False,
         markdown: Annotated[bool, typer.Option(
             "--markdown", help="Print the plan as Markdown (for pull-request comments).")] = False,
         out: Annotated[Path | None, typer.Option(
             "--out", "-o", metavar="FILE", help="Save the plan to FILE.")] = None,
         detailed_exitcode: Annotated[bool, typer.Option(
             "--detailed-exitcode", help="Exit 0 with no changes, 2 with changes, 1 on error.")] = False,
         target: TargetOpt = None, replace: ReplaceOpt = None,
         refresh_only: Annotated[bool, typer.Option(
             "--refresh-only", help="Only show what changed in Mold behind mwin's back (as "
                                    "state updates); propose no changes to Mold.")] = False,
         allow_empty_spec: AllowEmptyOpt = False,
         mold: Connection = Connection(), poll_interval: PollOpt = "500ms",
         color: ColorOpt = None) -> None:
    """Show what apply would change.

    Reads what Mold holds now, compares it with the spec and the state, and prints the
    actions in the order apply would take them, each with its reason."""
    with mold.client(poll_interval) as client:
        options = PlanOptions(tuple(target or ()), tuple(replace or ()))
        backend = where.open()
        loaded = None if refresh_only else refuse_empty_spec(spec, backend, allow_empty_spec)
        planned = (workflow.refresh_plan(backend, client) if refresh_only else
                   workflow.plan(spec, backend, client, options, loaded))
    if out is not None:
        planfile.save(planned.plan, out)
    if as_json:
        typer.echo(plan_to_json(planned.plan))
    elif markdown:
        typer.echo(render_markdown(planned.plan))
    else:
        output = Output(color)
        output.warnings(planned.diagnostics)
        output.plan(planned.plan, warnings=False)
        if out is not None:
            typer.echo(f"\nSaved the plan to {out}. Apply exactly this plan with: mwin apply {out}")
    if detailed_exitcode and not planned.plan.empty:
        raise typer.Exit(2)

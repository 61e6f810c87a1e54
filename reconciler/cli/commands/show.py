"""`mwin show`: a saved plan rendered, or (without a file) what the state records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli import planfile
from reconciler.cli.options import ColorOpt, PlanJsonOpt, StateOptions, grouped
from reconciler.cli.output import Output
from reconciler.errors import MwinError
from reconciler.render.json import plan_to_json
from reconciler.render.markdown import render_markdown
from reconciler.render.state import render_state

__all__ = ["show"]


@grouped
def show(plan_file: Annotated[Path | None, typer.Argument(
             metavar="PLAN_FILE", help="A plan saved with `mwin plan --out` (default: show the "
                                       "state instead).")] = None,
         where: StateOptions = StateOptions(),
         as_json: PlanJsonOpt = False,
         markdown: Annotated[bool, typer.Option("--markdown", help="Print it as Markdown.")] = False,
         color: ColorOpt = None) -> None:
    """Show a saved plan, or what the state records.

    Without PLAN_FILE: every address in state with its Mold id and the attributes last
    applied or seen (--json: the state file's JSON)."""
    output = Output(color)
    if plan_file is None:
        if markdown:
            raise MwinError("--markdown renders a plan: give the PLAN_FILE saved with "
                            "`mwin plan --out`")
        backend = where.open()
        current = backend.read()
        if as_json:
            typer.echo(json.dumps(current.model_dump(mode="json"), indent=2, ensure_ascii=False,
                                  sort_keys=True))
            return
        output.echo(render_state(dict(current.resources), backend.describe(), current.serial,
                                 output.out))
        return
    the_plan = planfile.read(plan_file)
    if as_json:
        typer.echo(plan_to_json(the_plan))
        return
    if markdown:
        typer.echo(render_markdown(the_plan))
        return
    output.plan(the_plan)  # ends with the summary line, or says there are no changes
    if not the_plan.empty:
        typer.echo(f"\nApply exactly this plan with: mwin apply {plan_file}")

"""`mwin show`: a saved plan rendered, and whether it changes anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli import planfile
from reconciler.cli.options import ColorOpt, PlanJsonOpt
from reconciler.cli.output import Output
from reconciler.render.json import plan_to_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import summary_line

__all__ = ["show"]


def show(plan_file: Annotated[Path, typer.Argument(help="A plan saved with `mwin plan --out`.")],
         as_json: PlanJsonOpt = False,
         markdown: Annotated[bool, typer.Option("--markdown", help="Print it as Markdown.")] = False,
         color: ColorOpt = None) -> None:
    """Render a saved plan and say whether it is a no-op."""
    the_plan = planfile.read(plan_file)
    if as_json:
        typer.echo(plan_to_json(the_plan))
        return
    if markdown:
        typer.echo(render_markdown(the_plan))
        return
    Output(color).plan(the_plan)
    if the_plan.empty:
        typer.echo("This plan is a no-op.")
    else:
        typer.echo(f"This plan makes changes ({summary_line(the_plan)})")

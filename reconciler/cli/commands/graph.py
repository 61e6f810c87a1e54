"""`mwin graph`: the plan's action graph, as Graphviz DOT or Mermaid."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from reconciler import workflow
from reconciler.cli import planfile
from reconciler.cli.options import (
    Connection,
    PollOpt,
    ReplaceOpt,
    StateOptions,
    TargetOpt,
    grouped,
)
from reconciler.planner import PlanOptions
from reconciler.render.graph import to_dot, to_mermaid

__all__ = ["graph"]


class GraphFormat(StrEnum):
    DOT = "dot"
    MERMAID = "mermaid"


@grouped
def graph(spec_or_plan: Annotated[Path, typer.Argument(
              metavar="SPEC_OR_PLAN", help="Spec file/directory (planned now, against Mold), or "
                                           "a plan saved with `mwin plan --out` (offline).")
          ] = Path(),
          output_format: Annotated[GraphFormat, typer.Option(
              "--format", metavar="dot|mermaid", case_sensitive=False,
              help="dot for Graphviz (`| dot -Tsvg > plan.svg`), mermaid for Markdown.")
          ] = GraphFormat.DOT,
          where: StateOptions = StateOptions(), target: TargetOpt = None,
          replace: ReplaceOpt = None, mold: Connection = Connection(),
          poll_interval: PollOpt = "500ms") -> None:
    """Print the plan's action graph: each action, and what it waits for.

    Edges run from an action to the ones that wait for it (the plan's depends_on); colours say
    what an action does: green adds, amber changes, red deletes or replaces, blue only
    touches state."""
    if planfile.is_plan_file(spec_or_plan):
        the_plan = planfile.read(spec_or_plan)
    else:
        with mold.client(poll_interval) as client:
            options = PlanOptions(tuple(target or ()), tuple(replace or ()))
            the_plan = workflow.plan(spec_or_plan, where.open(), client, options).plan
    render = to_dot if output_format is GraphFormat.DOT else to_mermaid
    typer.echo(render(the_plan), nl=False)

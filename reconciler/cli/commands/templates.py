"""`mwin templates`: every revision of this state's templates as Mold holds them, per zone, with
its channel and provenance tags."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from reconciler import workflow
from reconciler.cli.options import Connection, StateOptions, grouped

__all__ = ["templates"]


@grouped
def templates(spec: Annotated[Path | None, typer.Argument(
                  help="Only the templates this spec declares (default: every template of the "
                       "state).")] = None,
              where: StateOptions = StateOptions(),
              as_json: Annotated[bool, typer.Option(
                  "--json", help="Machine-readable: a list of revisions.")] = False,
              mold: Connection = Connection()) -> None:
    """List template revisions: zones and their readiness, the channel, provenance.

    The revision carrying `mwin:channel=stable` is the one consumers should use; older revisions kept by `keep` are listed below it.
    """
    with mold.client() as client:
        found = workflow.template_revisions(where.open(), client, spec)
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in found], ensure_ascii=False, indent=2))
        return
    if not found:
        typer.echo("No template revisions of this state in Mold.")
        return
    address = None
    for rev in found:
        if rev.address != address:
            address = rev.address
            typer.echo(f"{address}")
        channel = f"  [{rev.channel}]" if rev.channel else ""
        typer.echo(f"  revision {rev.revision if rev.revision is not None else '?'}"
                   f"{channel}  {rev.name}  ({rev.id})")
        zones = ", ".join(f"{zone}: {status}" for zone, status in sorted(rev.zones.items()))
        typer.echo(f"    zones: {zones}")
        for key, value in sorted(rev.provenance.items()):
            typer.echo(f"    {key.removeprefix('mwin:')}: {value}")

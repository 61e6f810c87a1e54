"""`mwin validate`: the spec checked offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from reconciler import workflow
from reconciler.cli.guards import NOTHING_DECLARED
from reconciler.cli.options import ColorOpt, SpecArg
from reconciler.cli.output import Output
from reconciler.errors import SpecInvalid

__all__ = ["validate"]


def validate(spec: SpecArg = Path(),
             as_json: Annotated[bool, typer.Option("--json", help="Machine-readable result.")] = False,
             color: ColorOpt = None) -> None:
    """Check the spec offline: every problem at once, with file:line."""
    try:
        doc, diags = workflow.validate(spec)
    except SpecInvalid as exc:
        if as_json:
            typer.echo(json.dumps({"valid": False, "diagnostics": [
                d.to_json() for d in exc.diagnostics]}, ensure_ascii=False, indent=2))
            raise typer.Exit(1) from None
        raise
    if as_json:
        typer.echo(json.dumps({"valid": True, "resources": len(doc.resources),
                               "diagnostics": [d.to_json() for d in diags]}, indent=2))
        return
    output = Output(color)
    output.warnings(diags)
    if not doc.resources:
        output.echo(output.err("Warning: ", "yellow", "bold") + NOTHING_DECLARED, err=True)
    typer.echo(f"The spec is valid: {len(doc.resources)} resource(s) in {len(doc.files)} file(s).")

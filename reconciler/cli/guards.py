"""A spec that declares nothing: `validate` warns, and a plan that would therefore delete
everything in state is refused unless asked for with --allow-empty-spec (a wrong path, an
emptied file or a directory of the wrong files must never read as "delete it all")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler import workflow
from reconciler.diagnostics import Diagnostics
from reconciler.errors import MwinError
from reconciler.spec import SpecDoc
from reconciler.state import StateBackend

__all__ = ["AllowEmptyOpt", "NOTHING_DECLARED", "refuse_empty_spec"]

NOTHING_DECLARED = ("the spec declares no resource (no isos, networks, vms or templates): a plan "
                    "from it deletes everything in state")

AllowEmptyOpt = Annotated[bool, typer.Option(
    "--allow-empty-spec", help="Plan from a spec that declares nothing, i.e. delete everything "
                               "in state (refused otherwise; `mwin destroy` says it plainly).")]


def refuse_empty_spec(spec: Path, backend: StateBackend, allowed: bool
                      ) -> tuple[SpecDoc, Diagnostics] | None:
    """Raise when ``spec`` declares nothing while the state holds resources, unless
    ``allowed``. A spec with errors is left for the plan to report. Returns the spec as
    loaded, for the plan to use (loading a large spec twice costs seconds)."""
    try:
        loaded = workflow.validate(spec)
    except MwinError:
        return None
    if loaded[0].resources or allowed:
        return loaded
    held = len(backend.read().resources)
    if held:
        raise MwinError(f"{spec} declares no resource, so this plan would delete all {held} "
                        f"resource(s) in state ({backend.describe()}). Check the path and the "
                        "files; to delete everything say so: `mwin destroy`, or pass "
                        "--allow-empty-spec")
    return loaded

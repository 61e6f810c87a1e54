"""`mwin import`: existing Mold objects brought under management."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler import workflow
from reconciler.cli.options import (
    Connection,
    LockOpt,
    PollOpt,
    StateOptions,
    grouped,
    parse_duration,
)
from reconciler.cli.output import Output
from reconciler.errors import ApplyFailed, MwinError
from reconciler.executor import ApplyOptions, apply_plan
from reconciler.planner import PlanOptions

__all__ = ["import_"]


@grouped
def import_(address: Annotated[str | None, typer.Argument(
                metavar="ADDRESS", help="Address declared in the spec, e.g. vm.win2022-master.")] = None,
            mold_id: Annotated[str | None, typer.Argument(metavar="ID",
                                                                  help="Mold id of the object.")] = None,
            spec: Annotated[Path, typer.Option(
                "--spec", metavar="SPEC", help="Spec file or directory.")] = Path(),
            all_: Annotated[bool, typer.Option(
                "--all", help="Adopt, for every declared resource not in state, the object "
                              "carrying its address and this state's owner tag, or else a "
                              "unique exact-name match among untagged objects.")] = False,
            unowned: Annotated[bool, typer.Option(
                "--unowned", help="With --all: also take objects carrying the address tag but "
                                  "no owner tag (made by mwin 0.1, before owners existed).")
            ] = False,
            take_over: Annotated[bool, typer.Option(
                "--take-over", help="With ADDRESS ID: import an object another state owns "
                                    "(its mwin:owner tag is replaced). Remove it from that "
                                    "state first.")] = False,
            where: StateOptions = StateOptions(), lock_timeout: LockOpt = "0s",
            mold: Connection = Connection(), poll_interval: PollOpt = "500ms") -> None:
    """Bring existing Mold objects under management.

    The next plan shows any differences between them and the spec."""
    if all_ == bool(address or mold_id) or (address is None) != (mold_id is None):
        raise MwinError("give either ADDRESS and ID, or --all")
    if unowned and not all_:
        raise MwinError("--unowned goes with --all (an object given by ID is taken anyway)")
    if take_over and all_:
        raise MwinError("--take-over goes with ADDRESS ID only: objects of another state are "
                        "never taken in bulk")
    backend = where.open()
    with mold.client(poll_interval) as client, \
            backend.locked("import", parse_duration(lock_timeout)):
        if address and mold_id:
            done = workflow.import_one(spec, backend, client, address, mold_id, take_over)
            whose = f" (taken over from owner {done.taken_from})" if done.taken_from else ""
            moved = f" (it was tagged {done.old_address})" if done.old_address else ""
            typer.echo(f"Imported {mold_id} as {address}{whose}{moved}, owner "
                       f"{done.state.owner}. Run `mwin plan` to see differences.")
            return
        planned = workflow.plan(spec, backend, client, PlanOptions(adopt_unowned=unowned))
        adopt = workflow.adoptions_only(planned.plan)
        with Output().progress() as view:
            result = apply_plan(adopt, backend, planned.state, client, view, ApplyOptions())
    for index in sorted(result.finished):
        action = adopt.actions[index]
        typer.echo(f"Adopted {action.address}: {action.inputs['id']} ({action.reason})")
    for index, error in sorted(result.failed.items()):
        typer.echo(f"Not adopted: {adopt.actions[index].address}: {error}", err=True)
    if result.failed:
        raise ApplyFailed(f"import --all: {len(result.finished)} object(s) adopted, "
                          f"{len(result.failed)} not (above); state holds the adopted ones. Fix "
                          "the cause and run `mwin import --all` again.")
    typer.echo(f"{len(result.finished)} object(s) adopted.")

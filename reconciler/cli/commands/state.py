"""`mwin state …`: inspect and edit the state (each edit locked and atomic)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from reconciler import workflow
from reconciler.cli import complete
from reconciler.cli.options import (
    AddressArg,
    Connection,
    LockOpt,
    StateOptions,
    grouped,
    parse_duration,
)
from reconciler.cli.prompt import confirm_unlock
from reconciler.errors import MwinError
from reconciler.state import LocalState, State, push_state

__all__ = ["state_app"]

state_app = typer.Typer(help="Inspect and edit the state (each edit locked and atomic).",
                        no_args_is_help=True)


@state_app.command("list")
@grouped
def state_list(where: StateOptions = StateOptions()) -> None:
    """List the addresses mwin manages, with their Mold ids."""
    backend = where.open()
    current = backend.read()
    if not current.resources:  # said on stderr: stdout stays a list for scripts
        typer.echo(f"The state is empty ({backend.describe()}): mwin manages nothing there.",
                   err=True)
    for address, record in sorted(current.resources.items()):
        typer.echo(f"{address}\t{record.id}")


@state_app.command("show")
@grouped
def state_show(address: AddressArg, where: StateOptions = StateOptions()) -> None:
    """Print what state records for ADDRESS (JSON)."""
    record = where.open().read().resources.get(address)
    if record is None:
        raise MwinError(f"{address} is not in state")
    typer.echo(json.dumps({"address": address, **record.model_dump()}, indent=2,
                          ensure_ascii=False))


@state_app.command("rm")
@grouped
def state_rm(addresses: Annotated[list[str], typer.Argument(
                 metavar="ADDRESS", autocompletion=complete.addresses,
                 help="Addresses in state.")], where: StateOptions = StateOptions(),
             lock_timeout: LockOpt = "0s") -> None:
    """Forget ADDRESS(es): Mold keeps the objects; mwin stops managing them."""
    backend = where.open()
    with backend.locked("state rm", parse_duration(lock_timeout)):
        workflow.state_rm(backend, addresses)
    typer.echo(f"Removed {len(addresses)} address(es) from state.")


@state_app.command("unlock")
@grouped
def state_unlock(lock_id: Annotated[str, typer.Argument(
                     metavar="LOCK_ID", help="The lock ID shown by the error of the run that found it locked.")],
                 where: StateOptions = StateOptions(),
                 force: Annotated[bool, typer.Option(
                     "--force", help="Do not ask for confirmation (needed without a "
                                     "terminal).")] = False) -> None:
    """Clear a state lock whose holder cannot release it (killed runner, hung session).

    Use it when a run failed with "state ... is locked by ..." and you know the holder it names is gone or hung: LOCK_ID is the ID that error shows. A wrong ID is refused. Only when the holder is really gone: two applies at once on one state can lose or duplicate objects.

    A file lock is released by the kernel when its process ends, so for a state file this clears what a dead holder left behind and refuses while a live process holds it (stop that process instead). For PostgreSQL it ends the holder's database session (pg_terminate_backend), which frees the lock.
    """
    typer.echo(where.open().force_unlock(lock_id, None if force else confirm_unlock))


@state_app.command("mv")
@grouped
def state_mv(old: AddressArg,
             new: Annotated[str, typer.Argument(metavar="NEW", help="The new address.")],
             where: StateOptions = StateOptions(),
             lock_timeout: LockOpt = "0s") -> None:
    """Rename an address in state (after renaming its key in the spec)."""
    backend = where.open()
    with backend.locked("state mv", parse_duration(lock_timeout)):
        workflow.state_mv(backend, old, new)
    typer.echo(f"Moved {old} to {new}.")


@state_app.command("rebuild")
@grouped
def state_rebuild(where: StateOptions = StateOptions(), lock_timeout: LockOpt = "0s",
                  owner: Annotated[str | None, typer.Option(
                      "--owner", metavar="OWNER", help="Collect the objects tagged with this owner (default: "
                                      "this state's own, as recorded or derived from where it "
                                      "lives); the rebuilt state then has that owner.")] = None,
                  mold: Connection = Connection()) -> None:
    """Rebuild state from Mold's tags (lost or corrupt state): only the objects of this state's owner."""
    backend = where.open()
    with mold.client() as client, backend.locked("state rebuild", parse_duration(lock_timeout)):
        rebuilt, problems = workflow.rebuild_state(backend, client, owner)
    for problem in problems:
        typer.echo(f"Warning: {problem}", err=True)
    typer.echo(f"Rebuilt state with {len(rebuilt.resources)} resource(s) of owner {rebuilt.owner} "
               f"(serial {rebuilt.serial}).")


@state_app.command("pull")
@grouped
def state_pull(where: StateOptions = StateOptions()) -> None:
    """Print the state as JSON (the state file's format), e.g. to move it to another backend."""
    backend = where.open()
    current = backend.read()
    if current.serial == 0:
        raise MwinError(f"no state is stored in {backend.describe()}")
    typer.echo(json.dumps(current.model_dump(mode="json"), indent=2, ensure_ascii=False,
                          sort_keys=True))


@state_app.command("push")
@grouped
def state_push(source: Annotated[Path, typer.Argument(
                   metavar="FILE", help="A state file (e.g. state/mwin.state.json or the output of `mwin state "
                        "pull`), or - for stdin.")],
               where: StateOptions = StateOptions(), lock_timeout: LockOpt = "0s",
               force: Annotated[bool, typer.Option(
                   "--force", help="Replace a state of another lineage or a newer serial.")
               ] = False) -> None:
    """Write a state file into the backend in force (lineage kept; refuses to clobber)."""
    pushed = _read_pushed(source)
    backend = where.open()
    with backend.locked("state push", parse_duration(lock_timeout)):
        written = push_state(backend, pushed, force)
    typer.echo(f"Pushed {len(written.resources)} resource(s) to {backend.describe()} "
               f"(lineage {written.lineage}, serial {written.serial}).")


def _read_pushed(source: Path) -> State:
    """The state `state push` writes: a state file, or the JSON of `state pull` on stdin."""
    if str(source) == "-":
        try:
            return State.model_validate_json(sys.stdin.read())
        except ValueError:
            raise MwinError("stdin does not hold a state (the JSON `mwin state pull` prints)") \
                from None
    if not source.exists() or source.is_dir():
        raise MwinError(f"{source} is not a state file")
    return LocalState(source).read()

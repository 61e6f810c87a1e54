"""`mwin workspace …`: several states in one backend."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from reconciler.cli.options import (
    DEFAULT_STATE,
    BackendOpt,
    LockOpt,
    StateOpt,
    open_state,
    parse_duration,
)
from reconciler.errors import MwinError
from reconciler.state import current_workspace, select_workspace

__all__ = ["workspace_app"]

# .mwin/ holds config.yaml, meant to be committed, and the local selection, which is not: a
# .gitignore beside them ignores the selection (and itself), so `git status` shows only
# config.yaml, once there is one.
GITIGNORE = "# written by mwin: the selected workspace is this checkout's own\n/workspace\n/.gitignore\n"

workspace_app = typer.Typer(
    help="Several states in one backend, each with keys of its own.\n\n"
         "A state never takes over an object another state made for the same address, so two "
         "workspaces cannot manage the same keys: per zone, give each state's resources keys "
         "of their own (a prefix such as z2-, keeping the Mold name with `name:`), or declare a "
         "template once with `zones:` to have it copied to the other zones (docs/state.md, "
         "\"Workspaces\").",
    no_args_is_help=True)


@workspace_app.command("list")
def workspace_list(state: StateOpt = DEFAULT_STATE, backend_url: BackendOpt = None) -> None:
    """List the workspaces; * marks the selected one."""
    current = current_workspace()
    for name in open_state(state, backend_url, current).workspaces():
        typer.echo(f"{'*' if name == current else ' '} {name}")


@workspace_app.command("show")
def workspace_show() -> None:
    """Print the selected workspace."""
    typer.echo(current_workspace())


@workspace_app.command("new")
def workspace_new(name: str, state: StateOpt = DEFAULT_STATE, backend_url: BackendOpt = None,
                  lock_timeout: LockOpt = "0s") -> None:
    """Create workspace NAME (an empty state) and select it."""
    backend = open_state(state, backend_url, name)
    if name in backend.workspaces():
        raise MwinError(f"workspace {name} already exists in {backend.describe()}")
    with backend.locked("workspace new", parse_duration(lock_timeout)):
        backend.write(backend.read())
    _select(name)
    typer.echo(f"Created and selected workspace {name}.")


@workspace_app.command("select")
def workspace_select(name: str, state: StateOpt = DEFAULT_STATE,
                     backend_url: BackendOpt = None) -> None:
    """Select workspace NAME for the following commands (remembered in .mwin/workspace)."""
    backend = open_state(state, backend_url, name)
    if name not in backend.workspaces():
        raise MwinError(f"workspace {name} does not exist in {backend.describe()}; create it "
                        f"with `mwin workspace new {name}`")
    _select(name)
    typer.echo(f"Selected workspace {name}.")


def _select(name: str) -> None:
    _keep_selection_local(select_workspace(name).parent)
    if os.environ.get("MWIN_WORKSPACE", name) != name:
        typer.echo(f"Warning: MWIN_WORKSPACE={os.environ['MWIN_WORKSPACE']} is set and wins "
                   "over the selection.", err=True)


def _keep_selection_local(folder: Path) -> None:
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text(GITIGNORE, encoding="utf-8")

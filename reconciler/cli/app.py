"""The `mwin` typer app: its global options, its commands, and the one mapping of outcomes to
exit codes:

0 success (no changes with --detailed-exitcode), 2 success with changes (--detailed-exitcode
only) or a usage error (click's), 1 any error a user can cause or fix, 130 on ^C, 3 an
internal bug (traceback written to a file, never to the terminal). An interrupted apply or
destroy exits 130/143 itself (``cli.signals``).
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from reconciler import __version__
from reconciler.cli import globalopts, helptext
from reconciler.cli.commands.apply import apply
from reconciler.cli.commands.destroy import destroy
from reconciler.cli.commands.graph import graph
from reconciler.cli.commands.import_ import import_
from reconciler.cli.commands.info import schema, version
from reconciler.cli.commands.media import media_app
from reconciler.cli.commands.plan import plan
from reconciler.cli.commands.show import show
from reconciler.cli.commands.state import state_app
from reconciler.cli.commands.templates import templates
from reconciler.cli.commands.validate import validate
from reconciler.cli.commands.workspace import workspace_app
from reconciler.cli.helptext import WIDTH
from reconciler.cli.options import ColorOpt, DebugOpt
from reconciler.cli.reports import report_bug
from reconciler.errors import MwinError, SpecInvalid

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="mwin",
    help="Keep Windows VM images on ABLESTACK Mold in the state a Git repository declares.\n\n"
         "Credentials come from MOLD_URL, MOLD_API_KEY, MOLD_SECRET_KEY (or CLOUDSTACK_ENDPOINT/"
         "KEY/SECRET, or a ~/.cloudstack.ini profile), never from the spec. --debug and "
         "--color/--no-color go before or after the command.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, pwsh)
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": WIDTH},
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mwin {__version__}")
        raise typer.Exit()


VersionOpt = Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="Print mwin's version and exit.")]


@app.callback()
def _global(debug: DebugOpt = False, color: ColorOpt = None, version: VersionOpt = False) -> None:
    """The options' callbacks act (``cli.globalopts``); nothing is left to do here."""


app.command()(validate)
app.command()(plan)
app.command()(apply)
app.command()(destroy)
app.command("import")(import_)
app.add_typer(state_app, name="state")
app.add_typer(workspace_app, name="workspace")
app.add_typer(media_app, name="media")
app.command()(show)
app.command()(graph)
app.command()(templates)
app.command()(schema)
app.command()(version)


def command() -> Any:
    """The click command of ``app``, finished: global options on every command, plain help."""
    root = typer.main.get_command(app)
    globalopts.accept_everywhere(root)
    helptext.finish(root)
    return root


def run(argv: Sequence[str] | None = None, *, prog_name: str | None = None) -> int:
    """Run mwin with ``argv`` (default: the process's arguments); the exit code. Each run has
    its own context: a --color of one run is not seen by the next (tests run many)."""
    return contextvars.copy_context().run(_run, argv, prog_name)


def _run(argv: Sequence[str] | None, prog_name: str | None) -> int:
    args = None if argv is None else list(argv)
    try:
        globalopts.log_from_environment()
        code = command().main(args=args, prog_name=prog_name, standalone_mode=False)
        return code if isinstance(code, int) else 0  # click returns Exit codes in this mode
    except typer.Exit as exc:
        return int(exc.exit_code)
    except SpecInvalid as exc:  # PlanError included
        typer.echo(str(exc.diagnostics), err=True)
        count = len(exc.diagnostics.errors)
        typer.echo(f"\n{count} error(s); nothing was changed.", err=True)
        return 1
    except MwinError as exc:
        typer.echo(f"Error: {exc}", err=True)
        return 1
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("Interrupted.", err=True)
        return 130
    except Exception as exc:
        if _is_usage_error(exc):
            exc.show()  # type: ignore[attr-defined]
            return int(exc.exit_code)  # type: ignore[attr-defined]
        return report_bug(exc)


def _is_usage_error(exc: Exception) -> bool:
    """Click's own errors (unknown option, missing argument, bad value). Typer may bundle its
    own copy of click, so they are recognised by shape, not by importing click."""
    return (type(exc).__module__.split(".")[-1] == "exceptions"
            and callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code",
                                                                            None), int))


def main() -> None:
    sys.exit(run())

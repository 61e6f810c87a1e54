"""The `mwin` typer app: its global options, its commands, and the one mapping of outcomes to
exit codes:

0 success (no changes with --detailed-exitcode), 2 success with changes (--detailed-exitcode
only) or a usage error (click's), 1 any error a user can cause or fix, 130 on ^C, 3 an
internal bug (traceback written to a file, never to the terminal). An interrupted apply or
destroy exits 130/143 itself (``cli.signals``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from reconciler.cli.commands.apply import apply
from reconciler.cli.commands.destroy import destroy
from reconciler.cli.commands.import_ import import_
from reconciler.cli.commands.info import schema, version
from reconciler.cli.commands.plan import plan
from reconciler.cli.commands.show import show
from reconciler.cli.commands.state import state_app
from reconciler.cli.commands.templates import templates
from reconciler.cli.commands.validate import validate
from reconciler.cli.commands.workspace import workspace_app
from reconciler.cli.reports import report_bug
from reconciler.errors import MwinError, SpecInvalid

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="mwin",
    help="Keep Windows VM images on ABLESTACK Mold in the state a Git repository declares.\n\n"
         "Credentials come from MOLD_URL, MOLD_API_KEY, MOLD_SECRET_KEY (or CLOUDSTACK_ENDPOINT/"
         "KEY/SECRET, or a ~/.cloudstack.ini profile), never from the spec.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global(debug: Annotated[bool, typer.Option(
        "--debug", help="Log every Mold API request to stderr (keys and signatures are never "
                        "logged).")] = False) -> None:
    if debug:
        _log_to_stderr()


def _log_to_stderr() -> None:
    """What ``logging.basicConfig(level=DEBUG, stream=sys.stderr)`` does in a fresh process,
    also where the root logger has handlers already (mwin run inside a test process)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


app.command()(validate)
app.command()(plan)
app.command()(apply)
app.command()(destroy)
app.command("import")(import_)
app.add_typer(state_app, name="state")
app.add_typer(workspace_app, name="workspace")
app.command()(show)
app.command()(templates)
app.command()(schema)
app.command()(version)


def run(argv: Sequence[str] | None = None, *, prog_name: str | None = None) -> int:
    """Run mwin with ``argv`` (default: the process's arguments); the exit code."""
    command = typer.main.get_command(app)
    args = None if argv is None else list(argv)
    try:
        code = command.main(args=args, prog_name=prog_name, standalone_mode=False)
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

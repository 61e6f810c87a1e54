"""What a run says at its end: the apply summary or failure report, and the crash file of an
internal error (the traceback goes to a file, never to the terminal)."""

from __future__ import annotations

import os
import tempfile
import traceback

import typer

from reconciler.cli.output import Output
from reconciler.errors import ApplyFailed
from reconciler.executor import ApplyResult
from reconciler.render.events import JsonEvents

__all__ = ["finish_apply", "report_bug"]


def finish_apply(result: ApplyResult, output: Output, events: JsonEvents | None = None) -> None:
    """Say how the apply ended; a failed one raises ``ApplyFailed`` naming each failure."""
    done, failed, skipped = len(result.finished), len(result.failed), len(result.skipped)
    if events is not None:
        events.emit("apply_complete", finished=done, failed=failed, skipped=skipped,
                    ok=result.ok, serial=result.state.serial)
        if result.ok:
            return
    if result.ok:
        output.echo(output.out(f"\nApply complete! {done} action(s) done.", "green", "bold"))
        return
    lines = [f"Apply failed: {done} action(s) done, {failed} failed, {skipped} skipped."]
    lines += [f"  #{i + 1} failed: {err}" for i, err in sorted(result.failed.items())]
    lines.append("State was saved after every finished action; fix the cause and run "
                 "`mwin plan` again.")
    raise ApplyFailed("\n".join(lines))


def report_bug(exc: BaseException) -> int:
    """Write the traceback of a bug to a file, name it on stderr; the exit code (3)."""
    fd, path = tempfile.mkstemp(prefix="mwin-crash-", suffix=".txt")
    with os.fdopen(fd, "w") as handle:
        traceback.print_exception(exc, file=handle)
    typer.echo(f"mwin hit an internal error ({type(exc).__name__}). This is a bug in mwin, not in "
               f"your spec. Details were written to {path}; please attach them to a bug report.",
               err=True)
    return 3

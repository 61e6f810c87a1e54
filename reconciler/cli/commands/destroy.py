"""`mwin destroy`: delete everything in state (or the --target addresses and what uses them),
dependants first."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from reconciler import workflow
from reconciler.cli import complete
from reconciler.cli.options import (
    ColorOpt,
    Connection,
    JobTimeoutOpt,
    LockOpt,
    ParallelismOpt,
    PollOpt,
    RecheckOpt,
    StateOptions,
    grouped,
    parse_duration,
    poll_policy,
)
from reconciler.cli.output import Output, Progress
from reconciler.cli.prompt import confirm_apply
from reconciler.cli.reports import finish_apply
from reconciler.cli.signals import Interrupts, exit_interrupted
from reconciler.executor import ApplyOptions, apply_plan
from reconciler.render.events import JsonEvents
from reconciler.resources.base import Waits

__all__ = ["destroy"]


@grouped
def destroy(spec: Annotated[Path, typer.Argument(
                metavar="SPEC", help="Spec file or directory: resources it declares with "
                                     "lifecycle.protect stop the destroy. Without one, "
                                     "protection cannot be checked (a warning says so).")
            ] = Path(),
            where: StateOptions = StateOptions(),
            auto_approve: Annotated[bool, typer.Option("--auto-approve",
                                                       help="Destroy without asking.")] = False,
            target: Annotated[list[str] | None, typer.Option(
                "--target", metavar="ADDRESS", autocompletion=complete.addresses,
                help="Destroy only ADDRESS and what uses it (deleted first); repeatable.")
            ] = None,
            as_json: Annotated[bool, typer.Option(
                "--json", help="Stream one JSON event per line (plan, action started/progress/"
                               "finished/failed/skipped, apply_complete) instead of text; "
                               "with --auto-approve.")] = False,
            parallelism: ParallelismOpt = 10, job_timeout: JobTimeoutOpt = "30m",
            lock_timeout: LockOpt = "0s", recheck_delay: RecheckOpt = "1s",
            mold: Connection = Connection(), poll_interval: PollOpt = "500ms",
            color: ColorOpt = None) -> None:
    """Delete everything in state (or the --target ones), dependants first.

    Resources the spec declares with lifecycle.protect stop it."""
    output = Output(color)
    events = JsonEvents(sys.stdout) if as_json else None
    backend = where.open()
    waits = Waits(poll=poll_policy(poll_interval), job_timeout=parse_duration(job_timeout),
                  recheck_delay=parse_duration(recheck_delay))
    with mold.client(poll_interval) as client, Interrupts() as interrupts, \
            backend.locked("destroy", parse_duration(lock_timeout)):
        found = workflow.find_spec(spec)
        if found is None:
            typer.echo(f"Warning: no spec at {spec}, so lifecycle.protect is not checked: "
                       f"{'the targets' if target else 'everything in state'} will be "
                       "destroyed.", err=True)
        planned = workflow.destroy_plan(backend, client, found, tuple(target or ()))
        output.warnings(planned.diagnostics)
        if events is None:
            output.plan(planned.plan)
        if planned.plan.empty:
            if events is not None:
                events.plan(planned.plan)
                events.emit("apply_complete", finished=0, failed=0, skipped=0, ok=True)
            return
        confirm_apply(auto_approve, "Do you really want to destroy "
                      f"{'these' if target else 'everything mwin manages'}?")
        if events is not None:
            events.plan(planned.plan)
        options = ApplyOptions(parallelism=parallelism, waits=waits, cancel=interrupts.event)
        with Progress(events) if events else output.progress() as view:
            result = apply_plan(planned.plan, backend, planned.state, client, view, options)
        if result.cancelled:
            exit_interrupted(result, interrupts, backend)
    finish_apply(result, output, events)

"""`mwin destroy`: delete everything in state, dependants first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler import workflow
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
from reconciler.cli.output import Output
from reconciler.cli.prompt import confirm_apply
from reconciler.cli.reports import finish_apply
from reconciler.cli.signals import Interrupts, exit_interrupted
from reconciler.executor import ApplyOptions, apply_plan
from reconciler.resources.base import Waits

__all__ = ["destroy"]


@grouped
def destroy(spec: Annotated[Path, typer.Argument(
                metavar="SPEC", help="Spec file or directory: resources it declares with lifecycle.protect "
                     "stop the destroy. Without one, protection cannot be checked (a warning "
                     "says so).")] = Path(),
            where: StateOptions = StateOptions(),
            auto_approve: Annotated[bool, typer.Option("--auto-approve",
                                                       help="Destroy without asking.")] = False,
            parallelism: ParallelismOpt = 10, job_timeout: JobTimeoutOpt = "30m",
            lock_timeout: LockOpt = "0s", recheck_delay: RecheckOpt = "1s",
            mold: Connection = Connection(), poll_interval: PollOpt = "500ms",
            color: ColorOpt = None) -> None:
    """Delete everything in state, dependants first.

    Resources the spec declares with lifecycle.protect stop it."""
    output = Output(color)
    backend = where.open()
    waits = Waits(poll=poll_policy(poll_interval), job_timeout=parse_duration(job_timeout),
                  recheck_delay=parse_duration(recheck_delay))
    with mold.client(poll_interval) as client, Interrupts() as interrupts, \
            backend.locked("destroy", parse_duration(lock_timeout)):
        found = workflow.find_spec(spec)
        if found is None:
            typer.echo(f"Warning: no spec at {spec}, so lifecycle.protect is not checked: "
                       "everything in state will be destroyed.", err=True)
        planned = workflow.destroy_plan(backend, client, found)
        output.warnings(planned.diagnostics)
        output.plan(planned.plan)
        if planned.plan.empty:
            return
        confirm_apply(auto_approve, "Do you really want to destroy everything mwin manages?")
        options = ApplyOptions(parallelism=parallelism, waits=waits, cancel=interrupts.event)
        with output.progress() as view:
            result = apply_plan(planned.plan, backend, planned.state, client, view, options)
        if result.cancelled:
            exit_interrupted(result, interrupts, backend)
    finish_apply(result, output)

"""`mwin apply`: make Mold match the spec, or carry out a saved plan exactly."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from reconciler import workflow
from reconciler.cli import planfile
from reconciler.cli.guards import AllowEmptyOpt, refuse_empty_spec
from reconciler.cli.options import (
    ColorOpt,
    Connection,
    JobTimeoutOpt,
    LockOpt,
    ParallelismOpt,
    PollOpt,
    RecheckOpt,
    ReplaceOpt,
    StateOptions,
    TargetOpt,
    grouped,
    parse_duration,
    poll_policy,
)
from reconciler.cli.output import Output, Progress
from reconciler.cli.prompt import confirm_apply
from reconciler.cli.reports import finish_apply
from reconciler.cli.signals import Interrupts, exit_interrupted
from reconciler.diagnostics import Diagnostics
from reconciler.executor import ApplyOptions, apply_plan
from reconciler.mold import MoldClient
from reconciler.plan import Plan
from reconciler.planner import PlanOptions
from reconciler.render.events import JsonEvents
from reconciler.resources.base import Waits
from reconciler.spec import SpecDoc
from reconciler.state import State, StateBackend

__all__ = ["apply"]


@grouped
def apply(spec_or_plan: Annotated[Path, typer.Argument(
              metavar="SPEC_OR_PLAN", help="Spec file/directory, or a plan saved with `mwin plan --out`.")] = Path(),
          where: StateOptions = StateOptions(),
          auto_approve: Annotated[bool, typer.Option("--auto-approve",
                                                     help="Apply without asking.")] = False,
          parallelism: ParallelismOpt = 10, job_timeout: JobTimeoutOpt = "30m",
          ready_timeout: Annotated[str, typer.Option(
              metavar="DURATION", help="Deadline for an ISO or template to finish downloading.")] = "1h",
          lock_timeout: LockOpt = "0s", recheck_delay: RecheckOpt = "1s",
          wait_for_guest_shutdown: Annotated[str, typer.Option(
              metavar="DURATION", help="Before stopping a VM, wait this long for the guest to power itself off "
                   "(sysprep /shutdown; Mold can take ~3 minutes to notice). 0 = stop at once.")
          ] = "3m",
          install_timeout: Annotated[str, typer.Option(
              metavar="DURATION", envvar="MWIN_INSTALL_TIMEOUT",
              help="How long Windows Setup may run on a VM from unattended media before the "
                   "apply fails (it waits for the guest's own power-off, never stops it).")
          ] = "4h",
          boot_key_interval: Annotated[str, typer.Option(
              metavar="DURATION", envvar="MWIN_BOOT_KEY_INTERVAL", hidden=True,
              help="Between the key presses at an unattended UEFI VM's first boot.")
          ] = "1s",
          force_stop: Annotated[bool, typer.Option(
              "--force-stop", help="Stop VMs that did not power off by themselves with a forced "
                                   "stop, also before making a template from them.")] = False,
          refresh_only: Annotated[bool, typer.Option(
              "--refresh-only", help="Write what Mold holds now into state (after showing it); "
                                     "change nothing in Mold.")] = False,
          as_json: Annotated[bool, typer.Option(
              "--json", help="Stream one JSON event per line (plan, action started/progress/"
                             "finished/failed/skipped, apply_complete) instead of text. Implies "
                             "no prompt: combine with --auto-approve or a plan file.")] = False,
          target: TargetOpt = None, replace: ReplaceOpt = None,
          allow_empty_spec: AllowEmptyOpt = False,
          mold: Connection = Connection(), poll_interval: PollOpt = "500ms",
          color: ColorOpt = None) -> None:
    """Make Mold match the spec (or carry out a saved plan exactly)."""
    output = Output(color)
    backend = where.open()
    waits = Waits(poll=poll_policy(poll_interval), job_timeout=parse_duration(job_timeout),
                  ready_timeout=parse_duration(ready_timeout),
                  guest_shutdown=parse_duration(wait_for_guest_shutdown),
                  install_timeout=parse_duration(install_timeout),
                  boot_key_interval=parse_duration(boot_key_interval),
                  recheck_delay=parse_duration(recheck_delay))
    events = JsonEvents(sys.stdout) if as_json else None
    reshape = PlanOptions(tuple(target or ()), tuple(replace or ()))
    with mold.client(poll_interval) as client, Interrupts() as interrupts, \
            backend.locked("apply", parse_duration(lock_timeout)):
        saved = not refresh_only and planfile.is_plan_file(spec_or_plan)
        loaded = None
        if not saved and not refresh_only:
            loaded = refuse_empty_spec(spec_or_plan, backend, allow_empty_spec)
        todo = (_saved_plan(spec_or_plan, backend, client, reshape, events) if saved else
                _new_plan(spec_or_plan, backend, client, reshape, refresh_only, auto_approve,
                          output, events, loaded))
        result = None
        if todo is not None:
            options = ApplyOptions(parallelism=parallelism, force_stop=force_stop, waits=waits,
                                   cancel=interrupts.event)
            with Progress(events) if events else output.progress() as view:
                result = apply_plan(todo[0], backend, todo[1], client, view, options)
            if result.cancelled:
                exit_interrupted(result, interrupts, backend)
    if result is not None:
        finish_apply(result, output, events)
    elif events is not None:
        events.emit("apply_complete", finished=0, failed=0, skipped=0, ok=True)


def _new_plan(spec: Path, backend: StateBackend, client: MoldClient, reshape: PlanOptions,
              refresh_only: bool, auto_approve: bool, output: Output,
              events: JsonEvents | None,
              loaded: tuple[SpecDoc, Diagnostics] | None = None) -> tuple[Plan, State] | None:
    """Plan now, show it (as text, unless events stream) and ask; None when it is empty.
    ``loaded``: the spec as the empty-spec guard loaded it."""
    planned = (workflow.refresh_plan(backend, client) if refresh_only else
               workflow.plan(spec, backend, client, reshape, loaded))
    if events is None:
        output.warnings(planned.diagnostics)
        output.plan(planned.plan, warnings=False)
    if planned.plan.empty:
        return None
    confirm_apply(auto_approve)
    if events is not None:
        events.plan(planned.plan)
    return planned.plan, planned.state


def _saved_plan(path: Path, backend: StateBackend, client: MoldClient, reshape: PlanOptions,
                events: JsonEvents | None) -> tuple[Plan, State] | None:
    """The saved plan, verified; None when it changes nothing."""
    the_plan, current = planfile.read_verified(path, backend, client,
                                               reshaped=reshape != PlanOptions())
    if events is not None:
        events.plan(the_plan)
    if not the_plan.empty:
        return the_plan, current
    if events is None:
        typer.echo("The saved plan has no changes.")
    return None

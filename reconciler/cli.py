"""The `mwin` command line: parse flags, call one workflow function, render, exit.

This is the only module that maps exceptions to exit codes:
0 success (no changes with --detailed-exitcode), 2 success with changes
(--detailed-exitcode only), 1 any error a user can cause or fix, 130 on ^C,
3 an internal bug (traceback written to a file, never to the terminal).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from dataclasses import replace as with_changes
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from reconciler import __version__, workflow
from reconciler.diagnostics import Diagnostics
from reconciler.errors import ApplyFailed, MwinError, PlanError, SpecInvalid
from reconciler.executor import ApplyOptions, ApplyResult
from reconciler.mold import MoldClient, PollPolicy
from reconciler.plan import Plan
from reconciler.planner import PlanOptions
from reconciler.render.colour import Style, use_colour
from reconciler.render.events import JsonEvents
from reconciler.render.json import plan_to_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import ProgressView, render_plan, summary_line
from reconciler.resources.base import Waits
from reconciler.settings import load_settings
from reconciler.spec import json_schema
from reconciler.state import (
    LocalState,
    State,
    StateBackend,
    current_workspace,
    open_backend,
    push_state,
    select_workspace,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="mwin",
    help="Keep Windows VM images on ABLESTACK Mold in the state a Git repository declares.\n\n"
         "Credentials come from MOLD_URL, MOLD_API_KEY, MOLD_SECRET_KEY (or CLOUDSTACK_ENDPOINT/"
         "KEY/SECRET, or a ~/.cloudstack.ini profile), never from the spec.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_STATE = Path("state/mwin.state.json")


@app.callback()
def _global(debug: Annotated[bool, typer.Option(
        "--debug", help="Log every Mold API request to stderr (keys and signatures are never "
                        "logged).")] = False) -> None:
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("httpcore").setLevel(logging.WARNING)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")

SpecArg = Annotated[Path, typer.Argument(help="Spec file or directory of *.yaml files.")]
StateOpt = Annotated[Path, typer.Option("--state", help="State file.")]
UrlOpt = Annotated[Optional[str], typer.Option("--url", help="Mold API endpoint (overrides MOLD_URL).")]
KeyOpt = Annotated[Optional[str], typer.Option("--api-key", help="API key (overrides MOLD_API_KEY).")]
SecretOpt = Annotated[Optional[str], typer.Option(
    "--secret-key", help="Secret key (overrides MOLD_SECRET_KEY; prefer the variable: flags are "
                         "visible in the process list).")]
SigOpt = Annotated[Optional[str], typer.Option(
    "--signature", help="sha256 (current Mold, default) or sha1 (upstream CloudStack, old Mold).")]
InsecureOpt = Annotated[bool, typer.Option(
    "--insecure", help="Do not verify Mold's TLS certificate (prints a warning). Prefer "
                       "--ca-bundle for a private CA.")]
CaBundleOpt = Annotated[Optional[Path], typer.Option(
    "--ca-bundle", help="PEM file of the CA(s) that signed Mold's certificate, for a private "
                        "CA (overrides MOLD_CA_BUNDLE).")]
ColorOpt = Annotated[Optional[bool], typer.Option("--color/--no-color",
                                                  help="Force colour on or off (default: TTY only).")]
PollOpt = Annotated[str, typer.Option("--poll-interval", help="First wait between job polls "
                                                              "(grows ×1.5 up to 10s), e.g. 500ms.")]
LockOpt = Annotated[str, typer.Option("--lock-timeout", help="How long to wait for the state lock.")]
RecheckOpt = Annotated[str, typer.Option(
    "--recheck-delay", help="When a change request gets no answer (connection reset, timeout, "
                            "proxy error), wait this long before checking whether Mold carried "
                            "it out, and twice more at doubling intervals; mwin then adopts "
                            "what it finds, or sends the request again if it never shows.")]
BackendOpt = Annotated[Optional[str], typer.Option(
    "--backend", help="State backend URL, e.g. postgres://mwin@db.example/mwin (default: "
                      "MWIN_BACKEND, then .mwin/config.yaml, then the --state file). The password "
                      "comes from PGPASSWORD or PGPASSFILE, never from the URL you commit.")]
TargetOpt = Annotated[Optional[list[str]], typer.Option(
    "--target", help="Limit to ADDRESS and what it depends on (repeatable).")]
ReplaceOpt = Annotated[Optional[list[str]], typer.Option(
    "--replace", help="Force replacement of ADDRESS (repeatable).")]
WorkspaceOpt = Annotated[Optional[str], typer.Option(
    "--workspace", help="State workspace (default: MWIN_WORKSPACE, then `mwin workspace select`, "
                        "then default).")]


def _backend(state: Path, backend: str | None, workspace: str | None) -> StateBackend:
    """The one place a command gets its state backend; a waiting lock is reported on stderr."""
    return open_backend(state, backend, workspace, on_wait=lambda text: typer.echo(text, err=True))


def parse_duration(text: str) -> float:
    """'90', '90s', '500ms', '5m', '1h' → seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise MwinError(f"{text!r} is not a duration (examples: 0, 500ms, 30s, 5m, 1h)")
    number, unit = float(match.group(1)), match.group(2) or "s"
    return number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def _client(url: str | None, api_key: str | None, secret_key: str | None, signature: str | None,
            insecure: bool, poll_interval: str, ca_bundle: Path | None = None) -> MoldClient:
    settings = load_settings(url=url, api_key=api_key, secret_key=secret_key, signature=signature,
                             verify_tls=False if insecure else None,
                             ca_bundle=str(ca_bundle) if ca_bundle else None)
    if not settings.verify_tls:
        typer.echo("Warning: TLS certificate verification is disabled (--insecure or "
                   "MOLD_INSECURE): anyone on the path to Mold can read the traffic and change "
                   "Mold's answers. Use --ca-bundle FILE for a private CA instead.", err=True)
    initial = parse_duration(poll_interval)
    return MoldClient(settings, poll=PollPolicy(initial=initial, max_interval=max(initial, 10.0)))


def _print_diagnostics(diags: Diagnostics, style: Style) -> None:
    for diag in diags.warnings:
        typer.echo(style("Warning: ", "yellow", "bold") + diag.render(), err=True)


def _emit_plan(planned: workflow.Planned, as_json: bool, out: Path | None, style: Style,
               markdown: bool = False) -> None:
    if out is not None:
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(planned.plan.to_file_json(), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(out)
    if as_json:
        typer.echo(plan_to_json(planned.plan))
        return
    if markdown:
        typer.echo(render_markdown(planned.plan))
        return
    _print_diagnostics(planned.diagnostics, style)
    typer.echo(render_plan(planned.plan.model_copy(update={"warnings": []}), style))
    if out is not None:
        typer.echo(f"\nSaved the plan to {out}. Apply exactly this plan with: mwin apply {out}")


@app.command()
def validate(spec: SpecArg = Path("."),
             as_json: Annotated[bool, typer.Option("--json", help="Machine-readable result.")] = False,
             color: ColorOpt = None) -> None:
    """Check the spec without contacting Mold: every problem at once, with file:line."""
    style = Style(use_colour(sys.stderr, color))
    try:
        doc, diags = workflow.validate(spec)
    except SpecInvalid as exc:
        if as_json:
            typer.echo(json.dumps({"valid": False, "diagnostics": [
                d.to_json() for d in exc.diagnostics]}, ensure_ascii=False, indent=2))
            raise typer.Exit(1) from None
        raise
    if as_json:
        typer.echo(json.dumps({"valid": True, "resources": len(doc.resources),
                               "diagnostics": [d.to_json() for d in diags]}, indent=2))
        return
    _print_diagnostics(diags, style)
    typer.echo(f"The spec is valid: {len(doc.resources)} resource(s) in {len(doc.files)} file(s).")


@app.command()
def plan(spec: SpecArg = Path("."), state: StateOpt = DEFAULT_STATE,
         backend_url: BackendOpt = None, workspace: WorkspaceOpt = None,
         as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
         markdown: Annotated[bool, typer.Option(
             "--markdown", help="Print the plan as Markdown (for pull-request comments).")] = False,
         out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Save the plan to FILE.")] = None,
         detailed_exitcode: Annotated[bool, typer.Option(
             "--detailed-exitcode", help="Exit 0 with no changes, 2 with changes, 1 on error.")] = False,
         target: TargetOpt = None, replace: ReplaceOpt = None,
         refresh_only: Annotated[bool, typer.Option(
             "--refresh-only", help="Only show what changed in Mold behind mwin's back (as "
                                    "state updates); propose no changes to Mold.")] = False,
         url: UrlOpt = None, api_key: KeyOpt = None, secret_key: SecretOpt = None,
         signature: SigOpt = None, insecure: InsecureOpt = False, ca_bundle: CaBundleOpt = None,
         poll_interval: PollOpt = "500ms",
         color: ColorOpt = None) -> None:
    """Show what apply would change: refresh from Mold, diff against the spec, print the plan."""
    style = Style(use_colour(sys.stdout, color))
    with _client(url, api_key, secret_key, signature, insecure, poll_interval, ca_bundle) as client:
        options = PlanOptions(tuple(target or ()), tuple(replace or ()))
        backend = _backend(state, backend_url, workspace)
        planned = (workflow.refresh_plan(backend, client) if refresh_only else
                   workflow.plan(spec, backend, client, options))
    _emit_plan(planned, as_json, out, style, markdown)
    if detailed_exitcode and not planned.plan.empty:
        raise typer.Exit(2)


@app.command()
def apply(spec_or_plan: Annotated[Path, typer.Argument(
              help="Spec file/directory, or a plan saved with `mwin plan --out`.")] = Path("."),
          state: StateOpt = DEFAULT_STATE,
          backend_url: BackendOpt = None, workspace: WorkspaceOpt = None,
          auto_approve: Annotated[bool, typer.Option("--auto-approve",
                                                     help="Apply without asking.")] = False,
          parallelism: Annotated[int, typer.Option(help="Actions run at once.", min=1)] = 10,
          job_timeout: Annotated[str, typer.Option(help="Deadline of each async job.")] = "30m",
          ready_timeout: Annotated[str, typer.Option(
              help="Deadline for an ISO or template to finish downloading.")] = "1h",
          lock_timeout: LockOpt = "0s", recheck_delay: RecheckOpt = "1s",
          wait_for_guest_shutdown: Annotated[str, typer.Option(
              help="Before stopping a VM, wait this long for the guest to power itself off "
                   "(sysprep /shutdown; Mold can take ~3 minutes to notice). 0 = stop at once.")
          ] = "3m",
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
          url: UrlOpt = None, api_key: KeyOpt = None, secret_key: SecretOpt = None,
          signature: SigOpt = None, insecure: InsecureOpt = False, ca_bundle: CaBundleOpt = None,
         poll_interval: PollOpt = "500ms",
          color: ColorOpt = None) -> None:
    """Make Mold match the spec (or carry out a saved plan exactly)."""
    style = Style(use_colour(sys.stdout, color))
    backend = _backend(state, backend_url, workspace)
    poll = parse_duration(poll_interval)
    options = ApplyOptions(parallelism=parallelism, force_stop=force_stop, waits=Waits(
        poll=PollPolicy(initial=poll, max_interval=max(poll, 10.0)),
        job_timeout=parse_duration(job_timeout), ready_timeout=parse_duration(ready_timeout),
        guest_shutdown=parse_duration(wait_for_guest_shutdown),
        recheck_delay=parse_duration(recheck_delay)))
    with _client(url, api_key, secret_key, signature, insecure, poll_interval, ca_bundle) as client, \
            _Interrupts() as interrupts:
        backend.lock("apply", parse_duration(lock_timeout))
        try:
            options = with_changes(options, cancel=interrupts.event)
            events = JsonEvents() if as_json else None
            result = _apply_locked(spec_or_plan, backend, client, options, auto_approve, style,
                                   events, refresh_only,
                                   PlanOptions(tuple(target or ()), tuple(replace or ())))
            if result is not None and result.cancelled:
                _exit_interrupted(result, interrupts, backend)
        finally:
            backend.unlock()
    if result is not None:
        _finish_apply(result, style, events)
    elif events is not None:
        events.emit("apply_complete", finished=0, failed=0, skipped=0, ok=True)


def _apply_locked(source: Path, backend: StateBackend, client: MoldClient, options: ApplyOptions,
                  auto_approve: bool, style: Style, events: JsonEvents | None,
                  refresh_only: bool = False, plan_options: PlanOptions = PlanOptions()
                  ) -> ApplyResult | None:
    if workflow.is_plan_file(source) and not refresh_only:
        if plan_options != PlanOptions():
            raise MwinError("--target and --replace shape a new plan; a saved plan is applied "
                            "as it is (pass them to `mwin plan --out` instead)")
        the_plan = workflow.read_plan_file(source)
        current = backend.read()
        workflow.verify_saved_plan(the_plan, current, client)
    else:
        planned = (workflow.refresh_plan(backend, client) if refresh_only else
                   workflow.plan(source, backend, client, plan_options))
        the_plan, current = planned.plan, planned.state
        if events is None:
            _print_diagnostics(planned.diagnostics, style)
            typer.echo(render_plan(the_plan.model_copy(update={"warnings": []}), style))
        if the_plan.empty:
            return None
        _confirm(auto_approve or False)
    if events is not None:
        events.plan(the_plan)
    if the_plan.empty:
        if events is None:
            typer.echo("The saved plan has no changes.")
        return None
    hook = events or ProgressView(sys.stderr, Style(use_colour(sys.stderr)))
    return workflow.apply(the_plan, backend, current, client, hook, options)


def _confirm(auto_approve: bool,
             question: str = "Do you want to perform these actions?") -> None:
    if auto_approve:
        return
    _ask_yes(f"\n{question}", no_terminal="refusing to go on without confirmation: stdin is not "
                                          "a terminal. Review the plan and pass --auto-approve, "
                                          "or apply a saved plan file.",
             cancelled="apply cancelled.")


def _ask_yes(question: str, *, no_terminal: str, cancelled: str) -> None:
    """Only a typed 'yes' on a terminal goes on; anything else raises with the given words."""
    if not sys.stdin.isatty():
        raise MwinError(no_terminal)
    if typer.prompt(f"{question} Only 'yes' is accepted").strip() != "yes":
        raise MwinError(cancelled)


class _Interrupts:
    """SIGINT/SIGTERM during apply: start nothing new, keep finished work, exit 130/143."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Interrupts:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        self.signum = signum
        self.event.set()

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _exit_interrupted(result: ApplyResult, interrupts: _Interrupts, backend: StateBackend) -> None:
    """Report, make sure no state write is half done, release the lock, exit at once."""
    if result.recorder is not None:
        result.recorder.freeze()
    name = "SIGTERM" if interrupts.signum == signal.SIGTERM else "SIGINT"
    typer.echo(f"\nInterrupted by {name}: {len(result.finished)} action(s) done and saved in "
               f"state, {len(result.abandoned)} abandoned while in flight, "
               f"{len(result.not_started)} not started. Objects created by abandoned actions "
               "carry their address tag; the next `mwin plan` adopts them.", err=True)
    backend.unlock()
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(143 if interrupts.signum == signal.SIGTERM else 130)


def _finish_apply(result: ApplyResult, style: Style, events: JsonEvents | None = None) -> None:
    done, failed, skipped = len(result.finished), len(result.failed), len(result.skipped)
    if events is not None:
        events.emit("apply_complete", finished=done, failed=failed, skipped=skipped,
                    ok=result.ok, serial=result.state.serial)
        if result.ok:
            return
    if result.ok:
        typer.echo(style(f"\nApply complete! {done} action(s) done.", "green", "bold"))
        return
    lines = [f"Apply failed: {done} action(s) done, {failed} failed, {skipped} skipped."]
    lines += [f"  #{i + 1} failed: {err}" for i, err in sorted(result.failed.items())]
    lines.append("State was saved after every finished action; fix the cause and run "
                 "`mwin plan` again.")
    raise ApplyFailed("\n".join(lines))


@app.command()
def destroy(spec: Annotated[Path, typer.Argument(
                help="Spec file or directory: resources it declares with lifecycle.protect "
                     "stop the destroy. Without one, protection cannot be checked (a warning "
                     "says so).")] = Path("."),
            state: StateOpt = DEFAULT_STATE,
            backend_url: BackendOpt = None, workspace: WorkspaceOpt = None,
            auto_approve: Annotated[bool, typer.Option("--auto-approve",
                                                       help="Destroy without asking.")] = False,
            parallelism: Annotated[int, typer.Option(help="Actions run at once.", min=1)] = 10,
            job_timeout: Annotated[str, typer.Option(help="Deadline of each async job.")] = "30m",
            lock_timeout: LockOpt = "0s", recheck_delay: RecheckOpt = "1s",
            url: UrlOpt = None, api_key: KeyOpt = None, secret_key: SecretOpt = None,
            signature: SigOpt = None, insecure: InsecureOpt = False, ca_bundle: CaBundleOpt = None,
            poll_interval: PollOpt = "500ms", color: ColorOpt = None) -> None:
    """Delete everything mwin manages (all of state), dependants first; resources the spec protects stop it."""
    style = Style(use_colour(sys.stdout, color))
    backend = _backend(state, backend_url, workspace)
    poll = parse_duration(poll_interval)
    options = ApplyOptions(parallelism=parallelism, waits=Waits(
        poll=PollPolicy(initial=poll, max_interval=max(poll, 10.0)),
        job_timeout=parse_duration(job_timeout), recheck_delay=parse_duration(recheck_delay)))
    with _client(url, api_key, secret_key, signature, insecure, poll_interval, ca_bundle) as client, \
            _Interrupts() as interrupts:
        backend.lock("destroy", parse_duration(lock_timeout))
        try:
            found = workflow.find_spec(spec)
            if found is None:
                typer.echo(f"Warning: no spec at {spec}, so lifecycle.protect is not checked: "
                           "everything in state will be destroyed.", err=True)
            planned = workflow.destroy_plan(backend, client, found)
            _print_diagnostics(planned.diagnostics, style)
            typer.echo(render_plan(planned.plan, style))
            if planned.plan.empty:
                return
            _confirm(auto_approve, "Do you really want to destroy everything mwin manages?")
            view = ProgressView(sys.stderr, Style(use_colour(sys.stderr)))
            options = with_changes(options, cancel=interrupts.event)
            result = workflow.apply(planned.plan, backend, planned.state, client, view, options)
            if result.cancelled:
                _exit_interrupted(result, interrupts, backend)
        finally:
            backend.unlock()
    _finish_apply(result, style)


@app.command("import")
def import_(address: Annotated[Optional[str], typer.Argument(
                help="Address declared in the spec, e.g. vm.win2022-master.")] = None,
            mold_id: Annotated[Optional[str], typer.Argument(help="Mold id of the object.")] = None,
            spec: Annotated[Path, typer.Option("--spec", help="Spec file or directory.")] = Path("."),
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
            state: StateOpt = DEFAULT_STATE, lock_timeout: LockOpt = "0s",
            backend_url: BackendOpt = None, workspace: WorkspaceOpt = None,
            url: UrlOpt = None, api_key: KeyOpt = None, secret_key: SecretOpt = None,
            signature: SigOpt = None, insecure: InsecureOpt = False, ca_bundle: CaBundleOpt = None,
            poll_interval: PollOpt = "500ms") -> None:
    """Bring existing Mold objects under management (the next plan shows any differences)."""
    if all_ == bool(address or mold_id) or (address is None) != (mold_id is None):
        raise MwinError("give either ADDRESS and ID, or --all")
    if unowned and not all_:
        raise MwinError("--unowned goes with --all (an object given by ID is taken anyway)")
    if take_over and all_:
        raise MwinError("--take-over goes with ADDRESS ID only: objects of another state are "
                        "never taken in bulk")
    backend = _backend(state, backend_url, workspace)
    with _client(url, api_key, secret_key, signature, insecure, poll_interval, ca_bundle) as client:
        backend.lock("import", parse_duration(lock_timeout))
        try:
            if address and mold_id:
                done = workflow.import_one(spec, backend, client, address, mold_id, take_over)
                whose = f" (taken over from owner {done.taken_from})" if done.taken_from else ""
                moved = f" (it was tagged {done.old_address})" if done.old_address else ""
                typer.echo(f"Imported {mold_id} as {address}{whose}{moved}, owner "
                           f"{done.state.owner}. Run `mwin plan` to see differences.")
                return
            planned = workflow.plan(spec, backend, client, PlanOptions(adopt_unowned=unowned))
            adopt = workflow.adoptions_only(planned.plan)
            workflow.apply(adopt, backend, planned.state, client, ProgressView(sys.stderr),
                           ApplyOptions())
        finally:
            backend.unlock()
    for action in adopt.actions:
        typer.echo(f"Adopted {action.address}: {action.inputs['id']} ({action.reason})")
    typer.echo(f"{len(adopt.actions)} object(s) adopted.")


state_app = typer.Typer(help="Inspect and edit the state file (each edit is locked and atomic).",
                        no_args_is_help=True)
app.add_typer(state_app, name="state")


@state_app.command("list")
def state_list(state: StateOpt = DEFAULT_STATE,
               backend_url: BackendOpt = None, workspace: WorkspaceOpt = None) -> None:
    """List the addresses mwin manages, with their Mold ids."""
    current = _backend(state, backend_url, workspace).read()
    for address, record in sorted(current.resources.items()):
        typer.echo(f"{address}\t{record.id}")


@state_app.command("show")
def state_show(address: str, state: StateOpt = DEFAULT_STATE,
               backend_url: BackendOpt = None, workspace: WorkspaceOpt = None) -> None:
    """Print what state records for ADDRESS (JSON)."""
    record = _backend(state, backend_url, workspace).read().resources.get(address)
    if record is None:
        raise MwinError(f"{address} is not in state")
    typer.echo(json.dumps({"address": address, **record.model_dump()}, indent=2,
                          ensure_ascii=False))


@state_app.command("rm")
def state_rm(addresses: list[str], state: StateOpt = DEFAULT_STATE,
             backend_url: BackendOpt = None, workspace: WorkspaceOpt = None,
             lock_timeout: LockOpt = "0s") -> None:
    """Forget ADDRESS(es): Mold keeps the objects; mwin stops managing them."""
    backend = _backend(state, backend_url, workspace)
    backend.lock("state rm", parse_duration(lock_timeout))
    try:
        workflow.state_rm(backend, addresses)
    finally:
        backend.unlock()
    typer.echo(f"Removed {len(addresses)} address(es) from state.")


@state_app.command("unlock")
def state_unlock(lock_id: Annotated[str, typer.Argument(
                     help="The lock ID shown by the error of the run that found it locked.")],
                 state: StateOpt = DEFAULT_STATE,
                 backend_url: BackendOpt = None, workspace: WorkspaceOpt = None,
                 force: Annotated[bool, typer.Option(
                     "--force", help="Do not ask for confirmation (needed without a "
                                     "terminal).")] = False) -> None:
    """Clear a state lock whose holder cannot release it (killed runner, hung session).

    Use it when a run failed with "state ... is locked by ..." and you know the holder it names is gone or hung: LOCK_ID is the ID that error shows. A wrong ID is refused. Only when the holder is really gone: two applies at once on one state can lose or duplicate objects.

    A file lock is released by the kernel when its process ends, so for a state file this clears what a dead holder left behind and refuses while a live process holds it (stop that process instead). For PostgreSQL it ends the holder's database session (pg_terminate_backend), which frees the lock.
    """  # noqa: E501 - one line per paragraph: --help wraps it to the terminal
    backend = _backend(state, backend_url, workspace)
    typer.echo(backend.force_unlock(lock_id, None if force else _confirm_unlock))


def _confirm_unlock(question: str) -> None:
    """Asked once the lock ID is checked: the question names the holder and what will be done."""
    _ask_yes(question, no_terminal="refusing to clear the lock without confirmation: stdin is "
                                   "not a terminal. Make sure its holder is gone, then pass "
                                   "--force.",
             cancelled="unlock cancelled; the lock was left as it is.")


@state_app.command("mv")
def state_mv(old: str, new: str, state: StateOpt = DEFAULT_STATE,
             backend_url: BackendOpt = None, workspace: WorkspaceOpt = None,
             lock_timeout: LockOpt = "0s") -> None:
    """Rename an address in state (after renaming its key in the spec)."""
    backend = _backend(state, backend_url, workspace)
    backend.lock("state mv", parse_duration(lock_timeout))
    try:
        workflow.state_mv(backend, old, new)
    finally:
        backend.unlock()
    typer.echo(f"Moved {old} to {new}.")


@state_app.command("rebuild")
def state_rebuild(state: StateOpt = DEFAULT_STATE, lock_timeout: LockOpt = "0s",
                  backend_url: BackendOpt = None, workspace: WorkspaceOpt = None,
                  owner: Annotated[Optional[str], typer.Option(
                      "--owner", help="Collect the objects tagged with this owner (default: "
                                      "this state's own, as recorded or derived from where it "
                                      "lives); the rebuilt state then has that owner.")] = None,
                  url: UrlOpt = None, api_key: KeyOpt = None, secret_key: SecretOpt = None,
                  signature: SigOpt = None, insecure: InsecureOpt = False,
                  ca_bundle: CaBundleOpt = None) -> None:
    """Rebuild state from Mold's tags (lost or corrupt state): only the objects of this state's owner."""
    backend = _backend(state, backend_url, workspace)
    with _client(url, api_key, secret_key, signature, insecure, "500ms", ca_bundle) as client:
        backend.lock("state rebuild", parse_duration(lock_timeout))
        try:
            rebuilt, problems = workflow.rebuild_state(backend, client, owner)
        finally:
            backend.unlock()
    for problem in problems:
        typer.echo(f"Warning: {problem}", err=True)
    typer.echo(f"Rebuilt state with {len(rebuilt.resources)} resource(s) of owner {rebuilt.owner} "
               f"(serial {rebuilt.serial}).")


@state_app.command("pull")
def state_pull(state: StateOpt = DEFAULT_STATE, backend_url: BackendOpt = None,
               workspace: WorkspaceOpt = None) -> None:
    """Print the state as JSON (the state file's format), e.g. to move it to another backend."""
    backend = _backend(state, backend_url, workspace)
    current = backend.read()
    if current.serial == 0:
        raise MwinError(f"no state is stored in {backend.describe()}")
    typer.echo(json.dumps(current.model_dump(mode="json"), indent=2, ensure_ascii=False,
                          sort_keys=True))


@state_app.command("push")
def state_push(source: Annotated[Path, typer.Argument(
                   help="A state file (e.g. state/mwin.state.json or the output of `mwin state "
                        "pull`), or - for stdin.")],
               state: StateOpt = DEFAULT_STATE, backend_url: BackendOpt = None,
               workspace: WorkspaceOpt = None, lock_timeout: LockOpt = "0s",
               force: Annotated[bool, typer.Option(
                   "--force", help="Replace a state of another lineage or a newer serial.")
               ] = False) -> None:
    """Write a state file into the backend in force (lineage kept; refuses to clobber)."""
    if str(source) == "-":
        try:
            pushed = State.model_validate_json(sys.stdin.read())
        except ValueError:
            raise MwinError("stdin does not hold a state (the JSON `mwin state pull` prints)") \
                from None
    elif not source.exists() or source.is_dir():
        raise MwinError(f"{source} is not a state file")
    else:
        pushed = LocalState(source).read()
    backend = _backend(state, backend_url, workspace)
    backend.lock("state push", parse_duration(lock_timeout))
    try:
        written = push_state(backend, pushed, force)
    finally:
        backend.unlock()
    typer.echo(f"Pushed {len(written.resources)} resource(s) to {backend.describe()} "
               f"(lineage {written.lineage}, serial {written.serial}).")


workspace_app = typer.Typer(help="Several states in one backend (e.g. one per spec or zone).",
                            no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")


@workspace_app.command("list")
def workspace_list(state: StateOpt = DEFAULT_STATE, backend_url: BackendOpt = None) -> None:
    """List the workspaces; * marks the selected one."""
    current = current_workspace()
    for name in _backend(state, backend_url, current).workspaces():
        typer.echo(f"{'*' if name == current else ' '} {name}")


@workspace_app.command("show")
def workspace_show() -> None:
    """Print the selected workspace."""
    typer.echo(current_workspace())


@workspace_app.command("new")
def workspace_new(name: str, state: StateOpt = DEFAULT_STATE, backend_url: BackendOpt = None,
                  lock_timeout: LockOpt = "0s") -> None:
    """Create workspace NAME (an empty state) and select it."""
    backend = _backend(state, backend_url, name)
    if name in backend.workspaces():
        raise MwinError(f"workspace {name} already exists in {backend.describe()}")
    backend.lock("workspace new", parse_duration(lock_timeout))
    try:
        backend.write(backend.read())
    finally:
        backend.unlock()
    _select(name)
    typer.echo(f"Created and selected workspace {name}.")


@workspace_app.command("select")
def workspace_select(name: str, state: StateOpt = DEFAULT_STATE,
                     backend_url: BackendOpt = None) -> None:
    """Select workspace NAME for the following commands (remembered in .mwin/workspace)."""
    backend = _backend(state, backend_url, name)
    if name not in backend.workspaces():
        raise MwinError(f"workspace {name} does not exist in {backend.describe()}; create it "
                        f"with `mwin workspace new {name}`")
    _select(name)
    typer.echo(f"Selected workspace {name}.")


def _select(name: str) -> None:
    select_workspace(name)
    if os.environ.get("MWIN_WORKSPACE", name) != name:
        typer.echo(f"Warning: MWIN_WORKSPACE={os.environ['MWIN_WORKSPACE']} is set and wins "
                   "over the selection.", err=True)


@app.command()
def show(plan_file: Annotated[Path, typer.Argument(help="A plan saved with `mwin plan --out`.")],
         as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
         markdown: Annotated[bool, typer.Option("--markdown", help="Print it as Markdown.")] = False,
         color: ColorOpt = None) -> None:
    """Render a saved plan and say whether it is a no-op."""
    the_plan: Plan = workflow.read_plan_file(plan_file)
    if as_json:
        typer.echo(plan_to_json(the_plan))
        return
    if markdown:
        typer.echo(render_markdown(the_plan))
        return
    typer.echo(render_plan(the_plan, Style(use_colour(sys.stdout, color))))
    if the_plan.empty:
        typer.echo("This plan is a no-op.")
    else:
        typer.echo(f"This plan makes changes ({summary_line(the_plan)})")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec (for editors: yaml-language-server)."""
    typer.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))


@app.command()
def version() -> None:
    """Print mwin's version."""
    typer.echo(f"mwin {__version__}")


def _report_bug(exc: BaseException) -> int:
    fd, path = tempfile.mkstemp(prefix="mwin-crash-", suffix=".txt")
    with os.fdopen(fd, "w") as handle:
        traceback.print_exception(exc, file=handle)
    typer.echo(f"mwin hit an internal error ({type(exc).__name__}). This is a bug in mwin, not in "
               f"your spec. Details were written to {path}; please attach them to a bug report.",
               err=True)
    return 3


def _run(entry: Callable[..., Any]) -> int:
    try:
        code = entry(standalone_mode=False)  # click returns Exit codes in this mode
        return code if isinstance(code, int) else 0
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (SpecInvalid, PlanError) as exc:
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
    except Exception as exc:  # noqa: BLE001 - the one place bugs are caught
        if _is_usage_error(exc):
            exc.show()  # type: ignore[attr-defined]
            return int(exc.exit_code)  # type: ignore[attr-defined]
        return _report_bug(exc)


def _is_usage_error(exc: Exception) -> bool:
    """Click's own errors (unknown option, missing argument, bad value). Typer may bundle its
    own copy of click, so they are recognised by shape, not by importing click."""
    return (type(exc).__module__.split(".")[-1] == "exceptions"
            and callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code",
                                                                            None), int))


def main() -> None:
    sys.exit(_run(typer.main.get_command(app)))

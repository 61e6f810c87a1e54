"""The options commands share, declared once.

Single options are ``Annotated`` types (``ColorOpt``, ``LockOpt`` …). Options that always go
together are a group: a frozen dataclass whose fields are such types (``Connection``: how to
reach Mold; ``StateOptions``: where the state lives). A command decorated with ``@grouped``
takes a group as one parameter; typer sees the group's fields as separate options.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from reconciler.cli import complete, globalopts
from reconciler.errors import MwinError
from reconciler.mold import MoldClient, PollPolicy
from reconciler.settings import load_settings
from reconciler.state import StateBackend, open_backend

__all__ = ["DEFAULT_STATE", "SpecArg", "StateOpt", "BackendOpt", "WorkspaceOpt", "LockOpt",
           "PollOpt", "RecheckOpt", "ColorOpt", "DebugOpt", "PlanJsonOpt", "TargetOpt", "ReplaceOpt",
           "ParallelismOpt", "JobTimeoutOpt", "AddressArg", "Connection", "StateOptions", "grouped",
           "open_state", "parse_duration", "poll_policy"]

DEFAULT_STATE = Path("state/mwin.state.json")


def _at_least_one(number: int) -> int:
    if number < 1:
        raise typer.BadParameter(f"{number} is less than 1")
    return number


SpecArg = Annotated[Path, typer.Argument(metavar="SPEC",
                                         help="Spec file or directory of *.yaml files.")]
StateOpt = Annotated[Path, typer.Option("--state", metavar="FILE", help="State file.")]
BackendOpt = Annotated[str | None, typer.Option(
    "--backend", metavar="URL", help="State backend URL, e.g. postgres://mwin@db.example/mwin (default: "
                      "MWIN_BACKEND, then .mwin/config.yaml, then the --state file). The password "
                      "comes from PGPASSWORD or PGPASSFILE, never from the URL you commit.")]
WorkspaceOpt = Annotated[str | None, typer.Option(
    "--workspace", metavar="NAME", help="State workspace (default: MWIN_WORKSPACE, then `mwin workspace select`, "
                        "then default).")]
LockOpt = Annotated[str, typer.Option("--lock-timeout", metavar="DURATION",
                                      help="How long to wait for the state lock.")]
UrlOpt = Annotated[str | None, typer.Option("--url", metavar="URL",
                                            help="Mold API endpoint (overrides MOLD_URL).")]
KeyOpt = Annotated[str | None, typer.Option("--api-key", metavar="KEY",
                                            help="API key (overrides MOLD_API_KEY).")]
SecretOpt = Annotated[str | None, typer.Option(
    "--secret-key", metavar="KEY", help="Secret key (overrides MOLD_SECRET_KEY; prefer the variable: flags are "
                         "visible in the process list).")]
SigOpt = Annotated[str | None, typer.Option(
    "--signature", metavar="sha256|sha1", help="sha256 (current Mold, default) or sha1 (upstream CloudStack, old Mold).")]
InsecureOpt = Annotated[bool, typer.Option(
    "--insecure", help="Do not verify Mold's TLS certificate (prints a warning). Prefer "
                       "--ca-bundle for a private CA.")]
CaBundleOpt = Annotated[Path | None, typer.Option(
    "--ca-bundle", metavar="FILE", help="PEM file of the CA(s) that signed Mold's certificate, for a private "
                        "CA (overrides MOLD_CA_BUNDLE).")]
PollOpt = Annotated[str, typer.Option("--poll-interval", metavar="DURATION",
                                      help="First wait between job polls (grows ×1.5 up to "
                                           "10s), e.g. 500ms.")]
RecheckOpt = Annotated[str, typer.Option(
    "--recheck-delay", metavar="DURATION", help="When a change request gets no answer (connection reset, timeout, "
                            "proxy error), wait this long before checking whether Mold carried "
                            "it out, and twice more at doubling intervals; mwin then adopts "
                            "what it finds, or sends the request again if it never shows.")]
ColorOpt = Annotated[bool | None, typer.Option(
    "--color/--no-color", callback=globalopts.choose_colour,
    help="Colour on, also through a pipe, or off (default: off with NO_COLOR, else on a "
         "terminal only).")]
DebugOpt = Annotated[bool, typer.Option(
    "--debug", callback=globalopts.debug_logging,
    help="Log each Mold API request on stderr (method, path, command; never keys or "
         "signatures). Also MWIN_LOG=debug.")]
PlanJsonOpt = Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")]
TargetOpt = Annotated[list[str] | None, typer.Option(
    "--target", metavar="ADDRESS", autocompletion=complete.addresses,
    help="Limit to ADDRESS and what it depends on (repeatable).")]
ReplaceOpt = Annotated[list[str] | None, typer.Option(
    "--replace", metavar="ADDRESS", autocompletion=complete.addresses,
    help="Force replacement of ADDRESS (repeatable).")]
ParallelismOpt = Annotated[int, typer.Option(metavar="N", callback=_at_least_one,
                                             help="Actions run at once (at least 1).")]
JobTimeoutOpt = Annotated[str, typer.Option(
    metavar="DURATION", help="Deadline of each async job, e.g. 40s, 30m.")]
AddressArg = Annotated[str, typer.Argument(metavar="ADDRESS", autocompletion=complete.addresses,
                                           help="An address in state, e.g. vm.win2022-master.")]


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str) -> float:
    """'90', '90s', '500ms', '5m', '1h' → seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise MwinError(f"{text!r} is not a duration (examples: 0, 500ms, 30s, 5m, 1h)")
    number, unit = float(match.group(1)), match.group(2) or "s"
    return number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def poll_policy(interval: str) -> PollPolicy:
    """--poll-interval: the first wait; later ones grow up to 10s (or the first, if longer)."""
    initial = parse_duration(interval)
    return PollPolicy(initial=initial, max_interval=max(initial, 10.0))


def open_state(state: Path, backend: str | None, workspace: str | None) -> StateBackend:
    """The one place a command gets its state backend; a waiting lock is reported on stderr."""
    return open_backend(state, backend, workspace, on_wait=lambda text: typer.echo(text, err=True))


@dataclass(frozen=True)
class Connection:
    """How to reach Mold: flags win over MOLD_*, CLOUDSTACK_* and ~/.cloudstack.ini."""

    url: UrlOpt = None
    api_key: KeyOpt = None
    secret_key: SecretOpt = None
    signature: SigOpt = None
    insecure: InsecureOpt = False
    ca_bundle: CaBundleOpt = None

    def client(self, poll_interval: str = "500ms") -> MoldClient:
        """A client for these settings; with TLS verification off, a warning on stderr."""
        settings = load_settings(url=self.url, api_key=self.api_key, secret_key=self.secret_key,
                                 signature=self.signature,
                                 verify_tls=False if self.insecure else None,
                                 ca_bundle=str(self.ca_bundle) if self.ca_bundle else None)
        if not settings.verify_tls:
            typer.echo("Warning: TLS certificate verification is disabled (--insecure or "
                       "MOLD_INSECURE): anyone on the path to Mold can read the traffic and "
                       "change Mold's answers. Use --ca-bundle FILE for a private CA instead.",
                       err=True)
        return MoldClient(settings, poll=poll_policy(poll_interval))


@dataclass(frozen=True)
class StateOptions:
    """Where the state lives: --state file, or --backend; and which --workspace."""

    state: StateOpt = DEFAULT_STATE
    backend_url: BackendOpt = None
    workspace: WorkspaceOpt = None

    def open(self) -> StateBackend:
        return open_state(self.state, self.backend_url, self.workspace)


F = TypeVar("F", bound=Callable[..., Any])


def grouped(command: F) -> F:
    """Show typer each option group parameter of ``command`` as the group's fields, in its
    place, and call ``command`` with the group built from them. Every parameter becomes
    keyword-only (typer passes them by name); field names must not clash."""
    hints = typing.get_type_hints(command, include_extras=True)
    shown: list[inspect.Parameter] = []
    groups: dict[str, tuple[type, list[str]]] = {}
    for name, param in inspect.signature(command).parameters.items():
        hint = hints[name]
        if isinstance(hint, type) and is_dataclass(hint):
            field_hints = typing.get_type_hints(hint, include_extras=True)
            names = [f.name for f in fields(hint)]
            groups[name] = (hint, names)
            shown += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                        annotation=field_hints[f.name], default=f.default)
                      for f in fields(hint)]
        else:
            shown.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hint))
    names = [p.name for p in shown]
    if len(names) != len(set(names)):
        raise TypeError(f"{command.__name__}: option names clash: {sorted(names)}")

    @functools.wraps(command)
    def parsed(**given: Any) -> Any:
        for name, (group, members) in groups.items():
            given[name] = group(**{member: given.pop(member) for member in members})
        return command(**given)

    parsed.__signature__ = inspect.Signature(shown)  # type: ignore[attr-defined]
    parsed.__annotations__ = {p.name: p.annotation for p in shown}
    return typing.cast(F, parsed)

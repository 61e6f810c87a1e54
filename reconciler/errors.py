"""The one exception tree of mwin.

    MwinError                      anything a user can cause; cli.app prints it, exit 1
    ├── SpecInvalid                the spec has problems (carries Diagnostics, all at once)
    │   └── PlanError              ... found while planning (rules needing Mold's data)
    ├── SettingsError              endpoint / keys missing or unreadable
    ├── StateError                 state file unreadable, unknown format, ...
    │   ├── StateLocked            another process holds the lock
    │   └── PlanStale              a saved plan no longer matches state/spec/live
    ├── ApplyFailed                one or more actions failed (summary)
    └── MoldError                  talking to Mold failed
        ├── TransportError         connection refused/reset, timeout, bad JSON, proxy pages
        │   └── UncertainMutation  a change got no answer: Mold may or may not have made it
        ├── ApiError               Mold answered with an error envelope
        │   └── AuthError          401: keys or signature algorithm wrong
        ├── JobFailed              an async job ended with jobstatus 2
        └── JobTimeout             an async job did not finish before its deadline

Only ``reconciler.cli.app`` maps these to exit codes. No message built here may contain a
secret: the client passes commands and Mold's texts, never keys or signatures.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MwinError",
    "SpecInvalid",
    "SettingsError",
    "StateError",
    "StateLocked",
    "PlanStale",
    "PlanError",
    "ApplyFailed",
    "MoldError",
    "TransportError",
    "UncertainMutation",
    "ApiError",
    "AuthError",
    "JobFailed",
    "JobTimeout",
    "answer_problem",
]


class MwinError(Exception):
    """Base of every error a user can cause or fix."""


class SpecInvalid(MwinError):
    def __init__(self, diagnostics: Any) -> None:  # reconciler.diagnostics.Diagnostics
        self.diagnostics = diagnostics
        super().__init__(str(diagnostics))


class SettingsError(MwinError):
    pass


class StateError(MwinError):
    pass


class StateLocked(StateError):
    pass


class PlanStale(StateError):
    pass


class PlanError(SpecInvalid):
    """The spec is valid on its own but not against this Mold (an unknown zone, a foreign
    object in the way, a change Mold cannot make): the same report as SpecInvalid."""


class ApplyFailed(MwinError):
    pass


class MoldError(MwinError):
    pass


class TransportError(MoldError):
    """No usable answer from Mold: network failure, timeout, non-JSON body."""

    def __init__(self, command: str, detail: str) -> None:
        self.command = command
        self.detail = detail
        super().__init__(f"{command}: {detail}")


class UncertainMutation(TransportError):
    """A mutation was sent and its answer lost (reset after sending, read timeout, 500/502/504
    without a Mold answer): Mold may have carried it out. The caller looks at what Mold holds
    before sending it again (``resources.common.send``)."""


# Refusals whose text alone does not say what to change: (words in Mold's text, the hint).
# Sources: ApiServer.commandAvailable (432 for a role without the API), UserVmManagerImpl
# (expunge), ApiRateLimitServiceImpl (429), BaseCmd.USER_ERROR_MESSAGE (530 text hidden from
# non-root-admins).
REFUSAL_HINTS: tuple[tuple[str, str], ...] = (
    ("is not available for the account",
     "this account's role does not allow {command}: ask a Mold admin to add it to the role "
     "(Roles → rules), or use keys of an account whose role has it"),
    ("permission for expunging",
     "this account may not expunge VMs: Mold needs allow.user.expunge.recover.vm=true for the "
     "account and expungeVirtualMachine in its role (or an admin)"),
    ("reached his/her account api limit",
     "Mold's API limit for this account (api.throttling.max per api.throttling.interval)"),
    ("please contact your system administrator",
     "Mold hides the reason from accounts that are not root admins; its management-server log "
     "has it"),
)


def refusal_hint(command: str, errortext: str) -> str:
    text = errortext.lower()
    return next((f" ({hint.format(command=command)})" for words, hint in REFUSAL_HINTS
                 if words in text), "")


class ApiError(MoldError):
    """Mold answered with an error envelope (HTTP status = errorcode)."""

    def __init__(
        self, command: str, errorcode: int, errortext: str, cserrorcode: int | None = None
    ) -> None:
        self.command = command
        self.errorcode = errorcode
        self.cserrorcode = cserrorcode
        self.errortext = errortext
        super().__init__(f"{command} failed ({errorcode}): {errortext}"
                         f"{refusal_hint(command, errortext)}")


class AuthError(ApiError):
    def __str__(self) -> str:
        return (
            f"{self.command} was refused (401): {self.errortext}. The API key or secret key "
            "may be wrong, or the server expects the other signature algorithm: current Mold "
            "verifies HMAC-SHA256 (the default), upstream CloudStack and older Mold HMAC-SHA1 "
            "(set MOLD_SIGNATURE=sha1 or pass --signature sha1). Mold also answers 401 for a "
            f"command it does not offer to this account ({self.command})."
        )


class JobFailed(MoldError):
    """``resource_id``: the entity an async-create command made before its job failed, if any."""

    def __init__(
        self,
        command: str,
        jobid: str,
        errorcode: int,
        errortext: str,
        *,
        resource_id: str | None = None,
    ) -> None:
        self.command = command
        self.jobid = jobid
        self.errorcode = errorcode
        self.errortext = errortext
        self.resource_id = resource_id
        super().__init__(f"{command} job {jobid} failed ({errorcode}): {errortext}"
                         f"{refusal_hint(command, errortext)}")


class JobTimeout(MoldError):
    """``resource_id``: the entity an async-create command made, if any (it may still appear)."""

    def __init__(
        self, command: str, jobid: str, seconds: float, *, resource_id: str | None = None
    ) -> None:
        self.command = command
        self.jobid = jobid
        self.seconds = seconds
        self.resource_id = resource_id
        made = f"; it works on {resource_id}" if resource_id else ""
        super().__init__(
            f"{command} job {jobid} did not finish within {seconds:g}s (--job-timeout){made}. "
            "It may still be running in Mold: its event in Mold's UI (Events) shows how it "
            "ends. Then run `mwin plan`: it picks up what the job made and plans what is left."
        )


def answer_problem(exc: Exception) -> str:
    """Words for a Python error raised while reading one of Mold's answers."""
    if isinstance(exc, KeyError):
        return f"an object lacks the field {exc.args[0]!r}"
    if isinstance(exc, IndexError):
        return "a list in it is empty"
    return f"{type(exc).__name__}: {exc}"

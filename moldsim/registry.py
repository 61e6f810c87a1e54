"""The command table: every API command moldsim serves, with its declared parameters.

`COMMANDS` maps the lowercased command name to a `Command`; command modules fill it with the
`api` decorator when `moldsim.commands` is imported. `listApis` is generated from this table,
so a parameter exists for clients exactly when a handler declares it. `JOB_KINDS` maps the
lowercased name of each async command to what its job does when it finishes or fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Parameter types, as listApis spells them (lower-case CommandType).
UUID = "uuid"
STRING = "string"
BOOLEAN = "boolean"
INTEGER = "integer"
LONG = "long"
LIST = "list"
MAP = "map"


@dataclass(frozen=True)
class Param:
    """One declared parameter.

    name: lowercase, as bound. entity: for UUID (and LIST of UUID) params, the store
    collection the value must resolve to (binding fails with 431 otherwise); "-1" is always
    accepted, as Mold accepts it for UUID params.
    acl: the parameter's `@ACL` annotation: "use" (plain @ACL) or "operate"
    (AccessType.OperateEntry). ParamProcessWorker.doAccessChecks checks the caller's access to
    the entity before the command runs, so a refusal is a synchronous 531 even for async
    commands (ApiServer.queueCommand dispatches the parameters before queueing the job).
    """

    name: str
    type: str = STRING
    required: bool = False
    description: str = ""
    entity: str | None = None
    acl: str | None = None
    mold_only: bool = False  # a Mold parameter upstream CloudStack lacks (cloudstack-4.17 profile)
    only_in: tuple[str, ...] = ()  # profiles that have it (empty: all), e.g. ("mold-4.23",)

    def exists_in(self, profile: Any) -> bool:
        """Whether the emulated release declares this parameter (listApis lists it, binding
        takes it; otherwise it is ignored, as CloudStack ignores parameters it does not know)."""
        if profile is None:
            return True
        if self.mold_only and not profile.tpm:
            return False
        return not self.only_in or profile.name in self.only_in


Handler = Callable[[Any, dict[str, Any]], dict[str, Any]]


@dataclass
class Command:
    """A served command. `handler(ctx, params)` returns the object under `<cmd>response`.

    name: CloudStack's camelCase name. isasync: answers with a jobid (listApis `isasync`).
    mutates: False for reads (no persistence after them unless a job finished meanwhile).
    response_name: the envelope key when it is not `<name lowercased>response` (the command
      class's getCommandName, e.g. getUploadParamsForIso's "postuploadisoresponse").
    """

    name: str
    handler: Handler
    params: tuple[Param, ...]
    isasync: bool = False
    mutates: bool = True
    description: str = ""
    related: str = ""
    response_name: str | None = None

    @property
    def envelope(self) -> str:
        return self.response_name or f"{self.name.lower()}response"


@dataclass
class JobKind:
    """What an async command's job does when it ends.

    finish(ctx, job) -> jobresult (e.g. {"virtualmachine": {...}}), may raise ApiError.
    rollback(ctx, job): puts transitional states back when the job fails (may be None).
    hang(ctx, job): shows the transitional state for good when the job never ends (the
      hang_jobs fault; may be None, e.g. when the object already looks unfinished).
    instancetype: `jobinstancetype`. cmdclass: the Java class name shown as `cmd`.
    """

    command: str
    instancetype: str | None
    cmdclass: str
    finish: Callable[[Any, dict[str, Any]], dict[str, Any]]
    rollback: Callable[[Any, dict[str, Any]], None] | None = None
    hang: Callable[[Any, dict[str, Any]], None] | None = None


COMMANDS: dict[str, Command] = {}
JOB_KINDS: dict[str, JobKind] = {}

# Parameters every list command takes (BaseListCmd / BaseListDomainResourcesCmd).
LIST_PARAMS = (
    Param("keyword", STRING, description="List by keyword"),
    Param("page", INTEGER),
    Param("pagesize", INTEGER),
    Param("listall", BOOLEAN, description="If set to false, list only resources belonging to the command's caller"),
    Param("isrecursive", BOOLEAN),
    Param("domainid", UUID, description="list only resources belonging to the domain specified"),
    Param("account", STRING, description="list resources by account"),
    Param("projectid", UUID, description="list objects by project"),
)
TAG_PARAMS = (Param("tags", MAP, description="List resources by tags (key/value pairs)"),)


def api(
    name: str,
    params: tuple[Param, ...] | list[Param] = (),
    *,
    isasync: bool = False,
    listing: bool = False,
    tagged: bool = False,
    mutates: bool | None = None,
    description: str = "",
    response_name: str | None = None,
) -> Callable[[Handler], Handler]:
    """Register a handler under `name` (listing adds the common list params, tagged `tags`)."""

    def register(fn: Handler) -> Handler:
        declared = tuple(params)
        if listing:
            declared += LIST_PARAMS
        if tagged:
            declared += TAG_PARAMS
        is_read = name.startswith("list") or name == "queryAsyncJobResult"
        COMMANDS[name.lower()] = Command(
            name=name,
            handler=fn,
            params=declared,
            isasync=isasync,
            mutates=(not is_read) if mutates is None else mutates,
            description=description or name,
            response_name=response_name,
        )
        return fn

    return register


def job_kind(
    command: str,
    instancetype: str | None,
    cmdclass: str,
    rollback: Callable[[Any, dict[str, Any]], None] | None = None,
    hang: Callable[[Any, dict[str, Any]], None] | None = None,
) -> Callable[[Callable[[Any, dict[str, Any]], dict[str, Any]]], Callable[[Any, dict[str, Any]], dict[str, Any]]]:
    """Register the finish function of an async command's job."""

    def register(fn: Callable[[Any, dict[str, Any]], dict[str, Any]]) -> Callable[[Any, dict[str, Any]], dict[str, Any]]:
        JOB_KINDS[command.lower()] = JobKind(command, instancetype, cmdclass, fn, rollback,
                                              hang)
        return fn

    return register

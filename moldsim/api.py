"""One API request, transport-free: raw parameter pairs in, (HTTP status, JSON document) out.

Order of work, as Mold's servlet (ApiServer.verifyRequest, handleRequest): find `command`
and the user of `apiKey` (an unknown command or key → 401) → commandAvailable: the API
throttle (429) and the role check (432, body key `errorresponse`) → verify the signature
(any mismatch → 401) → finish due jobs → bind parameters (430/431) and check the caller's
access to `@ACL` parameters (531) → run the handler as that caller → wrap the answer in
`<command lowercased>response`. Errors become Mold's error envelope with HTTP status =
errorcode; a synchronous 530/533/534 that is not a ServerApiException reaches callers who
are not root admin as "Internal error executing command, please contact your system
administrator". The whole request runs under the store lock; the store is saved after every
request that mutated it (or that finished a job).
"""

from __future__ import annotations

import sys
import threading
import traceback
from datetime import UTC, datetime
from typing import Any

from moldsim import commands, errors, identity, jobs, rolerules, signing
from moldsim.config import SimConfig
from moldsim.context import Ctx
from moldsim.faults import Faults
from moldsim.params import bind
from moldsim.registry import COMMANDS, Command
from moldsim.store import Store
from moldsim.throttle import Throttle

assert commands  # the import registers every command


def first(pairs: list[tuple[str, str]], name: str) -> str | None:
    """First value of an exactly named parameter."""
    return next((v for k, v in pairs if k == name), None)


def _api_key(pairs: list[tuple[str, str]]) -> str | None:
    return next((v for k, v in pairs if k.lower() == "apikey"), None)


def find_command(name: str | None, profile: Any = None) -> Command | None:
    """The served command with exactly this name (CloudStack's lookup is case-sensitive)."""
    cmd = COMMANDS.get((name or "").lower())
    return cmd if cmd is not None and cmd.name == name else None


def prune(value: Any) -> Any:
    """Drop None-valued fields recursively (Mold's Gson omits null fields)."""
    if isinstance(value, dict):
        return {k: prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def error_document(key: str, exc: errors.ApiError) -> tuple[int, dict[str, Any]]:
    return exc.errorcode, {key: exc.body()}


def role_allows(store: Store, acct: dict[str, Any], command: str) -> bool:
    role = identity.role_of(store, acct)
    return rolerules.role_allows(role["n"], role["type"], command)


class Api:
    """Dispatches requests against one store with one configuration."""

    def __init__(self, store: Store, config: SimConfig, faults: Faults) -> None:
        self.store, self.config, self.faults = store, config, faults
        self.throttle = Throttle()
        self._counts: dict[str, int] = {}  # API requests served, by command (benchmarks)
        self._count_lock = threading.Lock()

    def stats(self, with_objects: bool = False) -> dict[str, Any]:
        with self._count_lock:
            out: dict[str, Any] = {"api_requests": sum(self._counts.values()),
                                   "by_command": dict(sorted(self._counts.items()))}
        if with_objects:
            with self.store.lock:
                out["objects"] = {k: len(self.store.coll(k)) for k in
                                  ("isos", "templates", "networks", "vms", "volumes", "vmsnapshots",
                                   "accounts", "projects")}
        return out

    def reset_stats(self) -> None:
        with self._count_lock:
            self._counts.clear()

    def ctx(self, command: str = "", caller_id: str | None = None,
            base_url: str | None = None) -> Ctx:
        return Ctx(self.store, self.config, self.faults, self.store.now(), command, caller_id,
                   self.throttle, base_url=base_url or self.config.base_url)

    def handle(self, pairs: list[tuple[str, str]],
               base_url: str | None = None) -> tuple[int, dict[str, Any]]:
        """One API request. `base_url` is how the caller reached moldsim ("http://HOST:PORT",
        from the request's Host header): the host of the upload URLs moldsim hands out."""
        name = first(pairs, "command")
        with self._count_lock:
            self._counts[str(name)] = self._counts.get(str(name), 0) + 1
        cmd = find_command(name)
        key = cmd.envelope if cmd is not None and name else "errorresponse"
        if not name:
            return error_document(key, errors.ApiError(errors.UNSUPPORTED_ACTION,
                                                       "Invalid request, no command sent"))
        now = datetime.now(UTC)
        with self.store.lock:
            api_key = _api_key(pairs)
            user = identity.user_by_apikey(self.store, api_key, self.config.api_key) if api_key else None
            if cmd is None or user is None:
                return error_document(key, errors.unauthorized())
            acct = identity.account(self.store, user["accountid"])
            if acct is None or acct["state"] != "enabled":
                return error_document(key, errors.unauthorized())
            try:
                self._command_available(cmd, acct)
            except errors.ApiError as exc:
                refused_key = "errorresponse" if exc.errorcode == errors.UNSUPPORTED_ACTION else key
                return error_document(refused_key, exc)
            secret = identity.keys_of(self.store, user, self.config)[1] or ""
            if not signing.verify(pairs, {api_key or "": secret}, self.config.signature, now):
                return error_document(key, errors.unauthorized())
            return self._run(cmd, key, pairs, user["id"], base_url)

    def _command_available(self, cmd: Command, acct: dict[str, Any]) -> None:
        """ApiServer.commandAvailable: the throttle (root admins exempt), then the role."""
        if not identity.is_root_admin(acct):
            self.throttle.check(acct["id"], self.config.api_limit, self.store.now())
        if not role_allows(self.store, acct, cmd.name):
            raise errors.ApiError(
                errors.UNSUPPORTED_ACTION,
                f"The API [{cmd.name}] does not exist or is not available for the account "
                f"{identity.account_str(acct)}.", 9999, server_api=True)

    def _run(self, cmd: Command, key: str, pairs: list[tuple[str, str]],
             caller_id: str | None = None, base_url: str | None = None) -> tuple[int, dict[str, Any]]:
        ctx = self.ctx(cmd.name, caller_id, base_url)
        changed = jobs.advance(ctx)
        try:
            bound = bind(cmd, pairs, self.store, ctx.release)
            check_acl(ctx, cmd, bound)
            body = cmd.handler(ctx, bound)
            changed = changed or cmd.mutates
            return 200, {key: prune(body)}
        except errors.ApiError as exc:
            changed = changed or cmd.mutates
            # ApiServer.getSerializedApiError: a 432 is always answered under `errorresponse`
            return error_document("errorresponse" if exc.errorcode == errors.UNSUPPORTED_ACTION
                                  else key, self._shown(ctx, exc))
        except Exception as exc:  # a moldsim bug: answer like Mold's generic failure
            traceback.print_exc(file=sys.stderr)
            return error_document(key, self._shown(ctx, errors.internal_error(
                f"moldsim internal error: {exc!r}")))
        finally:
            if changed:
                self.store.save()

    @staticmethod
    def _shown(ctx: Ctx, exc: errors.ApiError) -> errors.ApiError:
        """What the caller reads: non-root-admins get USER_ERROR_MESSAGE for 530/533/534."""
        if exc.maskable and not ctx.root_admin:
            return errors.ApiError(exc.errorcode, errors.USER_ERROR_MESSAGE, exc.cserrorcode)
        return exc

    def tick(self) -> None:
        """Finish due jobs now (used by control endpoints and on start-up)."""
        with self.store.lock:
            if jobs.advance(self.ctx()):
                self.store.save()


def check_acl(ctx: Ctx, cmd: Command, bound: dict[str, Any]) -> None:
    """ParamProcessWorker.doAccessChecks for the `@ACL` parameters that were sent."""
    for param in cmd.params:
        if not param.acl or param.name not in bound:
            continue
        values = bound[param.name] if isinstance(bound[param.name], list) else [bound[param.name]]
        for value in values:
            entity_access(ctx, param.entity or "", value, param.acl == "operate")


def entity_access(ctx: Ctx, collections: str, ident: str, operate: bool) -> None:
    """AccountManagerImpl.checkAccess(caller, accessType, true, entity) (531 when refused)."""
    for coll in collections.split("|"):
        rec = ctx.coll(coll).get(ident) if coll else None
        if rec is None:
            continue
        if coll in ("isos", "templates"):
            identity.check_template(ctx.store, ctx.account, rec, operate)
        elif coll in ("vms", "networks", "vmsnapshots", "volumes"):
            identity.check_owner(ctx.store, ctx.account, ctx.owner_id(rec))
        return

"""One API request, transport-free: raw parameter pairs in, (HTTP status, JSON document) out.

Order of work, as Mold's servlet: find `command` → verify the signature (unknown command or
any mismatch → 401) → finish due jobs → bind parameters (430/431) → run the handler → wrap
the answer in `<command lowercased>response`. Errors become Mold's error envelope with HTTP
status = errorcode. The whole request runs under the store lock; the store is saved after
every request that mutated it (or that finished a job).
"""

from __future__ import annotations

import sys
import threading
import traceback
from datetime import datetime, timezone
from typing import Any

from moldsim import commands, errors, jobs, signing
from moldsim.config import SimConfig
from moldsim.context import Ctx
from moldsim.faults import Faults
from moldsim.params import bind
from moldsim.registry import COMMANDS, Command
from moldsim.store import Store

assert commands  # the import registers every command


def first(pairs: list[tuple[str, str]], name: str) -> str | None:
    """First value of an exactly named parameter."""
    return next((v for k, v in pairs if k == name), None)


def find_command(name: str | None) -> Command | None:
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


class Api:
    """Dispatches requests against one store with one configuration."""

    def __init__(self, store: Store, config: SimConfig, faults: Faults) -> None:
        self.store, self.config, self.faults = store, config, faults
        self._counts: dict[str, int] = {}  # API requests served, by command (benchmarks)
        self._count_lock = threading.Lock()

    def stats(self, with_objects: bool = False) -> dict[str, Any]:
        with self._count_lock:
            out: dict[str, Any] = {"api_requests": sum(self._counts.values()),
                                   "by_command": dict(sorted(self._counts.items()))}
        if with_objects:
            with self.store.lock:
                out["objects"] = {k: len(self.store.coll(k)) for k in
                                  ("isos", "templates", "networks", "vms", "volumes", "vmsnapshots")}
        return out

    def reset_stats(self) -> None:
        with self._count_lock:
            self._counts.clear()

    def ctx(self, command: str = "") -> Ctx:
        return Ctx(self.store, self.config, self.faults, self.store.now(), command)

    def handle(self, pairs: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
        name = first(pairs, "command")
        with self._count_lock:
            self._counts[str(name)] = self._counts.get(str(name), 0) + 1
        cmd = find_command(name)
        key = f"{name.lower()}response" if cmd is not None and name else "errorresponse"
        if not name:
            return error_document(key, errors.ApiError(errors.UNSUPPORTED_ACTION,
                                                       "Invalid request, no command sent"))
        now = datetime.now(timezone.utc)
        secrets = {self.config.api_key: self.config.secret_key}
        if cmd is None or not signing.verify(pairs, secrets, self.config.signature, now):
            return error_document(key, errors.unauthorized())
        with self.store.lock:
            return self._run(cmd, key, pairs)

    def _run(self, cmd: Command, key: str, pairs: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
        ctx = self.ctx(cmd.name)
        changed = jobs.advance(ctx)
        try:
            body = cmd.handler(ctx, bind(cmd, pairs, self.store))
            changed = changed or cmd.mutates
            return 200, {key: prune(body)}
        except errors.ApiError as exc:
            return error_document(key, exc)
        except Exception as exc:  # a moldsim bug: answer like Mold's generic failure
            traceback.print_exc(file=sys.stderr)
            return error_document(key, errors.internal_error(f"moldsim internal error: {exc!r}"))
        finally:
            if changed:
                self.store.save()

    def tick(self) -> None:
        """Finish due jobs now (used by control endpoints and on start-up)."""
        with self.store.lock:
            if jobs.advance(self.ctx()):
                self.store.save()

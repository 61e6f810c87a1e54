"""`Ctx`: what a command handler or a job function sees — the store, settings, faults, time.

`now` is the instant the work happens at: the request's arrival for handlers, the job's due
time for job functions (so results carry the time the job "really" finished).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from moldsim import errors
from moldsim.config import SimConfig
from moldsim.faults import Faults
from moldsim.store import Store


@dataclass
class Ctx:
    store: Store
    config: SimConfig
    faults: Faults
    now: float
    command: str = ""  # camelCase name of the command being served (or of the job's command)

    def coll(self, name: str) -> dict[str, Any]:
        return self.store.coll(name)

    def get(self, kind: str, ident: str, param: str = "id") -> dict[str, Any]:
        """The record `ident` of `kind`, or the 431 Mold gives for a UUID that does not resolve."""
        rec = self.store.coll(kind).get(ident)
        if rec is None:
            raise errors.invalid_uuid(param, ident)
        result: dict[str, Any] = rec
        return result

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())

    def owner(self) -> dict[str, Any]:
        """Ownership fields shared by most responses."""
        a = self.store.account
        return {"account": a["account"], "domainid": a["domainid"], "domain": a["domain"],
                "domainpath": a["domainpath"]}

    def zone(self, zone_id: str | None) -> dict[str, Any] | None:
        return self.store.coll("zones").get(zone_id) if zone_id else None

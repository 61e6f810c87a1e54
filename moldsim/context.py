"""`Ctx`: what a command handler or a job function sees — the store, settings, faults, time.

`now` is the instant the work happens at: the request's arrival for handlers, the job's due
time for job functions (so results carry the time the job "really" finished).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from moldsim import errors, identity, profiles, settings
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
    caller_id: str | None = None  # the calling user (None: the root admin of ROOT)
    throttle: Any = None  # the API throttle (moldsim.throttle.Throttle) of the serving Api
    # how the caller reached moldsim, "http(s)://HOST:PORT": the host of upload URLs
    base_url: str | None = None
    # resource id -> its tag records, built on first use in this request; rebuilt when the
    # tag list changed size (tags are only added or removed, never edited in place)
    _tag_index: tuple[int, dict[str, list[dict[str, Any]]]] | None = None
    # instance id -> its oldest unfinished job, for list views in this request (read-only use)
    _pending: dict[str, dict[str, Any]] | None = None

    def pending_jobs(self) -> dict[str, dict[str, Any]]:
        if self._pending is None:
            pending: dict[str, dict[str, Any]] = {}
            for job in self.coll("jobs").values():
                known = pending.get(job["instanceid"])
                if job["status"] == 0 and (known is None or job["seq"] < known["seq"]):
                    pending[job["instanceid"]] = job
            self._pending = pending
        return self._pending

    def tags_by_resource(self) -> dict[str, list[dict[str, Any]]]:
        tags = self.store.data["tags"]
        if self._tag_index is None or self._tag_index[0] != len(tags):
            index: dict[str, list[dict[str, Any]]] = {}
            for tag in tags:
                index.setdefault(tag["resourceid"], []).append(tag)
            self._tag_index = (len(tags), index)
        return self._tag_index[1]

    def coll(self, name: str) -> dict[str, Any]:
        return self.store.coll(name)

    def remove(self, kind: str, ident: str) -> None:
        """Delete a record as Mold does: its row is only marked removed, so list commands still
        bind its id (and find nothing); its tags go."""
        self.store.coll(kind).pop(ident, None)
        self.store.data.setdefault("removed", {})[ident] = kind
        tags = self.store.data["tags"]
        if any(t["resourceid"] == ident for t in tags):
            self.store.data["tags"] = [t for t in tags if t["resourceid"] != ident]

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

    @property
    def user(self) -> dict[str, Any]:
        """The calling user's record."""
        users = self.store.data["users"]
        found: dict[str, Any] | None = users.get(self.caller_id) if self.caller_id else None
        if found is None:
            found = users[self.store.data["admin"]["userid"]]
        return found

    @property
    def account(self) -> dict[str, Any]:
        """The calling account's record."""
        found = identity.account(self.store, self.user["accountid"])
        assert found is not None
        return found

    @property
    def root_admin(self) -> bool:
        return identity.is_root_admin(self.account)

    @property
    def release(self) -> profiles.Profile:
        return self.config.release

    def setting(self, name: str, account_id: str | None = None) -> str:
        return settings.value(self.store, self.config, name, account_id)

    def flag(self, name: str, account_id: str | None = None) -> bool:
        return settings.flag(self.store, self.config, name, account_id)

    def owner(self, rec: dict[str, Any] | None = None) -> dict[str, Any]:
        """Ownership fields of an answer: the record's owner (the caller's account without one)."""
        owner = identity.owner_id(self.store, rec) if rec is not None else self.account["id"]
        return identity.owner_fields(self.store, owner)

    def owner_id(self, rec: dict[str, Any]) -> str:
        return identity.owner_id(self.store, rec)

    def zone(self, zone_id: str | None) -> dict[str, Any] | None:
        return self.store.coll("zones").get(zone_id) if zone_id else None

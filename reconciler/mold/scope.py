"""Projects: which account's or project's objects a call sees and makes.

Mold skips project resources in every list without ``projectid`` (for a user's keys even one
that names an ``id``: buildACLSearchParameters then permits only the caller's own account),
lists only project resources with ``projectid=-1`` (every project the caller belongs to), and
makes an object the project's when a create carries ``projectid``
(AccountManagerImpl.buildACLSearchParameters / finalizeOwner). ``Scoped`` wraps the client so
that the kind modules need not know: list calls run once per scope and are merged by id,
creates carry the project. Rows are merged by id and zone (images list a row per zone).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.mold.api import MoldApi

__all__ = ["Scoped", "ALL_PROJECTS", "CREATES_IN_PROJECT"]

ALL_PROJECTS = "-1"
# Commands that make an object and take projectid; the object then belongs to the project.
CREATES_IN_PROJECT = frozenset({"registeriso", "createnetwork", "deployvirtualmachine",
                                "createtemplate", "getuploadparamsforiso"})


class Scoped:
    """``client`` seen through ``scopes``: each a project id, ``-1`` (all the caller's
    projects) or None (the account itself). Everything else is passed through."""

    def __init__(self, client: MoldApi, scopes: Sequence[str | None]) -> None:
        self._client = client
        self._scopes = list(dict.fromkeys(scopes)) or [None]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def list_all(self, command: str, item_key: str, params: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> list[dict[str, Any]]:
        params = dict(params or {})
        if "projectid" in params or self._scopes == [None]:
            return list(self._client.list_all(command, item_key, params, **kwargs))
        if "id" in params:  # one object: in the first scope that shows it (the account's too)
            for scope in [*self._scopes, *([None] if None not in self._scopes else [])]:
                scoped = params if scope is None else {**params, "projectid": scope}
                found = list(self._client.list_all(command, item_key, scoped, **kwargs))
                if found:
                    return found
            return []
        seen: set[tuple[str, Any]] = set()
        rows: list[dict[str, Any]] = []
        for scope in self._scopes:
            scoped = params if scope is None else {**params, "projectid": scope}
            for row in self._client.list_all(command, item_key, scoped, **kwargs):
                key = (str(row.get("id", len(rows))), row.get("zoneid"))  # a row per zone
                if key not in seen:
                    seen.add(key)
                    rows.append(row)
        return rows

    def wait_listed(self, command: str, item_key: str, params: Mapping[str, Any], ident: str,
                    check: Any, *, timeout: float, what: str) -> Any:
        """As the client's, within the scope's project (when it has one)."""
        project = next((s for s in self._scopes if s not in (None, ALL_PROJECTS)), None)
        scoped = {**params, "projectid": project} if project else dict(params)
        return self._client.wait_listed(command, item_key, scoped, ident, check,
                                        timeout=timeout, what=what)

    def call(self, command: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        params = dict(params or {})
        project = next((s for s in self._scopes if s not in (None, ALL_PROJECTS)), None)
        if project and command.lower() in CREATES_IN_PROJECT:
            params.setdefault("projectid", project)
        return dict(self._client.call(command, params))

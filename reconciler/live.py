"""Refresh: read what Mold holds now, in few calls.

One paged list call per catalog table (zones, OS types, offerings) and one per resource
kind, all concurrently. The result, a LiveSnapshot, is the only view of Mold the planner
sees. The Catalog resolves names or ids of zones, offerings and OS types once per run.

What a command accepts (listApis) is not read up front: a real Mold answers ~800 APIs with
every parameter (megabytes). The planner asks ``Catalog.api_params`` only for a command it
is about to plan (a deploy, say); an unanswered question is recorded in ``api_wanted``, the
workflow reads just those with ``listApis name=…`` (``load_apis``) and plans again, so a
plan that sends nothing asks nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from reconciler.diagnostics import Diagnostics, SourcePos
from reconciler.errors import TransportError, answer_problem
from reconciler.mold.scope import ALL_PROJECTS, Scoped
from reconciler.resources.base import LiveObject

__all__ = ["CatalogEntry", "Catalog", "LiveSnapshot", "refresh", "load_apis", "CATALOG_TABLES"]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# table name -> (list command, item key, extra params, label used in messages)
CATALOG_TABLES: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "zone": ("listZones", "zone", {}, "zone"),
    "os_type": ("listOsTypes", "ostype", {}, "OS type"),
    "service_offering": ("listServiceOfferings", "serviceoffering", {}, "compute offering"),
    "disk_offering": ("listDiskOfferings", "diskoffering", {}, "disk offering"),
    "network_offering": ("listNetworkOfferings", "networkoffering", {"state": "Enabled"},
                         "network offering"),
}
# Read only when a spec names them (VM placement): not every account may list them.
OPTIONAL_TABLES: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "pod": ("listPods", "pod", {}, "pod"),
    "cluster": ("listClusters", "cluster", {}, "cluster"),
    "host": ("listHosts", "host", {"type": "Routing"}, "host"),
    "project": ("listProjects", "project", {"listall": True}, "project"),
}
_ALL_TABLES = {**CATALOG_TABLES, **OPTIONAL_TABLES}


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    raw: Mapping[str, Any]


@dataclass
class Catalog:
    tables: dict[str, list[CatalogEntry]] = field(default_factory=dict)
    apis: dict[str, frozenset[str] | None] = field(default_factory=dict)  # None: not offered
    api_wanted: set[str] = field(default_factory=set)  # asked before they were read

    def entries(self, table: str) -> list[CatalogEntry]:
        return self.tables.get(table, [])

    def by_id(self, table: str, ident: str | None) -> CatalogEntry | None:
        if not ident:
            return None
        return next((e for e in self.entries(table) if e.id == ident), None)

    def name_of(self, table: str, ident: str | None) -> str | None:
        entry = self.by_id(table, ident)
        return entry.name if entry else ident

    def find(self, table: str, value: str) -> CatalogEntry | None:
        """Exact id, then exact name, then a unique case-insensitive name."""
        rows = self.entries(table)
        if _UUID.match(value):
            hit = next((e for e in rows if e.id == value), None)
            if hit:
                return hit
        exact = [e for e in rows if e.name == value]
        if exact:
            return exact[0]
        folded = [e for e in rows if e.name.casefold() == value.casefold()]
        return folded[0] if len(folded) == 1 else None

    def resolve(self, table: str, value: str, pos: SourcePos | None, diags: Diagnostics,
                address: str | None = None) -> CatalogEntry | None:
        entry = self.find(table, value)
        if entry is None:
            label = _ALL_TABLES[table][3]
            names = sorted({e.name for e in self.entries(table)})
            shown = ", ".join(repr(n) for n in names[:25]) + (" …" if len(names) > 25 else "")
            diags.error(f"{label} {value!r} does not exist in Mold", pos, address=address,
                        detail=f"{label}s Mold has: {shown or '(none)'}")
        return entry

    def api_known(self, command: str) -> bool:
        """Whether listApis was read for ``command``; asking records it as wanted."""
        if command in self.apis:
            return True
        self.api_wanted.add(command)
        return False

    def api_params(self, command: str) -> frozenset[str] | None:
        """Parameter names (lower case) listApis reports for ``command``; None when Mold does
        not offer it to this account, or (see ``api_known``) when it was not read yet."""
        if not self.api_known(command):
            return None
        return self.apis[command]

    def missing_apis(self) -> set[str]:
        return self.api_wanted - set(self.apis)


def load_apis(client: Any, catalog: Catalog, commands: set[str]) -> None:
    """``listApis name=…`` for each command, once. Mold answers 530 for a name it does not
    know or does not let this account call (ListApisCmd): recorded as not offered."""
    from reconciler.errors import ApiError

    for command in sorted(commands - set(catalog.apis)):
        try:
            body = client.call("listApis", {"name": command})
        except ApiError:
            catalog.apis[command] = None
            continue
        rows = body.get("api") or []
        params = [p for r in rows if str(r.get("name", "")).lower() == command.lower()
                  for p in r.get("params") or []]
        catalog.apis[command] = frozenset(str(p.get("name", "")).lower() for p in params) \
            if rows else None


@dataclass
class LiveSnapshot:
    catalog: Catalog
    objects: dict[str, dict[str, LiveObject]]  # kind -> id -> object
    request_count: int = 0  # HTTP requests the refresh made

    def get(self, kind: str, ident: str | None) -> LiveObject | None:
        if ident is None:
            return None
        return self.objects.get(kind, {}).get(ident)

    def of_kind(self, kind: str) -> list[LiveObject]:
        return list(self.objects.get(kind, {}).values())


def _load_table(client: Any, table: str) -> list[CatalogEntry]:
    command, item_key, params, _label = _ALL_TABLES[table]
    rows = client.list_all(command, item_key, params)
    return [CatalogEntry(str(r.get("id") or r.get("name")), _name(r), r) for r in rows]


def _name(row: Mapping[str, Any]) -> str:
    """An entry's name; OS types before CloudStack 4.19 carry only ``description``
    (GuestOSResponse: ``name`` was added in 4.19, both hold the display name)."""
    return str(row.get("name") or row.get("description") or "")


def _refresh_kind(kind: Any, client: Any, catalog: Catalog) -> list[LiveObject]:
    """One kind's objects; an answer without the fields every Mold object has is an error
    naming the command, not a crash."""
    try:
        return list(kind.refresh(client, catalog))
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise TransportError(kind.LIST_COMMAND, f"Mold's answer is not what mwin understands "
                             f"({answer_problem(exc)}); is something between mwin and Mold changing "
                             "answers, or is this Mold version unsupported?") from None


def refresh(client: Any, kinds: Mapping[str, Any], wanted: Sequence[str] | None = None,
            extra_tables: Sequence[str] = (), workers: int = 8,
            projects: bool = False) -> LiveSnapshot:
    """Read the catalog (plus ``extra_tables`` of OPTIONAL_TABLES) and every kind in
    ``wanted`` (default: all) concurrently; with ``projects`` the objects of every project
    the caller belongs to as well (``mold.scope``)."""
    before = getattr(client, "request_count", 0)
    kind_names = list(wanted) if wanted is not None else list(kinds)
    scoped = Scoped(client, [None, ALL_PROJECTS] if projects else [None])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        tables = {t: pool.submit(_load_table, client, t) for t in [*CATALOG_TABLES, *extra_tables]}
        catalog = Catalog({t: f.result() for t, f in tables.items()})
        futures = {k: pool.submit(_refresh_kind, kinds[k], scoped, catalog) for k in kind_names}
        objects = {k: {o.id: o for o in f.result()} for k, f in futures.items()}
    used = getattr(client, "request_count", 0) - before
    return LiveSnapshot(catalog, objects, used)

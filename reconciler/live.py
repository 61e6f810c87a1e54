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

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reconciler.errors import TransportError, answer_problem
from reconciler.model import Catalog, CatalogEntry, LiveObject, LiveSnapshot
from reconciler.mold.scope import ALL_PROJECTS, Scoped

__all__ = ["refresh", "load_apis", "CATALOG_TABLES"]


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
_ALL_TABLES = {**CATALOG_TABLES, **OPTIONAL_TABLES}  # labels: model.TABLE_LABELS


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
    kind_names = list(wanted) if wanted is not None else list(kinds)
    scoped = Scoped(client, [None, ALL_PROJECTS] if projects else [None])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        tables = {t: pool.submit(_load_table, client, t) for t in [*CATALOG_TABLES, *extra_tables]}
        catalog = Catalog({t: f.result() for t, f in tables.items()})
        futures = {k: pool.submit(_refresh_kind, kinds[k], scoped, catalog) for k in kind_names}
        objects = {k: {o.id: o for o in f.result()} for k, f in futures.items()}
    return LiveSnapshot(catalog, objects)

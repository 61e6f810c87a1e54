"""Refresh: read what Mold holds now, in few calls.

One paged list call per catalog table (zones, OS types, offerings) and one per resource
kind, all concurrently. The result, a LiveSnapshot, is the only view of Mold the planner
sees. The Catalog resolves names or ids of zones, offerings and OS types once per run.

A plan reads less (``plan_focus``): of each kind, this state's objects by the owner tag and
the few others the plan needs (resources.focus), so the cost of a plan follows what the state
manages, not what everybody keeps in the account. Commands that look at everything (rebuild,
import, destroy, a saved plan's check) read everything.

What a command accepts (listApis) is not read up front: a real Mold answers ~800 APIs with
every parameter (megabytes). The planner asks ``Catalog.api_params`` only for a command it
is about to plan (a deploy, say); an unanswered question is recorded in ``api_wanted``, the
workflow reads just those with ``listApis name=…`` (``load_apis``) and plans again, so a
plan that sends nothing asks nothing.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel

from reconciler.errors import ApiError, TransportError, answer_problem
from reconciler.model import (
    GONE,
    Address,
    Catalog,
    CatalogEntry,
    Declared,
    LiveObject,
    LiveSnapshot,
    Ref,
)
from reconciler.mold.api import MoldApi
from reconciler.mold.scope import ALL_PROJECTS, Scoped
from reconciler.resources.contract import KindModule
from reconciler.resources.focus import Focus
from reconciler.state import State

__all__ = ["refresh", "load_apis", "plan_focus", "CATALOG_TABLES"]


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
    # the accounts a template may be shared with, and the caller's own account (listAccounts
    # without listall: QueryManagerImpl.searchForAccountsInternal lists only the caller's)
    "account": ("listAccounts", "account", {"listall": True}, "account"),
    "caller": ("listAccounts", "account", {}, "account"),
}
# Tables only a check at plan time reads: if the keys may not list them, the check is left to
# Mold at apply time instead of failing the plan.
_BEST_EFFORT = {"account", "caller"}
_ALL_TABLES = {**CATALOG_TABLES, **OPTIONAL_TABLES}  # labels: model.TABLE_LABELS


def load_apis(client: MoldApi, catalog: Catalog, commands: set[str]) -> None:
    """``listApis name=…`` for each command, once. Mold answers 530 for a name it does not
    know or does not let this account call (ListApisCmd): recorded as not offered."""
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


def _load_table(client: MoldApi, table: str) -> list[CatalogEntry]:
    command, item_key, params, _label = _ALL_TABLES[table]
    try:
        rows = client.list_all(command, item_key, params)
    except ApiError:
        if table not in _BEST_EFFORT:
            raise
        rows = []
    return [CatalogEntry(str(r.get("id") or r.get("name")), _name(r), r) for r in rows]


def _name(row: Mapping[str, Any]) -> str:
    """An entry's name; OS types before CloudStack 4.19 carry only ``description``
    (GuestOSResponse: ``name`` was added in 4.19, both hold the display name)."""
    return str(row.get("name") or row.get("description") or "")


def plan_focus(declared: Mapping[Address, Declared], state: State, kinds: Mapping[str, Any]
               ) -> dict[str, Focus]:
    """What a plan of ``declared`` against ``state`` reads of each kind (resources.focus):
    this owner's objects, the declared names the owner tag may not find, the ids state
    records, the ``{name:}``/``{id:}`` references to it (a kind module's ``REF_KINDS``
    says which kind each of its fields names; without it, every kind)."""
    names = {str(a): getattr(d.spec, "name", None) or a.key for a, d in declared.items()}
    in_play = {a.kind for a in declared} | {a.split(".", 1)[0] for a in state.resources}
    refs: dict[str, dict[Ref, None]] = {kind: {} for kind in kinds}
    for decl in declared.values():
        targets = getattr(kinds[decl.address.kind], "REF_KINDS", None)
        model: type[BaseModel] = type(decl.spec)
        for name in _ref_fields(model):
            for ref in _refs(getattr(decl.spec, name)):
                for kind in [targets[name]] if targets and name in targets else list(kinds):
                    refs.setdefault(kind, {})[ref] = None
    return {kind: Focus(
        owner=state.owner,
        names={a: n for a, n in names.items() if a.startswith(f"{kind}.")},
        recorded={a: r.id for a, r in state.resources.items() if a.startswith(f"{kind}.")},
        refs=tuple(refs.get(kind, {})),
        declared={str(a): d.spec for a, d in declared.items() if a.kind == kind},
        attributes={a: r.attributes for a, r in state.resources.items()
                    if a.startswith(f"{kind}.")},
        name_of=names) for kind in in_play | {k for k, r in refs.items() if r}}


def _refs(value: Any) -> list[Ref]:
    """Every ``{name:}``/``{id:}`` reference in a spec value (models, lists, mappings)."""
    if isinstance(value, Ref):
        return [value]
    if isinstance(value, BaseModel):
        return [r for name in _ref_fields(type(value)) for r in _refs(getattr(value, name))]
    if isinstance(value, list | tuple):
        return [r for item in value for r in _refs(item)]
    if isinstance(value, Mapping):
        return [r for item in value.values() for r in _refs(item)]
    return []


@functools.cache
def _ref_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``model`` whose type can hold a Ref (looked at once per model class:
    walking every field of 10,000 declarations costs more than the plan)."""
    return tuple(name for name, info in model.model_fields.items() if _may_hold_ref(info.annotation))


def _may_hold_ref(annotation: Any) -> bool:
    if annotation is Ref:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return bool(_ref_fields(annotation))
    return any(_may_hold_ref(arg) for arg in typing.get_args(annotation))


def _refresh_kind(kind: KindModule, client: MoldApi, catalog: Catalog, focus: Focus | None
                  ) -> list[LiveObject]:
    """One kind's objects; an answer without the fields every Mold object has is an error
    naming the command, not a crash."""
    try:
        return list(kind.refresh(client, catalog, focus) if focus is not None
                    else kind.refresh(client, catalog))
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise TransportError(kind.LIST_COMMAND, f"Mold's answer is not what mwin understands "
                             f"({answer_problem(exc)}); is something between mwin and Mold changing "
                             "answers, or is this Mold version unsupported?") from None


def refresh(client: MoldApi, kinds: Mapping[str, KindModule], wanted: Sequence[str] | None = None,
            extra_tables: Sequence[str] = (), workers: int = 8,
            projects: bool = False, focus: Mapping[str, Focus] | None = None) -> LiveSnapshot:
    """Read the catalog tables the kinds in ``wanted`` (default: all) resolve names in (a
    kind module's ``CATALOG``; without one, all), plus ``extra_tables`` of OPTIONAL_TABLES,
    and every kind in ``wanted``, concurrently; with ``projects`` the objects of every project
    the caller belongs to as well (``mold.scope``); with ``focus`` (``plan_focus``) only what a
    plan needs of each kind it names (the others: everything)."""
    kind_names = list(wanted) if wanted is not None else list(kinds)
    scoped = Scoped(client, [None, ALL_PROJECTS] if projects else [None])
    needed = {t for k in kind_names for t in getattr(kinds[k], "CATALOG", CATALOG_TABLES)}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        tables = {t: pool.submit(_load_table, client, t)
                  for t in [*(t for t in CATALOG_TABLES if t in needed), *extra_tables]}
        catalog = Catalog({t: f.result() for t, f in tables.items()})
        futures = {k: pool.submit(_refresh_kind, kinds[k], scoped, catalog,
                                  (focus or {}).get(k)) for k in kind_names}
        found = {k: f.result() for k, f in futures.items()}
    owner = next((f.owner for f in (focus or {}).values()), None)
    if "caller" not in catalog.tables and any(o.owner_tag is None or o.owner_tag != owner
                                              for objs in found.values() for o in objs):
        # objects not this state's by their tag: whose are they? (the planner takes none held
        # by another account or project than the declaration's; one call, only then)
        catalog.tables["caller"] = _load_table(client, "caller")
    objects = {k: {o.id: o for o in found[k] if o.state != GONE} for k in found}
    gone = {k: {o.id: o for o in found[k] if o.state == GONE} for k in found}
    return LiveSnapshot(catalog, objects, {k: v for k, v in gone.items() if v})

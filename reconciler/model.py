"""The data every layer shares, in one leaf module (it imports nothing of mwin but
diagnostics and plan): addresses, the spec's shapes, a declared resource, what the planner
resolves it to (Desired) and plans for it (Draft), Mold's catalog and live objects, and
what an executed action did (Outcome).

Invariants:
- ``LiveObject.attrs`` uses the spec's keys and vocabulary (zone and OS-type names, GiB,
  lower-case enums); ids the kinds need but users never see are in ``private``.
- ``Desired.attrs`` compares with ``LiveObject.attrs`` key by key; ``Desired.inputs`` are the
  API parameters for a create (Mold ids, or ``{"$ref": address}`` for an object an earlier
  action of the same plan makes).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reconciler.diagnostics import Diagnostics, SourcePos
from reconciler.plan import Operation

__all__ = ["ADDRESS_TAG", "OWNER_TAG", "Address", "SpecModel", "Lifecycle", "ResourceSpec",
           "Ref", "Defaults", "Declared", "CatalogEntry", "Catalog", "TABLE_LABELS",
           "did_you_mean",
           "LiveObject", "LiveSnapshot", "Desired", "Draft", "Outcome", "tags_of", "holder_of",
           "account_holder"]

# Every managed object carries these tags (a contract, docs/state.md): the resource's address
# and the owner of the state that manages it. A state adopts, changes and deletes only objects
# carrying its own owner; objects with an address tag and no owner were made by mwin 0.1.
ADDRESS_TAG = "mwin:address"
OWNER_TAG = "mwin:owner"


@dataclass(frozen=True, order=True)
class Address:
    """``<kind>.<key>``, e.g. ``vm.win2022-master``. Which kinds exist is the registry's
    (``reconciler.resources.parse_address`` checks it)."""

    kind: str
    key: str

    @classmethod
    def parse(cls, text: str) -> Address:
        kind, sep, key = text.partition(".")
        if not sep or not kind or not key:
            raise ValueError(f"{text!r} is not an address: expected <kind>.<key>")
        return cls(kind, key)

    def __str__(self) -> str:
        return f"{self.kind}.{self.key}"


# --- the spec's shapes -------------------------------------------------------------------

class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Lifecycle(SpecModel):
    """Per-resource safety: ``protect`` makes any plan that would delete or replace the
    resource an error (and is remembered in state); ``ignore_changes`` lists spec keys whose
    differences never produce actions (they are still set when the resource is created)."""

    protect: bool = Field(False, description="Refuse any plan that would delete or replace "
                                             "it; remembered in state until set to false")
    ignore_changes: list[str] = Field(default_factory=list,
                                      description="Spec keys whose differences are left alone")


class ResourceSpec(SpecModel):
    """Base of the Spec of every kind: the keys all resources share."""

    lifecycle: Lifecycle = Field(default_factory=Lifecycle,
                                 description="protect / ignore_changes")
    project: str | None = Field(None, description="Mold project (name or id) the object "
                                                  "belongs to (default: defaults.project)")


class Ref(BaseModel):
    """`{name: …}` or `{id: …}`: an object that exists in Mold and is not managed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str | None = Field(None, description="Name of an existing Mold object")
    id: str | None = Field(None, description="Id of an existing Mold object")


class Defaults(SpecModel):
    zone: str | None = Field(None, description="Zone of every resource that names none")
    hypervisor: str = Field("KVM", description="Hypervisor of every VM that names none")
    project: str | None = Field(None, description="Mold project (name or id) every resource "
                                                  "belongs to unless it names its own")


@dataclass
class Declared:
    """One declared resource: its validated model and where each key was written."""

    address: Address
    spec: Any  # the kind's Spec (a ResourceSpec subclass)
    pos: SourcePos
    fields: dict[str, SourcePos] = field(default_factory=dict)  # "boot.type" -> position

    def at(self, name: str) -> SourcePos:
        return self.fields.get(name, self.pos)


# --- Mold's catalog and live objects ------------------------------------------------------

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TABLE_LABELS = {"zone": "zone", "os_type": "OS type", "service_offering": "compute offering",
                "disk_offering": "disk offering", "network_offering": "network offering",
                "pod": "pod", "cluster": "cluster", "host": "host", "project": "project",
                "account": "account", "caller": "account"}


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    raw: Mapping[str, Any]


@dataclass
class Catalog:
    """Zones, OS types, offerings, … by name or id; and what commands accept (listApis),
    read only when the planner asks (``api_wanted`` then says what to read)."""

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
            label = TABLE_LABELS.get(table, table)
            names = sorted({e.name for e in self.entries(table)})
            shown = ", ".join(repr(n) for n in names[:25]) + (" …" if len(names) > 25 else "")
            diags.error(f"{label} {value!r} does not exist in Mold{did_you_mean(value, names)}",
                        pos, address=address, detail=f"{label}s Mold has: {shown or '(none)'}")
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


def did_you_mean(value: str, names: list[str]) -> str:
    """The closest of Mold's names, case and spacing aside ("windows pv" → 'Windows PV')."""
    folded = {" ".join(n.casefold().split()): n for n in names}
    close = difflib.get_close_matches(" ".join(value.casefold().split()), list(folded), n=1,
                                      cutoff=0.6)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""


@dataclass(frozen=True)
class LiveObject:
    """A Mold object normalised once at the boundary (see the module docstring)."""

    kind: str
    id: str
    name: str
    attrs: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)
    state: str | None = None  # Mold's state / readiness text, for humans
    private: dict[str, Any] = field(default_factory=dict)  # ids the kind needs, never shown
    holder: str | None = None  # who has it in Mold (``holder_of``); None: not told

    @property
    def address_tag(self) -> str | None:
        return self.tags.get(ADDRESS_TAG)

    @property
    def owner_tag(self) -> str | None:
        return self.tags.get(OWNER_TAG)


def holder_of(raw: Mapping[str, Any]) -> str | None:
    """Who has an object in Mold: ``project:<id>``, or ``account:<domain id>/<account>``
    (names are unique per domain, compared ignoring case as Mold does)."""
    if raw.get("projectid"):
        return f"project:{raw['projectid']}"
    if raw.get("account") and raw.get("domainid"):
        return account_holder(str(raw["domainid"]), str(raw["account"]))
    return None


def account_holder(domain_id: str, account: str) -> str:
    """``holder_of`` an account's own objects (the name of an account: listAccounts' `name`)."""
    return f"account:{domain_id}/{account.casefold()}"


def tags_of(raw: Mapping[str, Any]) -> dict[str, str]:
    return {t.get("key", ""): t.get("value", "") for t in raw.get("tags") or []}


GONE = "Destroyed"  # LiveObject.state of an object deleted in Mold but still recoverable


@dataclass
class LiveSnapshot:
    """What Mold holds now: the only view of Mold the planner sees."""

    catalog: Catalog
    objects: dict[str, dict[str, LiveObject]]  # kind -> id -> object
    # kind -> id -> object Mold still lists as deleted but recoverable (a VM Destroyed and not
    # yet expunged): never matched or held, only looked at for an id state records
    gone: dict[str, dict[str, LiveObject]] = field(default_factory=dict)

    def get(self, kind: str, ident: str | None) -> LiveObject | None:
        if ident is None:
            return None
        return self.objects.get(kind, {}).get(ident)

    def of_kind(self, kind: str) -> list[LiveObject]:
        return list(self.objects.get(kind, {}).values())


# --- planning and its outcome --------------------------------------------------------------

@dataclass
class Desired:
    """A declared resource resolved against Mold's catalog (names checked, ids known)."""

    address: Address
    attrs: dict[str, Any]  # compared with LiveObject.attrs
    inputs: dict[str, Any]  # API parameters for create (ids or {"$ref": address})
    needs: list[str] = field(default_factory=list)  # addresses its creation waits for
    private: dict[str, Any] = field(default_factory=dict)  # planning-only values, never shown


@dataclass
class Draft:
    """An action before the planner numbers it: dependencies are addresses.

    Cross-kind needs are data the planner resolves after every kind has planned, so the
    result never depends on the order kinds are planned in: ``clean_stop`` names a VM whose
    stop in this plan must be the guest's own power-off (a template is made from its disk).
    """

    operation: Operation
    reason: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    changed: list[str] = field(default_factory=list)
    requires_replace: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    needs: list[str] = field(default_factory=list)  # addresses whose actions must finish first
    releases: list[str] = field(default_factory=list)  # Mold ids this step stops using (detach)
    frees: str | None = None  # the Mold id this step deletes: waits for every release of it
    drift: bool = False
    protect: bool | None = None  # lifecycle.protect of a declared resource, recorded in state
    clean_stop: str | None = None  # a VM address (see the class docstring)
    new_revision: bool = False  # a replacement that keeps the address's history (templates)
    broken: bool = False  # replaces an object Mold marks failed (never usable): not protected


@dataclass
class Outcome:
    """What an executed action did to state."""

    mold_id: str | None = None  # new id (create/replace/adopt) or the same id
    attributes: dict[str, Any] | None = None  # attributes to record
    removed: bool = False  # drop the address from state
    kept: tuple[str, ...] = ()  # recorded attributes the action leaves as they are, unless
    #                             ``attributes`` has them (a template's previous revisions)

"""What every resource kind module shares: the attribute table, the generic diff,
the live-object shape and the contexts handed to planning and execution.

A kind module (``iso``, ``network``, ``vm``, ``template``) defines the same
names: ``KIND``, ``SECTION``, ``Spec`` (pydantic model of one YAML entry),
``ATTRS`` (the attribute table), ``references(spec)``, ``desired(...)``,
``observe(raw, catalog)``, ``refresh(client)``, ``plan_changes(...)`` and
``execute(action, ctx)``. Nothing here imports the planner, executor or CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from reconciler.address import Address
from reconciler.diagnostics import Diagnostics
from reconciler.mold.api import MoldApi
from reconciler.mold.poll import Clock, PollPolicy
from reconciler.plan import Action, Operation

__all__ = [
    "ADDRESS_TAG",
    "OWNER_TAG",
    "OnChange",
    "Attr",
    "AttrChange",
    "diff_attrs",
    "deploy_only_changes",
    "LiveObject",
    "Desired",
    "Draft",
    "SpecModel",
    "ResourceSpec",
    "Lifecycle",
    "Ref",
    "Outcome",
    "ExecContext",
    "Waits",
    "KindModule",
    "tags_of",
]

# Every managed object carries these tags (a contract, docs/state.md): the resource's address
# and the owner of the state that manages it. A state adopts, changes and deletes only objects
# carrying its own owner; objects with an address tag and no owner were made by mwin 0.1.
ADDRESS_TAG = "mwin:address"
OWNER_TAG = "mwin:owner"


class OnChange(StrEnum):
    IN_PLACE = "in_place"  # an update call while the object exists
    NEEDS_STOP = "needs_stop"  # in place, but only while the VM is stopped
    REPLACE = "replace"  # delete + create
    STEP = "step"  # the kind plans its own dedicated action (attach, start, ...)
    DEPLOY_ONLY = "deploy_only"  # set when the object is made; later a warning, never an action


@dataclass(frozen=True)
class Attr:
    """One declared attribute: how it is compared and what a change costs. ``name`` is the
    spec's key (``boot.type`` for a nested one): the word users see in plans and write in
    ``lifecycle.ignore_changes``."""

    name: str
    on_change: OnChange
    command: str | None = None  # the API call that changes it in place
    equal: Callable[[Any, Any], bool] = lambda a, b: a == b
    replace_reason: str | None = None  # loud text for replacements that matter
    optional: bool = False  # desired None means "whatever Mold has"


@dataclass(frozen=True)
class AttrChange:
    attr: Attr
    before: Any
    after: Any


def diff_attrs(attrs: tuple[Attr, ...], desired: Mapping[str, Any], live: Mapping[str, Any]
               ) -> list[AttrChange]:
    """Attributes whose desired value differs from the live one (deploy-only ones excluded:
    see ``deploy_only_changes``)."""
    changes = []
    for attr in attrs:
        if attr.on_change is OnChange.DEPLOY_ONLY:
            continue
        want = desired.get(attr.name)
        have = live.get(attr.name)
        if want is None and attr.optional:
            continue
        if not attr.equal(want, have):
            changes.append(AttrChange(attr, have, want))
    return changes


def deploy_only_changes(attrs: tuple[Attr, ...], desired: Mapping[str, Any],
                        live: Mapping[str, Any]) -> list[AttrChange]:
    """Deploy-only attributes the spec now sets otherwise than the object was made with."""
    return [AttrChange(a, live.get(a.name), desired.get(a.name)) for a in attrs
            if a.on_change is OnChange.DEPLOY_ONLY
            and not (desired.get(a.name) is None and a.optional)
            and not a.equal(desired.get(a.name), live.get(a.name))]


def casefold_equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    return bool(a == b)


class SpecModel(BaseModel):
    """Base of every kind's Spec: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Lifecycle(SpecModel):
    """Per-resource safety: ``protect`` makes any plan that would delete or replace the
    resource an error; ``ignore_changes`` lists attributes whose differences never
    produce actions (they are still set when the resource is created)."""

    protect: bool = False
    ignore_changes: list[str] = Field(default_factory=list)


class ResourceSpec(SpecModel):
    """Base of the Spec of every kind: the keys all resources share."""

    lifecycle: Lifecycle = Field(default_factory=Lifecycle,
                                 description="protect / ignore_changes")
    project: str | None = Field(None, description="Mold project (name or id) the object "
                                                  "belongs to (default: defaults.project)")


class Ref(BaseModel):
    """`{name: …}` or `{id: …}`: an object that exists in Mold and is not managed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class LiveObject:
    """A Mold object normalised once at the boundary: ``attrs`` uses spec names and
    spec vocabulary (zone and OS-type names, GiB, lower-case enums)."""

    kind: str
    id: str
    name: str
    attrs: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)
    state: str | None = None  # Mold's state / readiness text, for humans
    private: dict[str, Any] = field(default_factory=dict)  # ids the kind needs, never shown

    @property
    def address_tag(self) -> str | None:
        return self.tags.get(ADDRESS_TAG)

    @property
    def owner_tag(self) -> str | None:
        return self.tags.get(OWNER_TAG)


def tags_of(raw: Mapping[str, Any]) -> dict[str, str]:
    return {t.get("key", ""): t.get("value", "") for t in raw.get("tags") or []}


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
    """An action before the planner numbers it: dependencies are addresses, and
    ``after_steps`` orders it after earlier drafts of the same resource."""

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


@dataclass
class Outcome:
    """What an executed action did to state."""

    mold_id: str | None = None  # new id (create/replace/adopt) or the same id
    attributes: dict[str, Any] | None = None  # attributes to record
    removed: bool = False  # drop the address from state


Progress = Callable[[str], None]


@dataclass(frozen=True)
class Waits:
    """Every deadline and pause of an apply, settable down to milliseconds."""

    poll: PollPolicy = PollPolicy()  # job and readiness polls
    job_timeout: float = 1800.0  # each async job
    ready_timeout: float = 3600.0  # an ISO or template until it is ready
    recheck_delay: float = 1.0  # before looking for the effect of a change whose answer was lost
    guest_shutdown: float = 0.0  # before stopping a VM: wait for the guest to power itself off
    clock: Clock = Clock()


@dataclass
class ExecContext:
    client: MoldApi
    resolve: Callable[[Any], Any]  # replaces {"$ref": address} with the id from state
    progress: Progress
    waits: Waits = Waits()
    force_stop: bool = False  # stop VMs that do not power off by themselves, even for templates
    record: Callable[[Outcome], None] = lambda outcome: None  # save progress mid-action
    owner: str | None = None  # the state's owner: every object this apply makes is tagged so

    def ownership_tags(self, address: str) -> dict[str, str]:
        """The tags that make an object this state's: its address and the owner."""
        tags = {ADDRESS_TAG: address}
        if self.owner:
            tags[OWNER_TAG] = self.owner
        return tags

    def is_mine(self, tags: Mapping[str, str], address: str) -> bool:
        """An object this state may take after a lost answer: untagged, or tagged with this
        address and owner (one tagged by another state, or by mwin 0.1, is never taken)."""
        if ADDRESS_TAG not in tags:
            return True
        return tags.get(ADDRESS_TAG) == address and tags.get(OWNER_TAG) == self.owner


class KindModule(Protocol):
    KIND: str
    SECTION: str
    Spec: type[SpecModel]
    ATTRS: tuple[Attr, ...]

    def references(self, spec: Any) -> list[tuple[str, Address]]: ...

    def desired(self, address: Address, spec: Any, ctx: Any, diags: Diagnostics) -> Desired | None: ...

    def refresh(self, client: Any, catalog: Any) -> list[LiveObject]: ...

    def plan_changes(self, desired: Desired, live: LiveObject | None, ctx: Any) -> list[Draft]: ...

    def execute(self, action: Action, ctx: ExecContext) -> Outcome: ...

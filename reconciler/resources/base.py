"""What every kind module shares: the attribute table (how an attribute compares, what a
change costs, which API parameter and answer field carry it), the generic diff, and the
context an action executes in. Nothing here imports the planner, executor or CLI.

The contract a kind module fulfils is ``contract.KindModule``; the registry in dependency
order is ``reconciler.resources.KINDS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reconciler.model import ADDRESS_TAG, OWNER_TAG, Outcome
from reconciler.mold.api import MoldApi
from reconciler.mold.poll import Clock, PollPolicy

__all__ = ["OnChange", "Attr", "AttrChange", "diff_attrs", "deploy_only_changes",
           "casefold_equal", "read_attrs", "api_params", "as_bool", "ExecContext", "Waits",
           "Progress", "ActionInputs"]


class OnChange(StrEnum):
    IN_PLACE = "in_place"  # an update call while the object exists
    NEEDS_STOP = "needs_stop"  # in place, but only while the VM is stopped
    REPLACE = "replace"  # delete + create
    STEP = "step"  # the kind plans its own dedicated action (attach, start, ...)
    DEPLOY_ONLY = "deploy_only"  # set when the object is made; later a warning, never an action


def _same(a: Any, b: Any) -> bool:
    return bool(a == b)


def _as_is(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Attr:
    """One declared attribute. ``name`` is the spec's key (``boot.type`` for a nested one):
    the word users see in plans and write in ``lifecycle.ignore_changes``. ``param`` is the
    API parameter that sets it (on create, and with ``command`` in place); ``field`` the field
    of Mold's answer it is read from, through ``read`` (into the spec's vocabulary). An
    attribute without ``param``/``field`` is carried by ids in ``Desired.inputs`` or read by
    the kind itself (zones, OS types by name)."""

    name: str
    on_change: OnChange
    command: str | None = None  # the API call that changes it in place
    param: str | None = None
    field: str | None = None
    read: Callable[[Any], Any] = _as_is
    equal: Callable[[Any, Any], bool] = _same
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


def as_bool(value: Any) -> bool:
    return bool(value)


def read_attrs(attrs: tuple[Attr, ...], row: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes the table reads straight from a Mold answer."""
    return {a.name: a.read(row.get(a.field)) for a in attrs if a.field}


def api_params(attrs: tuple[Attr, ...], values: Mapping[str, Any],
               command: str | None = None) -> dict[str, Any]:
    """API parameters for ``values`` (spec keys): every attribute with a ``param`` (a
    create), or only those ``command`` changes in place."""
    return {a.param: values.get(a.name) for a in attrs
            if a.param and (command is None or a.command == command)}


class ActionInputs(BaseModel):
    """What the executor reads of ``Action.inputs`` (beside ``operation``, ``mold_id`` and
    ``after``, the attributes to set); each kind extends it. Unknown keys are errors, so a
    misspelt key never silently becomes a default. Ids are resolved (no ``$ref``) by then."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None  # the object acted on (also ``Action.mold_id``)
    projectid: str | None = None  # the project the object belongs to
    orphan: bool = False  # a leftover or replaced object: deleting it leaves state unchanged
    add_tags: list[str] = Field(default_factory=list)  # adopt: ownership tags it lacks
    # adopt: ownership tags it carries with another value (the address before `state mv`)
    wrong_tags: dict[str, str] = Field(default_factory=dict)
    commands: list[str] = Field(default_factory=list)  # update: the API calls to make


Progress = Callable[[str], None]


@dataclass(frozen=True)
class Waits:
    """Every deadline and pause of an apply, settable down to milliseconds."""

    poll: PollPolicy = PollPolicy()  # job and readiness polls
    job_timeout: float = 1800.0  # each async job
    ready_timeout: float = 3600.0  # an ISO or template until it is ready
    recheck_delay: float = 1.0  # before looking for the effect of a change whose answer was lost
    guest_shutdown: float = 0.0  # before stopping a VM: wait for the guest to power itself off
    install_timeout: float = 4 * 3600.0  # unattended media: Setup until the guest powers off
    boot_key_interval: float = 1.0  # between the key presses at an unattended UEFI first boot
    clock: Clock = Clock()


def _no_record(outcome: Outcome) -> None:
    return None


@dataclass
class ExecContext:
    client: MoldApi
    resolve: Callable[[Any], Any]  # replaces {"$ref": address} with the id from state
    progress: Progress
    waits: Waits = Waits()
    force_stop: bool = False  # stop VMs that do not power off by themselves, even for templates
    record: Callable[[Outcome], None] = _no_record  # save progress mid-action
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

"""The contract every kind module fulfils, as Protocols that mypy checks (the registry in
``reconciler.resources`` assigns each module to ``KindModule``), and the view of planning a
kind may consult (``PlanningContext``; the planner's PlanContext implements it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from reconciler.diagnostics import Diagnostics
from reconciler.model import (
    Address,
    Catalog,
    Declared,
    Defaults,
    Desired,
    Draft,
    LiveObject,
    LiveSnapshot,
    Outcome,
    ResourceSpec,
)
from reconciler.mold.api import MoldApi
from reconciler.plan import Action
from reconciler.resources.base import Attr, ExecContext
from reconciler.resources.focus import Focus

__all__ = ["KindModule", "PlanFlags", "PlanningContext", "SpecView"]


class SpecView(Protocol):
    """What spec-level rules may read of the whole spec (``SpecDoc`` implements it)."""

    @property
    def defaults(self) -> Defaults: ...

    @property
    def resources(self) -> Mapping[Address, Declared]: ...


class PlanFlags(Protocol):
    """The command-line choices of a plan a kind may read (the planner's PlanOptions)."""

    @property
    def force_replace(self) -> tuple[str, ...]:
        """Addresses `--replace` names: replaced by the planner in one action (their kind's
        plan_changes is not asked), which deletes the old object itself."""


class PlanningContext(Protocol):
    """What a kind may consult while it plans: Mold's catalog and live objects, the spec,
    what state recorded, the plan's flags, and where to report. It never sees other kinds'
    drafts."""

    @property
    def catalog(self) -> Catalog: ...

    @property
    def live(self) -> LiveSnapshot: ...

    @property
    def defaults(self) -> Defaults: ...

    @property
    def declared(self) -> Mapping[Address, Declared]: ...

    @property
    def owner(self) -> str | None: ...

    @property
    def options(self) -> PlanFlags: ...

    @property
    def provenance(self) -> Mapping[str, str]:
        """Tags every template revision made by this plan carries (spec digest, git commit)."""

    def state_attrs(self, address: str) -> dict[str, Any]: ...

    def ignored(self, address: Address) -> set[str]: ...

    def warn(self, desired: Desired, field_name: str, text: str) -> None: ...

    def error_at(self, address: Address, field_name: str, text: str,
                 detail: str | None = None) -> None: ...


class KindModule(Protocol):
    @property
    def KIND(self) -> str:
        """The address prefix."""

    @property
    def SECTION(self) -> str:
        """The spec's top-level key."""

    @property
    def RESOURCE_TYPE(self) -> str:
        """createTags' resourcetype."""

    @property
    def LIST_COMMAND(self) -> str:
        """The list refresh reads (named in errors about its answers)."""

    @property
    def Spec(self) -> type[ResourceSpec]:
        """The pydantic model of one entry of the section."""

    @property
    def ATTRS(self) -> tuple[Attr, ...]:
        """The attribute table."""

    def references(self, spec: Any) -> list[tuple[str, Address]]:
        """(spec key, address) of every resource of the spec this one names."""

    def validate(self, decl: Declared, doc: SpecView, diags: Diagnostics) -> None:
        """Rules that need no Mold data (`mwin validate`)."""

    def desired(self, decl: Declared, ctx: PlanningContext,
                diags: Diagnostics) -> Desired | None:
        """The declaration resolved against Mold's catalog; None after an error."""

    def observe(self, raw: Mapping[str, Any], catalog: Catalog) -> LiveObject:
        """One Mold answer (as ``refresh`` joined it) in the spec's vocabulary."""

    def refresh(self, client: MoldApi, catalog: Catalog, focus: Focus | None = None
                ) -> list[LiveObject]:
        """Every object of the kind visible to the account, in few list calls; with a
        ``focus``, only those a plan needs (resources.focus)."""

    def plan_changes(self, desired: Desired, live: LiveObject | None,
                     ctx: PlanningContext) -> list[Draft]:
        """The drafts that make ``live`` (None: nothing yet) what ``desired`` says."""

    def holds(self, live: LiveObject) -> list[str]:
        """Mold ids the object keeps in use while it exists (deleting them waits for it)."""

    def release_steps(self, desired: Desired | None, live: LiveObject, held: str,
                      freed: str | None, planned: list[Draft], ctx: PlanningContext
                      ) -> list[Draft]:
        """Steps after ``planned`` (this object's drafts so far) that make ``live`` let go of
        ``held``, a Mold id about to be deleted; ``freed`` is the address whose object it is
        when the spec still declares it (to take its new object back). [] if it cannot."""

    def tables(self, spec: Any) -> list[str]:
        """Catalog tables beyond the usual ones that this declaration needs (e.g. pods)."""

    def execute(self, action: Action, ctx: ExecContext) -> Outcome:
        """Carry out one action of this kind."""

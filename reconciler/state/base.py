"""The State value and the backend protocol every storage implements."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FORMAT_VERSION", "ResourceState", "State", "StateBackend"]

FORMAT_VERSION = 1


class ResourceState(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str  # Mold's uuid of the object
    attributes: dict[str, Any] = Field(default_factory=dict)  # as last applied/seen, spec vocabulary


class State(BaseModel):
    """lineage names one state's history (a new file gets a new one); serial grows by one on
    every write. A saved plan is only valid for the lineage+serial it was computed against."""

    model_config = ConfigDict(frozen=True)

    format_version: int = FORMAT_VERSION
    lineage: str = Field(default_factory=lambda: str(uuid.uuid4()))
    serial: int = 0
    resources: dict[str, ResourceState] = Field(default_factory=dict)  # address -> record

    def id_of(self, address: str) -> str | None:
        record = self.resources.get(address)
        return record.id if record else None

    def with_resource(self, address: str, record: ResourceState | None) -> State:
        resources = dict(self.resources)
        if record is None:
            resources.pop(address, None)
        else:
            resources[address] = record
        return self.model_copy(update={"resources": resources})


class StateBackend(Protocol):
    def read(self) -> State: ...

    def write(self, state: State) -> State:
        """Persist ``state`` with serial + 1 and return what was written."""
        ...

    def lock(self, operation: str, timeout: float) -> None: ...

    def unlock(self) -> None: ...

    def describe(self) -> str: ...

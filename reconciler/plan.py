"""The Plan: an immutable, serialisable list of actions and what it was computed against.

The executor takes a Plan and nothing else from the user. Of an action it reads:

- ``operation`` and ``address`` (which kind module runs it);
- ``mold_id``: the object acted on (for a step after a create or replace in the same plan,
  the id state holds by then);
- ``inputs``: Mold ids and parameters, ``{"$ref": "<address>"}`` for an object another action
  of the same plan makes; each kind parses them into its typed ``Inputs`` model, where a
  misspelt key is an error;
- ``after``: the attributes the action sets (names, display texts, flags, in the spec's
  words), which the kinds turn into API parameters through their attribute tables, and which
  state records;
- ``protect``: lifecycle.protect to record with the outcome.

``before``, ``reason``, ``changed``, ``requires_replace`` and ``drift`` are for people and
renderers; the executor never branches on them.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FORMAT_VERSION", "Operation", "Action", "Plan", "Summary", "DESTRUCTIVE_OPERATIONS"]

FORMAT_VERSION = 1


class Operation(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    ADOPT = "adopt"  # record an existing Mold object (found by tag or name) in state
    FORGET = "forget"  # drop from state an object already gone from Mold
    REFRESH = "refresh"  # record in state what Mold holds now (--refresh-only), no API call
    ATTACH_ISO = "attach_iso"
    DETACH_ISO = "detach_iso"
    START = "start"
    STOP = "stop"
    CHANGE_OFFERING = "change_offering"
    CREATE_TEMPLATE = "create_template"
    CREATE_SNAPSHOT = "create_snapshot"
    DELETE_SNAPSHOT = "delete_snapshot"
    ADD_NIC = "add_nic"
    REMOVE_NIC = "remove_nic"
    SET_DEFAULT_NIC = "update_default_nic"
    COPY_TEMPLATE = "copy_template"
    DELETE_TEMPLATE_COPY = "delete_template_copy"
    UPDATE_SHARE = "update_share"
    PUBLISH = "publish"
    AWAIT_INSTALL = "await_install"  # a VM from unattended media: wait for its own power-off
    RETIRE = "retire"  # delete built media once the templates made with them exist
    RECOVER = "recover"  # bring back a VM destroyed outside mwin and not yet expunged


DESTRUCTIVE_OPERATIONS = frozenset({Operation.DELETE, Operation.REPLACE, Operation.DELETE_SNAPSHOT,
                                    Operation.DELETE_TEMPLATE_COPY, Operation.RETIRE})


class Action(BaseModel):
    model_config = ConfigDict(frozen=True)

    address: str  # "<kind>.<key>"
    operation: Operation
    reason: str  # one line for humans, e.g. "url changed: forces replacement"
    destructive: bool = False  # deletes or replaces something in Mold
    before: dict[str, Any] | None = None  # attributes as Mold holds them now (None: nothing yet)
    after: dict[str, Any] | None = None  # attributes after this action (None: gone)
    changed: list[str] = Field(default_factory=list)  # attribute names that differ
    requires_replace: list[str] = Field(default_factory=list)  # the ones forcing replacement
    depends_on: list[int] = Field(default_factory=list)  # indices into Plan.actions, all smaller
    mold_id: str | None = None  # the Mold object acted on, when it exists already
    inputs: dict[str, Any] = Field(default_factory=dict)  # executor-only parameters
    drift: bool = False  # the change undoes something done in Mold behind mwin's back
    protect: bool | None = None  # lifecycle.protect to record with the outcome (None: keep)

    @property
    def kind(self) -> str:
        return self.address.split(".", 1)[0]


class Summary(BaseModel):
    model_config = ConfigDict(frozen=True)

    add: int = 0
    change: int = 0
    destroy: int = 0
    replace: int = 0
    adopt: int = 0
    forget: int = 0
    refresh: int = 0

    @property
    def empty(self) -> bool:
        return not any(self.model_dump().values())


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True)

    format_version: int = FORMAT_VERSION
    mwin_version: str = ""
    created_at: str = ""  # ISO-8601, informative only
    state_lineage: str | None = None  # state the plan was computed against (None: no state yet)
    state_serial: int = 0
    spec_digest: str = ""  # sha256 of the loaded spec's canonical JSON
    spec_path: str = ""  # the spec as given to `mwin plan` (re-read to refuse a stale plan)
    live_digest: str = ""  # sha256 of the live objects the actions touch
    actions: list[Action] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)  # rendered diagnostics
    destroy_mode: bool = False  # computed by `mwin destroy`
    refresh_only: bool = False  # computed by `--refresh-only`: state updates only

    @property
    def summary(self) -> Summary:
        """Counts resources (addresses), as Terraform does: a replacement is one add, one
        destroy and one replace (the deletion of the object it replaced is part of it);
        "change" counts resources changed in place, whether adopted first or not."""
        ops: dict[str, set[str]] = {}
        for action in self.actions:
            cleanup = action.operation is Operation.DELETE and action.inputs.get("orphan")
            ops.setdefault(action.address, set()).add("cleanup" if cleanup else action.operation)
        counts = {"add": 0, "change": 0, "destroy": 0, "replace": 0, "adopt": 0, "forget": 0,
                  "refresh": 0}
        whole = {Operation.CREATE, Operation.CREATE_TEMPLATE, Operation.REPLACE, Operation.DELETE,
                 Operation.RETIRE}
        not_changes = whole | {Operation.ADOPT, Operation.FORGET, Operation.REFRESH, "cleanup"}
        for seen in ops.values():
            replaced = Operation.REPLACE in seen
            counts["add"] += bool(seen & {Operation.CREATE, Operation.CREATE_TEMPLATE}) or replaced
            counts["destroy"] += bool(seen & {Operation.DELETE, Operation.RETIRE, "cleanup"}) \
                or replaced
            counts["replace"] += replaced
            counts["adopt"] += Operation.ADOPT in seen
            counts["forget"] += Operation.FORGET in seen
            counts["refresh"] += Operation.REFRESH in seen
            counts["change"] += not (seen & whole) and bool(seen - not_changes)
        return Summary(**counts)

    @property
    def empty(self) -> bool:
        return not self.actions

    def to_file_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_file_json(cls, text: str) -> Plan:
        return cls.model_validate_json(text)

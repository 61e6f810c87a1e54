"""Plans saved with `mwin plan --out FILE`: written whole and owner-only, read back, and
checked against the world before `mwin apply FILE` carries one out."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler import workflow
from reconciler.errors import MwinError
from reconciler.mold.api import MoldApi
from reconciler.plan import Plan
from reconciler.state import State, StateBackend

__all__ = ["is_plan_file", "read", "read_verified", "save"]


def save(the_plan: Plan, path: Path) -> None:
    """Temp file (mode 0600) renamed over ``path``: a reader sees the old file or the new."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(the_plan.to_file_json(), encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def is_plan_file(path: Path) -> bool:
    return workflow.is_plan_file(path)


def read(path: Path) -> Plan:
    return workflow.read_plan_file(path)


def read_verified(path: Path, backend: StateBackend, client: MoldApi, *, reshaped: bool = False
                  ) -> tuple[Plan, State]:
    """The saved plan and the state it applies to, once it is sure nothing moved since it was
    made (refused with ``PlanStale`` otherwise). ``reshaped``: --target or --replace were
    given, which only a new plan can take."""
    if reshaped:
        raise MwinError("--target and --replace shape a new plan; a saved plan is applied "
                        "as it is (pass them to `mwin plan --out` instead)")
    the_plan = read(path)
    current = backend.read()
    workflow.verify_saved_plan(the_plan, current, client)
    return the_plan, current

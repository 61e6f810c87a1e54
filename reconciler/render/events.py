"""`mwin apply --json`: one JSON object per line on stdout, for CI logs.

Event types: ``plan`` (the plan about to be applied, as in `mwin plan --json`),
``action_started``, ``action_progress``, ``action_finished``, ``action_failed``,
``action_skipped``, and a final ``apply_complete`` with counts.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

from reconciler.plan import Action, Plan
from reconciler.render.json import plan_dict

__all__ = ["JsonEvents"]


class JsonEvents:
    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def emit(self, kind: str, **fields: Any) -> None:
        record = {"type": kind, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **fields}
        line = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def plan(self, the_plan: Plan) -> None:
        self.emit("plan", plan=plan_dict(the_plan))

    def _action(self, kind: str, index: int, action: Action, **fields: Any) -> None:
        self.emit(kind, index=index, address=action.address, operation=action.operation.value,
                  **fields)

    def action_started(self, index: int, action: Action) -> None:
        self._action("action_started", index, action)

    def action_progress(self, index: int, action: Action, message: str) -> None:
        self._action("action_progress", index, action, message=message)

    def action_finished(self, index: int, action: Action, seconds: float) -> None:
        self._action("action_finished", index, action, seconds=round(seconds, 3))

    def action_failed(self, index: int, action: Action, error: Exception) -> None:
        self._action("action_failed", index, action, error=str(error),
                     error_type=type(error).__name__)

    def action_skipped(self, index: int, action: Action, because: list[int]) -> None:
        self._action("action_skipped", index, action, because=because)

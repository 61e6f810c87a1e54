"""Hooks: how the executor reports what it does. It never prints; views implement this."""

from __future__ import annotations

from typing import Protocol

from reconciler.plan import Action

__all__ = ["Hook", "NullHook"]


class Hook(Protocol):
    def action_started(self, index: int, action: Action) -> None: ...

    def action_progress(self, index: int, action: Action, message: str) -> None: ...

    def action_finished(self, index: int, action: Action, seconds: float) -> None: ...

    def action_failed(self, index: int, action: Action, error: Exception) -> None: ...

    def action_skipped(self, index: int, action: Action, because: list[int]) -> None: ...


class NullHook:
    def action_started(self, index: int, action: Action) -> None:
        pass

    def action_progress(self, index: int, action: Action, message: str) -> None:
        pass

    def action_finished(self, index: int, action: Action, seconds: float) -> None:
        pass

    def action_failed(self, index: int, action: Action, error: Exception) -> None:
        pass

    def action_skipped(self, index: int, action: Action, because: list[int]) -> None:
        pass

"""SIGINT/SIGTERM during apply and destroy: start nothing new, keep finished work, exit
130/143 at once (``os._exit``: abandoned waits must not hold the process)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

import typer

from reconciler.executor import ApplyResult
from reconciler.state import StateBackend

__all__ = ["Interrupts", "exit_interrupted"]


class Interrupts:
    """While entered, SIGINT and SIGTERM set ``event`` (the apply's cancel) instead of
    raising; the previous handlers come back on exit."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        self.signum = signum
        self.event.set()

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def exit_interrupted(result: ApplyResult, interrupts: Interrupts, backend: StateBackend) -> None:
    """Report, make sure no state write is half done, release the lock, exit at once."""
    if result.recorder is not None:
        result.recorder.freeze()
    name = "SIGTERM" if interrupts.signum == signal.SIGTERM else "SIGINT"
    typer.echo(f"\nInterrupted by {name}: {len(result.finished)} action(s) done and saved in "
               f"state, {len(result.abandoned)} abandoned while in flight, "
               f"{len(result.not_started)} not started. Objects created by abandoned actions "
               "carry their address tag; the next `mwin plan` adopts them.", err=True)
    backend.unlock()
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(143 if interrupts.signum == signal.SIGTERM else 130)

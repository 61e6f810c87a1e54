"""Apply progress on a terminal: a live view (rich) with one line per action in flight, its
last message (an ISO's download %, an upload's bytes, rate and ETA, a job, the guest power-off
awaited), a bar when the message carries a percentage, and the time since it started. Lines
for finished, failed and skipped actions scroll above it, as the plain view prints them.

Not on a terminal, ``render.text.ProgressView`` prints plain lines instead. The view is a hook
(``hooks.Hook``), called from the executor's worker threads; ``close()`` (or leaving the
``with`` block) takes the live lines off the screen.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from reconciler.plan import Action

__all__ = ["LiveProgress", "percent_of"]

BAR_WIDTH = 12
BAR_FROM = 100  # terminals narrower than this show the percentage in the message only
_PERCENT = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)\s?%")


def percent_of(message: str) -> float | None:
    """The first percentage in a progress message ("48% Downloaded", "uploading x: 3 MiB of
    6 MiB (50%, …)"), or None."""
    match = _PERCENT.search(message)
    if not match:
        return None
    value = float(match.group(1))
    return value if 0 <= value <= 100 else None


@dataclass
class _Flight:
    label: str
    started: float
    message: str = "started"


class LiveProgress:
    def __init__(self, stream: TextIO, *, colour: bool, width: int | None = None) -> None:
        self.console = Console(file=stream, force_terminal=True, no_color=not colour,
                               highlight=False, width=width, soft_wrap=False)
        self._colour = colour
        self._lock = threading.Lock()
        self._flights: dict[int, _Flight] = {}
        self._spinner = Spinner("dots")
        self._live = Live(console=self.console, get_renderable=self.render, transient=True,
                          refresh_per_second=4, redirect_stdout=False, redirect_stderr=False)
        self._running = False

    # -- the view -------------------------------------------------------------------------

    def render(self) -> RenderableType:
        """One line per action in flight, in plan order: spinner, address (operation), last
        message (cut to the width left), a bar if it has a percentage (on terminals of at least
        BAR_FROM columns), time since it started."""
        with self._lock:
            flights = [flight for _index, flight in sorted(self._flights.items())]
        if not flights:
            return Text("")
        now = time.monotonic()
        shares = [percent_of(flight.message) for flight in flights]
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(width=1, no_wrap=True)
        table.add_column(no_wrap=True, min_width=max(len(f.label) for f in flights),
                         style="bold")
        table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
        bars = self.console.width >= BAR_FROM and any(share is not None for share in shares)
        if bars:
            table.add_column(width=BAR_WIDTH, no_wrap=True)
        table.add_column(no_wrap=True, justify="right", width=6, style="dim")
        for flight, share in zip(flights, shares, strict=True):
            cells: list[RenderableType] = [self._spinner, flight.label, Text(flight.message)]
            if bars:
                cells.append(ProgressBar(total=100, completed=share, width=BAR_WIDTH)
                             if share is not None else Text(""))
            cells.append(_elapsed(now - flight.started))
            table.add_row(*cells)
        return table

    # -- the hook -------------------------------------------------------------------------

    def action_started(self, index: int, action: Action) -> None:
        with self._lock:
            self._flights[index] = _Flight(_label(action), time.monotonic())
            start = not self._running
            self._running = True
        if start:
            self._live.start()

    def action_progress(self, index: int, action: Action, message: str) -> None:
        with self._lock:
            flight = self._flights.get(index)
            if flight is not None:
                flight.message = message

    def action_finished(self, index: int, action: Action, seconds: float) -> None:
        self._land(index, f"{_label(action)}: done after {seconds:.1f}s", "green")

    def action_failed(self, index: int, action: Action, error: Exception) -> None:
        self._land(index, f"{_label(action)}: FAILED: {error}", "bold red")

    def action_skipped(self, index: int, action: Action, because: list[int]) -> None:
        after = ", ".join(f"#{b + 1}" for b in because)
        self._land(index, f"{_label(action)}: skipped because {after} did not succeed",
                   "yellow")

    def _land(self, index: int, line: str, style: str) -> None:
        with self._lock:
            self._flights.pop(index, None)
        self.console.print(Text(line, style=style if self._colour else ""))

    # -- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            running, self._running = self._running, False
        if running:
            self._live.stop()

    def __enter__(self) -> LiveProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _label(action: Action) -> str:
    return f"{action.address} ({action.operation.value})"


def _elapsed(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"

"""Options of every command: --debug, --color/--no-color (and MWIN_LOG), accepted before the
command name (`mwin --debug plan`) and after it (`mwin plan --debug`).

The root callback declares them once; ``accept_everywhere`` copies them onto every command of
the finished click tree that lacks them. Their callbacks do the work, so a copy needs no
parameter in the command's function: --debug (or MWIN_LOG=debug) sends log records to stderr,
--color/--no-color records the choice that ``chosen_colour`` gives every view of this run.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
from contextvars import ContextVar
from typing import Any

from reconciler.errors import MwinError

__all__ = ["accept_everywhere", "commands_below", "choose_colour", "chosen_colour", "debug_logging",
           "log_from_environment", "GLOBAL_OPTIONS"]

GLOBAL_OPTIONS = ("debug", "color")  # parameter names of the root callback copied everywhere

# --color/--no-color of this run; None: not given. run() starts every run in a fresh context.
_COLOUR: ContextVar[bool | None] = ContextVar("mwin_colour", default=None)
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def choose_colour(value: bool | None) -> bool | None:
    """Callback of --color/--no-color, wherever it stands on the command line."""
    if value is not None:
        _COLOUR.set(value)
    return value


def chosen_colour() -> bool | None:
    return _COLOUR.get()


def debug_logging(value: bool) -> bool:
    """Callback of --debug."""
    if value:
        _log_to_stderr(logging.DEBUG)
    return value


def log_from_environment() -> None:
    """MWIN_LOG=debug|info|warning|error: the level of log records shown on stderr."""
    name = os.environ.get("MWIN_LOG", "").strip().lower()
    if not name:
        return
    if name not in _LEVELS:
        raise MwinError(f"MWIN_LOG={os.environ['MWIN_LOG']} is not a log level "
                        f"({', '.join(_LEVELS)})")
    _log_to_stderr(_LEVELS[name])


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """mwin's own handler: added once per run however often --debug is given."""


def _log_to_stderr(level: int) -> None:
    """What ``logging.basicConfig(level=..., stream=sys.stderr)`` does in a fresh process,
    also where the root logger has handlers already (mwin run inside a test process).
    httpx's own lines would repeat ours with the full URL: they stay off."""
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root.addHandler(handler)
    root.setLevel(min(level, root.level) if root.level else level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def accept_everywhere(root: Any) -> None:
    """Give every command below ``root`` (a click group) the root's global options it lacks,
    as copies that take no function parameter (their callbacks act)."""
    shared = [p for p in root.params if p.name in GLOBAL_OPTIONS]
    for command in commands_below(root):
        have = {p.name for p in command.params}
        for option in shared:
            if option.name not in have:
                added = copy.copy(option)
                added.expose_value = False
                command.params.append(added)


def commands_below(group: Any) -> list[Any]:
    """Every command and group under a click group, depth first."""
    found = []
    for command in getattr(group, "commands", {}).values():
        found.append(command)
        found += commands_below(command)
    return found

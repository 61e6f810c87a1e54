"""Crash points for chaos testing: make mwin kill itself at a named moment.

``MWIN_FAILPOINTS`` lists points as ``name[@N]`` separated by commas; the process sends itself
SIGKILL the N-th time (default the first time) it passes the point. Nothing is cleaned up, just
as when a CI runner is killed. Points (``<command>`` is a Mold API command, ``<operation>`` a
plan operation such as ``create`` or ``create_template``):

  answered:<command>       a mutation's answer has arrived, before anything else happens
                           (an async job is then still running in Mold)
  before-record:<operation>  an action has finished in Mold, before state records it
  state-write              half of the new state file's bytes are written (to the temp file)

Unset (the normal case), ``hit`` costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["hit"]

_ENV = "MWIN_FAILPOINTS"
_lock = threading.Lock()
_armed: dict[str, int] | None = None  # point → hits left before it fires


def _parse(text: str) -> dict[str, int]:
    armed: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, nth = item.partition("@")
        armed[name] = int(nth) if nth.isdigit() and int(nth) > 0 else 1
    return armed


def hit(name: str) -> None:
    """Pass the point ``name``; die here if it is armed and its turn has come."""
    global _armed  # noqa: PLW0603 - one process-wide set of crash points
    with _lock:
        if _armed is None:
            _armed = _parse(os.environ.get(_ENV, ""))
        if name not in _armed:
            return
        _armed[name] -= 1
        if _armed[name] > 0:
            return
    os.kill(os.getpid(), signal.SIGKILL)

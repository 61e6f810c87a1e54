"""The one confirmation mwin asks for: only a typed 'yes' on a terminal goes on."""

from __future__ import annotations

import sys

import typer

from reconciler.errors import MwinError

__all__ = ["ask_yes", "confirm_apply", "confirm_unlock"]


def ask_yes(question: str, *, no_terminal: str, cancelled: str) -> None:
    """Go on only after 'yes' typed on a terminal; else raise with the given words."""
    if not sys.stdin.isatty():
        raise MwinError(no_terminal)
    if typer.prompt(f"{question} Only 'yes' is accepted").strip() != "yes":
        raise MwinError(cancelled)


def confirm_apply(auto_approve: bool,
                  question: str = "Do you want to perform these actions?") -> None:
    if auto_approve:
        return
    ask_yes(f"\n{question}", no_terminal="refusing to go on without confirmation: stdin is not "
                                         "a terminal. Review the plan and pass --auto-approve, "
                                         "or apply a saved plan file.",
            cancelled="apply cancelled.")


def confirm_unlock(question: str) -> None:
    """Asked once the lock ID is checked: the question names the holder and what will be done."""
    ask_yes(question, no_terminal="refusing to clear the lock without confirmation: stdin is "
                                  "not a terminal. Make sure its holder is gone, then pass "
                                  "--force.",
            cancelled="unlock cancelled; the lock was left as it is.")

"""The one place that decides whether output is coloured, and the few styles used."""

from __future__ import annotations

import os
import sys
import unicodedata
from typing import TextIO

__all__ = ["use_colour", "style_for", "Style", "display_width", "pad"]


def use_colour(stream: TextIO | None = None, flag: bool | None = None) -> bool:
    """--color/--no-color wins; then NO_COLOR; then only a TTY whose TERM is not dumb.
    ``stream`` is where the text goes (default: ``sys.stdout`` as it is now)."""
    if flag is not None:
        return flag
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    stream = sys.stdout if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


def style_for(stream: TextIO, flag: bool | None = None) -> Style:
    """The Style of text written to ``stream``, ``flag`` being --color/--no-color (None: not
    given). Each stream decides for itself: stdout piped to a file stays plain while
    warnings and progress on a terminal's stderr are coloured."""
    return Style(use_colour(stream, flag))


class Style:
    CODES = {"green": "32", "yellow": "33", "red": "31", "bold": "1", "dim": "2", "cyan": "36"}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, *styles: str) -> str:
        if not self.enabled or not styles or not text:
            return text
        codes = ";".join(self.CODES[s] for s in styles)
        return f"\033[{codes}m{text}\033[0m"


def display_width(text: str) -> int:
    """Columns a string takes in a terminal: East Asian wide characters (Hangul) take two,
    combining marks (e.g. decomposed Hangul jamo vowels) none."""
    return sum(_char_width(ch) for ch in text)


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    if "\u1160" <= ch <= "\u11ff" or "\ud7b0" <= ch <= "\ud7ff":  # Hangul medial/final jamo
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))

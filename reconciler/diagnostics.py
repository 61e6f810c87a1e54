"""Diagnostics: problems found in a spec (or at plan time), each pointing at the YAML.

A Diagnostic names where (file:line:col and the resource address) and what
(summary, optional detail/hint). Loading and validation collect every problem
into a Diagnostics list instead of stopping at the first one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Severity", "SourcePos", "Diagnostic", "Diagnostics"]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class SourcePos:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    summary: str
    pos: SourcePos | None = None
    address: str | None = None
    detail: str | None = None

    def render(self) -> str:
        where = f"{self.pos}: " if self.pos else ""
        what = f"{self.address}: " if self.address else ""
        text = f"{where}{self.severity.value}: {what}{self.summary}"
        if self.detail:
            text += "\n    " + self.detail.replace("\n", "\n    ")
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "severity": self.severity.value,
            "summary": self.summary,
            "detail": self.detail,
            "address": self.address,
            "file": self.pos.file if self.pos else None,
            "line": self.pos.line if self.pos else None,
            "column": self.pos.col if self.pos else None,
        }


@dataclass
class Diagnostics:
    items: list[Diagnostic] = field(default_factory=list)

    def error(self, summary: str, pos: SourcePos | None = None, *, address: str | None = None,
              detail: str | None = None) -> None:
        self.items.append(Diagnostic(Severity.ERROR, summary, pos, address, detail))

    def warning(self, summary: str, pos: SourcePos | None = None, *, address: str | None = None,
                detail: str | None = None) -> None:
        self.items.append(Diagnostic(Severity.WARNING, summary, pos, address, detail))

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    def __iter__(self) -> Iterator[Diagnostic]:
        """In file:line order (``items`` keeps the order they were found in)."""
        return iter(sorted(self.items, key=_sort_key))

    def __len__(self) -> int:
        return len(self.items)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.WARNING]

    @property
    def has_errors(self) -> bool:
        return bool(self.errors)

    def __str__(self) -> str:
        ordered = sorted(self.items, key=_sort_key)
        return "\n".join(d.render() for d in ordered)


def _sort_key(d: Diagnostic) -> tuple[str, int, int]:
    if d.pos is None:
        return ("", 0, 0)
    return (d.pos.file, d.pos.line, d.pos.col)

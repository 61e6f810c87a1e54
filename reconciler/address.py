"""Addresses name a declared resource: ``<kind>.<key>``, e.g. ``vm.win2022-master``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Address", "KIND_ORDER"]

# Kinds in dependency order: a kind may only reference kinds before it.
KIND_ORDER: tuple[str, ...] = ("iso", "network", "vm", "template")


@dataclass(frozen=True, order=True)
class Address:
    kind: str
    key: str

    @classmethod
    def parse(cls, text: str) -> Address:
        kind, sep, key = text.partition(".")
        if not sep or not key or kind not in KIND_ORDER:
            kinds = ", ".join(KIND_ORDER)
            raise ValueError(f"{text!r} is not an address: expected <kind>.<key> with kind one of {kinds}")
        return cls(kind, key)

    def __str__(self) -> str:
        return f"{self.kind}.{self.key}"

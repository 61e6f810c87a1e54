"""Changes of nested attribute values (network lists, snapshot lists, the CD list, details,
tags) as per-element changes, computed with deepdiff, so renderers show "+ lab-net" and
"- prep-net" instead of two whole lists."""

from __future__ import annotations

from typing import Any

from deepdiff import DeepDiff

__all__ = ["element_changes", "is_nested"]


def is_nested(before: Any, after: Any) -> bool:
    """Both sides are lists, or both mappings, or a list against one value or none (the CD
    drives: one ISO, a list of them, or empty): shown element by element."""
    if isinstance(before, dict) and isinstance(after, dict):
        return True
    return (isinstance(before, list) or isinstance(after, list)) and all(
        isinstance(v, (list, str)) or v is None for v in (before, after))


def _as_list(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return value
    return [] if value is None else [value]


def element_changes(before: Any, after: Any) -> list[tuple[str, str]]:
    """(sign, text) per changed element: ``+``/``-`` for an added/removed list item or
    mapping key, ``~`` for a mapping value that changed. The same items in another order (a
    VM's default network moved first) are one ``~`` line of the order."""
    before, after = _as_list(before), _as_list(after)
    if isinstance(before, list) and isinstance(after, list) and before != after and \
            sorted(map(_text, before)) == sorted(map(_text, after)):
        return [("~", f"order {_text(before)} → {_text(after)}")]
    diff = DeepDiff(before, after, ignore_order=True, verbose_level=2).to_dict()
    lines: list[tuple[str, str]] = []
    for value in (diff.get("iterable_item_removed") or {}).values():
        lines.append(("-", _text(value)))
    for value in (diff.get("iterable_item_added") or {}).values():
        lines.append(("+", _text(value)))
    for path, value in (diff.get("dictionary_item_removed") or {}).items():
        lines.append(("-", f"{_key(path)} = {_text(value)}"))
    for path, value in (diff.get("dictionary_item_added") or {}).items():
        lines.append(("+", f"{_key(path)} = {_text(value)}"))
    for path, change in (diff.get("values_changed") or {}).items():
        if isinstance(before, list):  # a list item replaced by another: one out, one in
            lines += [("-", _text(change["old_value"])), ("+", _text(change["new_value"]))]
            continue
        lines.append(("~", f"{_key(path)} = {_text(change['old_value'])} → "
                           f"{_text(change['new_value'])}"))
    order = {"-": 0, "+": 1, "~": 2}
    return sorted(lines, key=lambda line: order[line[0]])


def _key(path: str) -> str:
    """``root['x']`` → ``x`` (deeper paths keep their brackets)."""
    return path.removeprefix("root['").removesuffix("']") if path.count("[") == 1 else path


def _text(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)

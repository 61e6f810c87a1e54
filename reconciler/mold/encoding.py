"""Turn Python values into Mold's flat string parameters — the one place that does it.

Mold (like CloudStack) only understands ``name=value`` strings:

- ``None`` means "not sent" and is dropped; so is an empty list (there is no way to send one);
- ``bool`` → ``"true"``/``"false"`` (Mold parses with Java ``Boolean.valueOf``);
- ``int``/``float`` → ``str()``;
- a list/tuple of scalars → one comma-joined string (``networkids``, ``ids``, ...);
- a list of mappings (or one mapping) for map parameters → ``name[i].field=value``
  (``{"tags": [{"key": "k", "value": "v"}]}`` → ``tags[0].key=k``, ``tags[0].value=v``).
  Field names keep their case (``details[0].UEFI``), which matters for signing order.

Anything else is a programming error and raises ``TypeError``/``ValueError`` naming the parameter.
Imports nothing from mwin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["encode_params"]

_Scalar = str | bool | int | float


def encode_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Flatten ``params`` into the string parameters sent to Mold (insertion order kept)."""
    out: dict[str, str] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"parameter names must be non-empty strings, got {name!r}")
        out.update(_encode_one(name, value))
    return out


def _encode_one(name: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, _Scalar):
        return {name: _scalar(name, value)}
    if isinstance(value, Mapping):
        return _map_param(name, [value])
    if isinstance(value, list | tuple):
        if not value:
            return {}
        if all(isinstance(item, Mapping) for item in value):
            return _map_param(name, value)
        return {name: _joined(name, value)}
    raise TypeError(f"parameter {name!r}: cannot send a {type(value).__name__} to Mold")


def _scalar(name: str, value: Any) -> str:
    # bool before int: bool is an int subclass.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise TypeError(f"parameter {name!r}: {type(value).__name__} is not a scalar")


def _joined(name: str, items: list[Any] | tuple[Any, ...]) -> str:
    parts = [_scalar(name, item) for item in items]
    # Mold splits on ",": an element containing one would silently become two.
    if any("," in part for part in parts):
        raise ValueError(f"parameter {name!r}: list elements must not contain ','")
    return ",".join(parts)


def _map_param(name: str, entries: list[Any] | tuple[Any, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for index, entry in enumerate(entries):
        for field, value in entry.items():
            if value is None:
                continue
            out[f"{name}[{index}].{field}"] = _scalar(f"{name}[{index}].{field}", value)
    return out

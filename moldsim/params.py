"""Parameter binding: raw request pairs → typed values, as Mold's dispatcher does it.

Rules (reference §2.2, §2.7): names are case-insensitive (the part before `[` is
lowercased; map field names keep their case); `name[i].field` must be well formed (430);
required parameters must be present and non-empty (431); booleans parse like Java
`Boolean.valueOf`; numbers must be integers; UUIDs must resolve to an entity (431); lists
are comma separated; map parameters become a list of dicts in index order.
"""

from __future__ import annotations

import re
from typing import Any

from moldsim import errors
from moldsim.registry import BOOLEAN, INTEGER, LIST, LONG, MAP, STRING, UUID, Command, Param

_MAP_RE = re.compile(r"^([^\[\]]+)\[(\d+)\]\.([^\[\]]+)$")


def _malformed(name: str) -> errors.ApiError:
    return errors.ApiError(
        errors.MALFORMED_PARAMETER,
        f"Unable to decode parameter {name}; if specifying an object array, please use "
        "parameter[index].field=XXX, e.g. userGroupList[0].group=httpGroup",
    )


def normalize(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, dict[int, dict[str, str]]]]:
    """Split raw pairs into plain params (lowercased names) and map params.

    Returns (plain, maps): plain name → first value; maps name → index → field → value.
    """
    plain: dict[str, str] = {}
    maps: dict[str, dict[int, dict[str, str]]] = {}
    for name, value in pairs:
        if "[" in name or "]" in name:
            m = _MAP_RE.match(name)
            if not m:
                raise _malformed(name)
            base, index, fieldname = m.group(1).lower(), int(m.group(2)), m.group(3)
            maps.setdefault(base, {}).setdefault(index, {}).setdefault(fieldname, value)
        else:
            plain.setdefault(name.lower(), value)
    return plain, maps


def java_bool(value: str) -> bool:
    """Java Boolean.valueOf: only "true" (any case) is true."""
    return value.strip().lower() == "true"


def _number(command: str, param: Param, value: str) -> int:
    text = value.strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise errors.param_error(
            f"Unable to execute API command {command.lower()} due to invalid value "
            f"{value} for parameter {param.name}"
        )
    return int(text)


def _check_uuid(store: Any, param: Param, value: str, command: str = "") -> str:
    value = value.strip()
    if param.entity and value != "-1":
        # entity may name several collections ("isos|templates"): any one may hold it.
        kinds = param.entity.split("|")
        if not any(value in store.coll(name) for name in kinds):
            # ParamProcessWorker.translateUuidToInternalId finds removed rows too; moldsim lets
            # list commands bind them (they then find nothing)
            removed = store.data.get("removed", {}).get(value)
            if not (command.startswith("list") and removed in kinds):
                raise errors.invalid_uuid(param.name, value)
    return value


def _convert(command: str, store: Any, param: Param, value: str) -> Any:
    if param.type == BOOLEAN:
        return java_bool(value)
    if param.type in (INTEGER, LONG):
        return _number(command, param, value)
    if param.type == UUID:
        return _check_uuid(store, param, value, command)
    if param.type == LIST:
        items = [v.strip() for v in value.split(",") if v.strip()]
        if param.entity:
            items = [_check_uuid(store, param, v, command) for v in items]
        return items
    return value


def bind(command: Command, pairs: list[tuple[str, str]], store: Any,
         profile: Any = None) -> dict[str, Any]:
    """Bind the request's parameters to the command's declared ones (undeclared are ignored,
    and so are the ones the profile's release lacks (Param.exists_in), as CloudStack ignores
    parameters it does not know)."""
    plain, maps = normalize(pairs)
    bound: dict[str, Any] = {}
    for param in command.params:
        if not param.exists_in(profile):
            continue
        if param.type == MAP:
            if param.name in maps:
                bound[param.name] = [maps[param.name][i] for i in sorted(maps[param.name])]
        elif param.name in plain and plain[param.name] == "":
            # ParamProcessWorker: a required parameter sent empty is refused; an empty STRING
            # is kept as "" (e.g. updateVirtualMachine group=""); other types ignore it
            if param.required:
                raise errors.param_error(f"Invalid value provided for API arg: {param.name}")
            if param.type == STRING:
                bound[param.name] = ""
        elif param.name in plain:
            bound[param.name] = _convert(command.name, store, param, plain[param.name])
        if param.required and param.name not in bound:
            raise errors.missing_param(command.name, param.name)
    return bound


def flat_map(entries: list[dict[str, str]] | None) -> dict[str, str]:
    """`details[i].k=v` semantics: every pair of every index flattened into one dict."""
    out: dict[str, str] = {}
    for entry in entries or []:
        out.update(entry)
    return out


def tag_pairs(entries: list[dict[str, str]] | None) -> list[tuple[str, str | None]]:
    """`tags[i].key/value` semantics: (key, value) pairs; value None when not given."""
    pairs = []
    for entry in entries or []:
        lowered = {k.lower(): v for k, v in entry.items()}
        if "key" in lowered:
            pairs.append((lowered["key"], lowered.get("value")))
    return pairs

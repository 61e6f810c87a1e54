"""Resource tags: the record shape, inline `tags` lists, and the `tags[i].key/value` filter.

A tag record (in `data["tags"]`): key, value, resourcetype (canonical spelling),
resourceid, customer (optional). Ownership fields are added by `view`.
"""

from __future__ import annotations

from typing import Any

from moldsim import errors
from moldsim.context import Ctx

# lowercase resource type → (canonical spelling, store collection holding such resources)
RESOURCE_TYPES: dict[str, tuple[str, str | None]] = {
    "uservm": ("UserVm", "vms"),
    "template": ("Template", "templates"),
    "iso": ("ISO", "isos"),
    "volume": ("Volume", "volumes"),
    "vmsnapshot": ("VMSnapshot", "vmsnapshots"),
    "network": ("Network", "networks"),
    "zone": ("Zone", "zones"),
    "snapshot": ("Snapshot", None),
    "serviceoffering": ("ServiceOffering", "serviceofferings"),
    "diskoffering": ("DiskOffering", "diskofferings"),
}


def resource_type(text: str) -> tuple[str, str | None]:
    """Canonical type and collection, or 431 for a type Mold does not know."""
    found = RESOURCE_TYPES.get(text.strip().lower())
    if found is None:
        raise errors.param_error(f"Invalid resource type {text}")
    return found


def view(ctx: Ctx, tag: dict[str, Any]) -> dict[str, Any]:
    out = {"key": tag["key"], "value": tag["value"], "resourcetype": tag["resourcetype"],
           "resourceid": tag["resourceid"], **ctx.owner(tag)}
    if tag.get("customer"):
        out["customer"] = tag["customer"]
    return out


def tags_of(ctx: Ctx, resource_id: str) -> list[dict[str, Any]]:
    """Inline `tags` of a resource (always a list, possibly empty)."""
    return [view(ctx, t) for t in ctx.tags_by_resource().get(resource_id, [])]


def matches(ctx: Ctx, resource_id: str, wanted: list[tuple[str, str | None]]) -> bool:
    """True when the resource carries every wanted key (with that value, when one is given)."""
    have = [(t["key"], t["value"]) for t in ctx.tags_by_resource().get(resource_id, [])]
    return all(any(k == key and (value is None or v == value) for k, v in have)
               for key, value in wanted)


def drop_resource(ctx: Ctx, resource_id: str) -> None:
    """Forget the tags of a deleted resource."""
    ctx.store.data["tags"] = [t for t in ctx.store.data["tags"] if t["resourceid"] != resource_id]

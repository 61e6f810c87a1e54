"""Helpers shared by the kind modules: the generic create/update/replace planning,
tagging, waiting for an image to become ready, and tolerant deletes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from reconciler.errors import ApiError, JobFailed, MoldError
from reconciler.plan import Operation
from reconciler.resources.base import (
    ADDRESS_TAG,
    Attr,
    AttrChange,
    Desired,
    Draft,
    ExecContext,
    LiveObject,
    OnChange,
    diff_attrs,
)

__all__ = ["plan_generic", "describe_changes", "tag_resource", "wait_until", "delete_job",
           "is_gone", "split_changes"]


def describe_changes(changes: list[AttrChange]) -> str:
    return ", ".join(c.attr.name for c in changes)


def split_changes(changes: list[AttrChange]) -> tuple[list[AttrChange], list[AttrChange]]:
    replace = [c for c in changes if c.attr.on_change is OnChange.REPLACE]
    rest = [c for c in changes if c.attr.on_change is not OnChange.REPLACE]
    return replace, rest


def replace_reason(replace: list[AttrChange]) -> str:
    loud = [c.attr.replace_reason for c in replace if c.attr.replace_reason]
    names = describe_changes(replace)
    base = f"{names} changed: forces replacement"
    return f"{base} ({'; '.join(loud)})" if loud else base


def plan_generic(desired: Desired, live: LiveObject | None, attrs: tuple[Attr, ...],
                 needs: list[str] | None = None) -> list[Draft]:
    """create when missing; replace when a REPLACE attribute differs; else one update."""
    needs = needs or []
    if live is None:
        return [Draft(Operation.CREATE, "declared in the spec, not in Mold", after=desired.attrs,
                      inputs=dict(desired.inputs), needs=needs)]
    changes = diff_attrs(attrs, desired.attrs, live.attrs)
    if not changes:
        return []
    replace, in_place = split_changes(changes)
    before = dict(live.attrs)
    if replace:
        return [Draft(Operation.REPLACE, replace_reason(replace), before=before,
                      after=desired.attrs, changed=[c.attr.name for c in changes],
                      requires_replace=[c.attr.name for c in replace],
                      inputs=dict(desired.inputs), needs=needs)]
    commands = sorted({c.attr.command for c in in_place if c.attr.command})
    return [Draft(Operation.UPDATE, f"{describe_changes(in_place)} changed: update in place",
                  before=before, after={**before, **{c.attr.name: c.after for c in in_place}},
                  changed=[c.attr.name for c in in_place],
                  inputs={**desired.inputs, "commands": commands}, needs=needs)]


def tag_resource(ctx: ExecContext, resource_type: str, mold_id: str, address: str) -> None:
    """Give an object its address tag. A tag job left running by an interrupted apply may
    have set it meanwhile: Mold then refuses the duplicate, which counts as done."""
    try:
        ctx.client.run_job("createTags", {
            "resourcetype": resource_type,
            "resourceids": [mold_id],
            "tags": [{"key": ADDRESS_TAG, "value": address}],
        }, timeout=ctx.job_timeout)
    except (ApiError, JobFailed):
        present = ctx.client.list_all("listTags", "tag", {
            "resourceid": mold_id, "resourcetype": resource_type, "key": ADDRESS_TAG,
            "listall": True})
        if not any(t.get("value") == address for t in present):
            raise


def wait_until(check: Callable[[], Any], *, timeout: float, what: str, ctx: ExecContext) -> Any:
    """Call ``check`` with growing intervals until it returns something truthy."""
    poll = ctx.options.get("poll")  # a PollPolicy-like object (initial, factor, max_interval)
    interval = getattr(poll, "initial", 0.5)
    factor = getattr(poll, "factor", 1.5)
    ceiling = getattr(poll, "max_interval", 10.0)
    sleep = ctx.options.get("sleep", time.sleep)
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise MoldError(f"{what}: not done within {timeout:g}s")
        sleep(min(interval, remaining))
        interval = min(interval * factor, ceiling)


def is_gone(exc: MoldError) -> bool:
    """True when Mold says the object does not exist (already deleted)."""
    text = getattr(exc, "errortext", "") or ""
    code = getattr(exc, "errorcode", None)
    markers = ("does not exist", "unable to find", "not found", "entity does not exist",
               "incorrect long value format")
    return code == 431 and any(m in text.lower() for m in markers)


def delete_job(ctx: ExecContext, command: str, params: dict[str, Any]) -> None:
    """Run a delete job; an object that is already gone counts as deleted."""
    try:
        ctx.client.run_job(command, params, timeout=ctx.job_timeout)
    except (ApiError, JobFailed) as exc:
        if not is_gone(exc):
            raise

"""List responses: common filters, paging rules (reference §2.7) and the list envelope (§2.4).

`respond(ctx, params, key, items)` validates page/pagesize, cuts the requested page and
returns `{"count": total, key: [...]}`; an empty result is `{}` (count is kept, without the
item key, when only the requested page is empty).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from moldsim import errors, tagging
from moldsim.context import Ctx
from moldsim.params import tag_pairs


def page_window(ctx: Ctx, p: dict[str, Any]) -> tuple[int, int | None]:
    """(start index, page size or None for unlimited) after Mold's checks."""
    page, size = p.get("page"), p.get("pagesize")
    limit = ctx.config.max_page_size
    if page is not None and size is None:
        raise errors.param_error('"pagesize" parameter is required when "page" is specified')
    if size is not None and size != -1 and page is None:
        raise errors.param_error('"page" parameter is required when "pagesize" is specified')
    if size is not None and size > limit:
        raise errors.param_error(f"Page size can't exceed max allowed page size value: {limit}")
    if size == -1:
        if page is not None:
            raise errors.param_error("Can't specify page parameter when pagesize is -1 (Unlimited)")
        return 0, None
    if size is None:
        return 0, limit
    return (page - 1) * size if page > 0 else 0, size


def respond(ctx: Ctx, p: dict[str, Any], key: str, items: list[Any],
            render: Callable[[Any], dict[str, Any]] | None = None) -> dict[str, Any]:
    """The list envelope body for `items` (already filtered and in order). With `render`,
    `items` are cheap keys and only the requested page is rendered into answers."""
    start, size = page_window(ctx, p)
    chosen = items[start:] if size is None else items[start:start + size]
    out: dict[str, Any] = {}
    if items:
        out["count"] = len(items)
    if chosen:
        out[key] = [render(i) for i in chosen] if render is not None else chosen
    return out


def by_keyword(p: dict[str, Any], records: Iterable[dict[str, Any]],
               fields: tuple[str, ...] = ("name",)) -> list[dict[str, Any]]:
    """`keyword`: case-insensitive substring on the given fields."""
    kw = p.get("keyword")
    if not kw:
        return list(records)
    low = str(kw).lower()
    return [r for r in records if any(low in str(r.get(f) or "").lower() for f in fields)]


def by_tags(ctx: Ctx, p: dict[str, Any], records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """`tags[i].key/value` filter."""
    wanted = tag_pairs(p.get("tags"))
    if not wanted:
        return list(records)
    return [r for r in records if tagging.matches(ctx, r["id"], wanted)]


def where(p: dict[str, Any], records: Iterable[dict[str, Any]],
          **checks: str | Callable[[Any, dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Apply equality filters: `param=field` (field equal to the param's value) or a predicate
    `param=fn(value, record)`; params not sent are ignored."""
    out = list(records)
    for param, check in checks.items():
        if param not in p:
            continue
        value = p[param]
        if callable(check):
            out = [r for r in out if check(value, r)]
        else:
            out = [r for r in out if r.get(check) == value]
    return out

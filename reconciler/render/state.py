"""What the state records, as text (`mwin show` without a plan file, as `terraform show`):
one block per address with its Mold id and the attributes last applied or seen."""

from __future__ import annotations

import json
from typing import Any

from reconciler.render.colour import Style, display_width, pad

__all__ = ["render_state"]


def render_state(resources: dict[str, Any], where: str, serial: int, style: Style) -> str:
    """``resources``: address -> record with ``id``, ``attributes``, ``protected`` (the
    state's records); ``where`` names the backend, for the empty case and the heading."""
    if not resources:
        return f"The state is empty ({where}): mwin manages nothing there yet."
    out = [style(f"# state {where}, serial {serial}: {len(resources)} resource(s)", "dim"), ""]
    for address, record in sorted(resources.items()):
        protected = style("  (protected)", "yellow") if record.protected else ""
        out.append(style(f"# {address}:", "bold") + protected)
        shown = {"id": record.id, **{k: v for k, v in record.attributes.items()
                                     if v is not None}}
        width = max(display_width(k) for k in shown)
        out += [f"    {pad(key, width)} = {json.dumps(value, ensure_ascii=False)}"
                for key, value in shown.items()]
        out.append("")
    return "\n".join(out).rstrip("\n")

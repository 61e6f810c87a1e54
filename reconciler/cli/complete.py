"""Shell completion of addresses (``--target``, ``--replace``, ``state show|rm|mv``): the
addresses in the state the command line names so far (``--state``, ``--backend``,
``--workspace``, else the defaults). Completion never fails loudly: a state that cannot be
read completes nothing."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["addresses"]


def addresses(ctx: typer.Context, incomplete: str) -> list[str]:
    from reconciler.cli.options import DEFAULT_STATE  # options imports this module
    from reconciler.state import open_backend

    params = ctx.params
    try:
        backend = open_backend(Path(params.get("state") or DEFAULT_STATE),
                               params.get("backend_url"), params.get("workspace"))
        found = sorted(backend.read().resources)
    except Exception:  # a shell completion must never print a traceback
        return []
    return [address for address in found if address.startswith(incomplete)]

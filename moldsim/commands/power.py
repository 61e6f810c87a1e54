"""A guest that powers itself off (sysprep /generalize /oobe /shutdown).

`guest_poweroff` (the control endpoint POST /moldsim/guest-poweroff) marks the VM: it keeps
showing Running until `guest_poweroff_detect_seconds` have passed, then Mold "notices" and
reports Stopped. A stopVirtualMachine meanwhile finishes as usual (immediately Stopped).
"""

from __future__ import annotations

from typing import Any

from moldsim import jobs
from moldsim.context import Ctx


def guest_poweroff(ctx: Ctx, vm: dict[str, Any]) -> dict[str, Any]:
    vm["poweroff_at"] = ctx.now + float(ctx.config.guest_poweroff_detect_seconds)
    _detect(ctx)
    return {"id": vm["id"], "state": vm["state"], "stopped_at": vm["poweroff_at"]}


def _detect(ctx: Ctx) -> bool:
    """Ticker: VMs whose guest powered off long enough ago become Stopped."""
    changed = False
    for vm in ctx.coll("vms").values():
        due = vm.get("poweroff_at")
        if due is not None and vm["state"] == "Running" and due <= ctx.now:
            vm.update(state="Stopped", poweroff_at=None)
            changed = True
    return changed


jobs.TICKERS.append(_detect)

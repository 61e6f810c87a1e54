"""How a VM action becomes Mold API calls.

Deploys are tagged with the address as soon as Mold returns the new VM's id,
before the deploy job is awaited, so an interrupted apply leaves a VM the next
plan adopts instead of deploying a duplicate. Stops wait for the guest to power
itself off first (sysprep ends with a shutdown that Mold may notice minutes
later); a template must not be made from a VM that was stopped from outside
unless the operator forces it.
"""

from __future__ import annotations

import time
from typing import Any

from reconciler.errors import MwinError
from reconciler.plan import Action, Operation
from reconciler.resources.base import ExecContext, Outcome
from reconciler.resources.common import delete_job, tag_resource

RESOURCE_TYPE = "UserVm"


def execute(action: Action, ctx: ExecContext) -> Outcome:
    runner = _RUNNERS.get(action.operation)
    if runner is None:  # pragma: no cover - the planner never emits it
        raise ValueError(f"vm cannot {action.operation}")
    mold_id = runner(action, ctx)
    if action.operation is Operation.DELETE:
        return Outcome(removed=True)
    return Outcome(mold_id or action.mold_id, action.after)


def _deploy(action: Action, ctx: ExecContext) -> str:
    inputs = action.inputs
    params = {key: inputs.get(key) for key in (
        "zoneid", "templateid", "hypervisor", "serviceofferingid", "diskofferingid", "size",
        "networkids", "name", "displayname", "group", "keyboard", "boottype", "bootmode",
        "tpmversion", "details", "podid", "clusterid", "hostid", "keypair", "startvm")}
    response = ctx.client.call("deployVirtualMachine", params)
    vm_id = str(response["id"])
    ctx.progress(f"deploying VM {vm_id}")
    tag_resource(ctx, RESOURCE_TYPE, vm_id, action.address)
    ctx.client.wait_job("deployVirtualMachine", str(response["jobid"]), timeout=ctx.job_timeout,
                        on_progress=_job_progress(ctx, "deploy"))
    return vm_id


def _replace(action: Action, ctx: ExecContext) -> str:
    _destroy(action, ctx)
    return _deploy(action, ctx)


def _destroy(action: Action, ctx: ExecContext) -> None:
    delete_job(ctx, "destroyVirtualMachine", {"id": action.mold_id, "expunge": True})


def _job(command: str, params: dict[str, Any]) -> Any:
    def run(action: Action, ctx: ExecContext) -> None:
        values = {k: (action.mold_id if v == "$id" else action.inputs.get(v, v))
                  for k, v in params.items()}
        ctx.client.run_job(command, values, timeout=ctx.job_timeout,
                           on_progress=_job_progress(ctx, command))
    return run


def _update(action: Action, ctx: ExecContext) -> None:
    after = action.after or {}
    ctx.client.call("updateVirtualMachine", {
        "id": action.mold_id, "displayname": after.get("display_name"),
        "group": after.get("group") or "", "name": after.get("name"),
    })


def _change_offering(action: Action, ctx: ExecContext) -> None:
    ctx.client.call("changeServiceForVirtualMachine", {
        "id": action.mold_id, "serviceofferingid": action.inputs["serviceofferingid"]})


def _stop(action: Action, ctx: ExecContext) -> None:
    wait = float(ctx.options.get("wait_for_guest_shutdown", 0.0))
    force = bool(ctx.options.get("force_stop", False))
    if wait > 0 and _wait_guest_poweroff(action, ctx, wait):
        return
    if action.inputs.get("for_template") and not force:
        raise MwinError(
            f"{action.address} did not power off by itself within {wait:g}s, so its disk may "
            "not be generalized. Run `sysprep /generalize /oobe /shutdown` in the guest and "
            "apply again (raise --wait-for-guest-shutdown if Mold is slow to notice), or pass "
            "--force-stop to stop it and make the template anyway.")
    ctx.client.run_job("stopVirtualMachine", {"id": action.mold_id, "forced": force or None},
                       timeout=ctx.job_timeout, on_progress=_job_progress(ctx, "stop"))


def _wait_guest_poweroff(action: Action, ctx: ExecContext, wait: float) -> bool:
    """True once Mold reports the VM Stopped (the guest shut itself down) within ``wait``."""
    sleep = ctx.options.get("sleep", time.sleep)
    poll = ctx.options.get("poll")
    interval = min(getattr(poll, "initial", 1.0) or 1.0, wait)
    deadline = time.monotonic() + wait
    ctx.progress(f"waiting up to {wait:g}s for the guest to power off (sysprep /shutdown)")
    while True:
        rows = ctx.client.list_all("listVirtualMachines", "virtualmachine", {"id": action.mold_id})
        if rows and str(rows[0].get("state")) == "Stopped":
            ctx.progress("the guest powered off by itself")
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sleep(min(interval, left))
        interval = min(interval * 1.5, 10.0)


def _create_snapshot(action: Action, ctx: ExecContext) -> None:
    ctx.client.run_job("createVMSnapshot", {
        "virtualmachineid": action.mold_id, "name": action.inputs["name"],
        "description": f"managed by mwin ({action.address})"}, timeout=ctx.job_timeout,
        on_progress=_job_progress(ctx, "snapshot"))


def _job_progress(ctx: ExecContext, what: str) -> Any:
    started = time.monotonic()
    last = [-10.0]

    def report(job: dict[str, Any]) -> None:
        elapsed = time.monotonic() - started
        if elapsed - last[0] >= 5.0:
            last[0] = elapsed
            ctx.progress(f"{what} job {job.get('jobid', '')} still running")
    return report


_RUNNERS: dict[Operation, Any] = {
    Operation.CREATE: _deploy,
    Operation.REPLACE: _replace,
    Operation.DELETE: _destroy,
    Operation.UPDATE: _update,
    Operation.CHANGE_OFFERING: _change_offering,
    Operation.ATTACH_ISO: _job("attachIso", {"id": "isoid", "virtualmachineid": "$id"}),
    Operation.DETACH_ISO: _job("detachIso", {"virtualmachineid": "$id"}),
    Operation.START: _job("startVirtualMachine", {"id": "$id"}),
    Operation.STOP: _stop,
    Operation.CREATE_SNAPSHOT: _create_snapshot,
    Operation.DELETE_SNAPSHOT: _job("deleteVMSnapshot", {"vmsnapshotid": "snapshot_id"}),
}

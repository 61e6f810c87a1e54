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
from collections.abc import Callable
from typing import Any

from pydantic import Field

from reconciler.errors import ApiError, JobFailed, MoldError, MwinError
from reconciler.model import Outcome
from reconciler.mold.poll import Deadline, PollPolicy, poll_until
from reconciler.plan import Action, Operation
from reconciler.resources.base import ActionInputs, ExecContext
from reconciler.resources.common import (
    RESEND,
    Check,
    Held,
    delete_job,
    named,
    pending_jobid,
    row_state,
    send,
    send_job,
    tag_resource,
    wait_until,
)
from reconciler.resources.vm.install import await_install, press_boot_key

RESOURCE_TYPE = "UserVm"


class Inputs(ActionInputs):
    """A VM action's inputs: the deploy parameters (a create or replace), or a step's."""

    name: str | None = None  # the hostname; for create_snapshot the snapshot's display name
    displayname: str | None = None
    zoneid: str | None = None
    podid: str | None = None
    clusterid: str | None = None
    hostid: str | None = None
    templateid: str | None = None  # the ISO or template deployed from
    source_kind: str | None = None  # "iso" or "template"
    hypervisor: str | None = None
    serviceofferingid: str | None = None
    diskofferingid: str | None = None
    size: int | None = None
    networkids: list[str] = Field(default_factory=list)
    boottype: str | None = None
    bootmode: str | None = None
    tpmversion: str | None = None
    group: str | None = None
    keyboard: str | None = None
    keypair: str | None = None
    details: list[dict[str, str]] | None = None
    startvm: bool = True
    additionalisoids: list[str] | None = None  # deploy: the ISO for the second CD drive
    isoid: str | None = None  # attach_iso / detach_iso: the ISO inserted or ejected
    networkid: str | None = None  # NIC steps
    snapshot_id: str | None = None  # delete_snapshot
    for_template: bool = False  # stop: a template is made from the disk next
    fresh: bool = False  # stop: of a VM this plan deploys (nothing in it to shut down first)
    boot_keypress: bool = False  # deploy: press a key at the UEFI installer's prompt


DEPLOY_PARAMS = {"zoneid", "templateid", "hypervisor", "serviceofferingid", "diskofferingid",
                 "size", "networkids", "name", "displayname", "group", "keyboard", "boottype",
                 "bootmode", "tpmversion", "details", "podid", "clusterid", "hostid",
                 "keypair", "startvm", "additionalisoids"}
Row = dict[str, Any] | None
Runner = Callable[[Action, "Inputs", ExecContext], "str | None"]


def execute(action: Action, ctx: ExecContext) -> Outcome:
    runner = _RUNNERS.get(action.operation)
    if runner is None:  # pragma: no cover - the planner never emits it
        raise ValueError(f"vm cannot {action.operation}")
    mold_id = runner(action, Inputs.model_validate(action.inputs), ctx)
    if action.operation is Operation.DELETE:
        return Outcome(removed=True)
    return Outcome(mold_id or action.mold_id, action.after)


def _deploy(action: Action, inputs: Inputs, ctx: ExecContext) -> str:
    params = inputs.model_dump(include=DEPLOY_PARAMS)
    lookup = {"zoneid": inputs.zoneid, "name": inputs.name, "listall": True}
    response = send(ctx, "deployVirtualMachine", params,
                    named(ctx, "listVirtualMachines", "virtualmachine", lookup,
                          str(inputs.name), action.address))
    vm_id = str(response["id"])
    ctx.record(Outcome(vm_id, action.after))  # before tags and job: a failure leaves a VM
    ctx.progress(f"deploying VM {vm_id}")
    tag_resource(ctx, RESOURCE_TYPE, vm_id, action.address)
    if response.get("jobid"):
        ctx.client.wait_job("deployVirtualMachine", str(response["jobid"]),
                            timeout=ctx.waits.job_timeout,
                            on_progress=_job_progress(ctx, "deploy"), resource_id=vm_id)
    if inputs.boot_keypress:
        press_boot_key(vm_id, ctx)
    return vm_id


def _replace(action: Action, inputs: Inputs, ctx: ExecContext) -> str:
    _destroy(action, inputs, ctx)
    return _deploy(action, inputs, ctx)


EXPUNGE_REFUSED = ("permission for expunging", "expunge can be passed by admin only")


def _destroy(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    """Destroy and expunge. An account that may not expunge (UserVmManagerImpl: not an admin
    without ``allow.user.expunge.recover.vm``, or a role without expungeVirtualMachine) gets
    a failed job and the VM untouched; it is then destroyed without expunge, after freeing
    what a destroyed VM keeps until Mold expunges it (expunge.delay): its ISO (deleteIso is
    refused while it is in the drive) and its hostname (a new VM of that name in that
    network is refused)."""
    try:
        delete_job(ctx, "destroyVirtualMachine", {"id": action.mold_id, "expunge": True},
                   _vm_check(action, ctx, lambda row: row is None))
        return
    except JobFailed as exc:
        if not any(text in (exc.errortext or "").lower() for text in EXPUNGE_REFUSED):
            raise
    ctx.progress("Mold does not let this account expunge VMs (allow.user.expunge.recover.vm, "
                 "or the role's expungeVirtualMachine): destroying it without expunge; Mold "
                 "expunges it after expunge.delay")
    _free_before_destroy(action, inputs, ctx)
    delete_job(ctx, "destroyVirtualMachine", {"id": action.mold_id, "expunge": False},
               _vm_check(action, ctx, lambda row: row is None or row.get("state") in
                         ("Destroyed", "Expunging")))


def _recover(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    """recoverVirtualMachine (synchronous): the VM is Stopped again, with its disk. An account
    that is not an admin needs allow.user.expunge.recover.vm (Mold's refusal names it)."""
    send(ctx, "recoverVirtualMachine", {"id": action.mold_id},
         _vm_check(action, ctx, lambda row: row is not None and row.get("state") != "Destroyed"))


def _free_before_destroy(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    row = _vm_row(action, ctx)
    if row.get("state") == "Error":  # Mold detaches, stops and renames no VM in Error
        raise MwinError(f"{action.address} ({action.mold_id}) is in state Error, and this "
                        "account may not expunge VMs: destroyed without expunge it would keep "
                        "its hostname (a new VM of that name is refused) until expunge.delay, "
                        "and Mold cannot rename a VM in Error to free it. Ask an admin to "
                        "expunge it, or to set allow.user.expunge.recover.vm for the account, "
                        "then apply again")
    for iso_id in sorted(_loaded(row)):
        _detach(action, inputs.model_copy(update={"isoid": iso_id}), ctx)
    if row.get("state") != "Stopped":
        send_job(ctx, "stopVirtualMachine", {"id": action.mold_id, "forced": True},
                 _vm_check(action, ctx, lambda r: _in_state(r, "Stopped")))
    spare = f"{str(row.get('name'))[:40]}-destroyed-{str(action.mold_id)[:8]}"
    send(ctx, "updateVirtualMachine", {"id": action.mold_id, "name": spare}, RESEND)
    ctx.progress(f"renamed to {spare} so that its hostname is free for a new VM")


def _vm_check(action: Action, ctx: ExecContext, done: Any) -> Check:
    """Whether a VM change whose answer was lost happened: ``done(row)`` on the VM now."""
    return row_state(ctx, "listVirtualMachines", "virtualmachine",
                     {"id": action.mold_id, "listall": True}, done)


def _job(command: str, params: dict[str, str], done: Callable[[Inputs, Row], bool],
         confirm: bool = False) -> Runner:
    """A runner for a VM job; ``params`` maps API parameters to fields of the inputs ("$id":
    the VM); ``done(inputs, row)`` tells whether it happened (lost answer).
    With ``confirm`` the VM is read back after the job: Mold issue #1124 saw two attachIso
    jobs on one VM both succeed while one ISO was lost, so success alone is not trusted."""
    def run(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
        values = {k: (action.mold_id if v == "$id" else getattr(inputs, v))
                  for k, v in params.items()}
        send_job(ctx, command, values, _vm_check(action, ctx, lambda row: done(inputs, row)),
                 on_progress=_job_progress(ctx, command))
        if confirm and not done(inputs, _vm_row(action, ctx)):
            row = _vm_row(action, ctx)
            held = ", ".join(sorted(_loaded(row))) or "nothing"
            raise MwinError(f"{command} on {action.address} reported success, but the drives "
                            f"hold {held}; "
                            "another ISO job on this VM may have overlapped (Mold issue #1124). "
                            "Run `mwin plan` to see the drive as it is")
    return run


def _snapshot_gone(inputs: Inputs, ctx: ExecContext) -> Check:
    return row_state(ctx, "listVMSnapshot", "vmSnapshot",
                     {"vmsnapshotid": inputs.snapshot_id, "listall": True},
                     lambda row: row is None)


def _delete_snapshot(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    delete_job(ctx, "deleteVMSnapshot", {"vmsnapshotid": inputs.snapshot_id},
               _snapshot_gone(inputs, ctx))


def _update(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    """``group`` is sent only when the spec sets one: Mold takes an empty string as a group
    named "" (UserVmManagerImpl.addInstanceToGroup) and has no way to leave a group."""
    after = action.after or {}
    send(ctx, "updateVirtualMachine", {
        "id": action.mold_id, "displayname": after.get("display_name"),
        "group": after.get("group") or None, "name": after.get("name"),
    }, RESEND)


def _change_offering(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    send(ctx, "changeServiceForVirtualMachine", {
        "id": action.mold_id, "serviceofferingid": inputs.serviceofferingid}, RESEND)


def _stop(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    wait = 0.0 if inputs.fresh else ctx.waits.guest_shutdown
    force = ctx.force_stop
    if wait > 0 and _wait_guest_poweroff(action, ctx, wait):
        return
    if inputs.for_template and not force and inputs.fresh:
        raise MwinError(
            f"{action.address} was deployed by this apply, so nothing is installed or "
            "generalized on its disk yet. Install Windows and run `sysprep /generalize /oobe "
            "/shutdown` in the guest, then apply again; or pass --force-stop to stop it and "
            "make the template anyway.")
    if inputs.for_template and not force:
        raise MwinError(
            f"{action.address} did not power off by itself within {wait:g}s, so its disk may "
            "not be generalized. Run `sysprep /generalize /oobe /shutdown` in the guest and "
            "apply again (raise --wait-for-guest-shutdown if Mold is slow to notice), or pass "
            "--force-stop to stop it and make the template anyway.")
    send_job(ctx, "stopVirtualMachine", {"id": action.mold_id, "forced": force or None},
             _vm_check(action, ctx, lambda row: _in_state(row, "Stopped")),
             on_progress=_job_progress(ctx, "stop"))


def _loaded(row: Row) -> set[str]:
    """Ids of the ISOs in the VM's drives (``isos`` where Mold has several, else isoid)."""
    if row is None:
        return set()
    if isinstance(row.get("isos"), list):
        return {str(i.get("id")) for i in row["isos"]}
    return {str(row["isoid"])} if row.get("isoid") else set()


def _drive_holds(inputs: Inputs, row: Row) -> bool:
    return row is not None and inputs.isoid in _loaded(row)


def _drive_empty(inputs: Inputs, row: Row) -> bool:
    """The ISO the step ejects is out (any ISO, when the step names none)."""
    return row is not None and (inputs.isoid not in _loaded(row) if inputs.isoid
                                else not _loaded(row))


_ATTACH = _job("attachIso", {"id": "isoid", "virtualmachineid": "$id"}, _drive_holds,
              confirm=True)


def _attach(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    """attachIso into the lowest free drive. How many drives a VM has is the cluster setting
    vm.iso.max.count (and the host's capability), which an account that is not an admin
    cannot read: a refusal here may be how that limit shows, so the error names it."""
    try:
        _ATTACH(action, inputs, ctx)
    except JobFailed as exc:
        drives = len(_loaded(_vm_row(action, ctx)))
        if drives:
            raise MwinError(f"{exc} — the VM holds {drives} ISO(s) already; Mold gives a VM "
                            "as many CD drives as the cluster setting vm.iso.max.count (and "
                            "the host) allow, a setting only admins can read: eject one first "
                            "(list fewer ISOs in `cdrom`), or ask an admin to raise it") from None
        raise


def _detach(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    """detachIso; with several drives (the VM answer lists ``isos``) by the ISO's ``id``, as
    Mold requires once two are attached, so the other drive keeps its ISO."""
    params = {"virtualmachineid": "$id"}
    if isinstance(_vm_row(action, ctx).get("isos"), list) and inputs.isoid:
        params["id"] = "isoid"
    _job("detachIso", params, _drive_empty, confirm=True)(action, inputs, ctx)


def _in_state(row: dict[str, Any] | None, state: str) -> bool:
    return row is not None and str(row.get("state")) == state


def _wait_guest_poweroff(action: Action, ctx: ExecContext, wait: float) -> bool:
    """True once Mold reports the VM Stopped (the guest shut itself down) within ``wait``."""
    ctx.progress(f"waiting up to {wait:g}s for the guest to power off (sysprep /shutdown)")

    def stopped() -> bool | None:
        rows = ctx.client.list_all("listVirtualMachines", "virtualmachine", {"id": action.mold_id})
        return True if rows and str(rows[0].get("state")) == "Stopped" else None

    first = min(ctx.waits.poll.initial or 1.0, wait)
    policy = PollPolicy(initial=first, max_interval=max(ctx.waits.poll.max_interval, first))
    try:
        poll_until(stopped, timeout=wait, what="guest power-off", policy=policy,
                   clock=ctx.waits.clock)
    except Deadline:
        return False
    ctx.progress("the guest powered off by itself")
    return True


def _nic_in(row: dict[str, Any] | None, network_id: Any) -> dict[str, Any] | None:
    return next((n for n in (row or {}).get("nic") or [] if n.get("networkid") == network_id),
                None)


def _vm_row(action: Action, ctx: ExecContext) -> dict[str, Any]:
    rows = ctx.client.list_all("listVirtualMachines", "virtualmachine",
                               {"id": action.mold_id, "listall": True})
    if not rows:
        raise MwinError(f"{action.address} ({action.mold_id}) is no longer in Mold")
    return dict(rows[0])


def _nic_of(action: Action, inputs: Inputs, ctx: ExecContext) -> str:
    """The id of the VM's NIC in the action's network (known only at apply time for a NIC
    added earlier in the same apply)."""
    network_id = inputs.networkid
    nic = _nic_in(_vm_row(action, ctx), network_id)
    if nic is None:
        raise MwinError(f"{action.address} has no NIC in network {network_id}")
    return str(nic["id"])


def _add_nic(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    network_id = inputs.networkid
    if _nic_in(_vm_row(action, ctx), network_id) is not None:
        return  # already there (an earlier apply that stopped before the rest of its moves)
    send_job(ctx, "addNicToVirtualMachine",
             {"virtualmachineid": action.mold_id, "networkid": network_id},
             _vm_check(action, ctx, lambda row: _nic_in(row, network_id) is not None),
             on_progress=_job_progress(ctx, "add NIC"))


def _set_default_nic(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    network_id = inputs.networkid
    send_job(ctx, "updateDefaultNicForVirtualMachine",
             {"virtualmachineid": action.mold_id, "nicid": _nic_of(action, inputs, ctx)},
             _vm_check(action, ctx, lambda row: bool((_nic_in(row, network_id) or {})
                                                     .get("isdefault"))),
             on_progress=_job_progress(ctx, "default NIC"))


def _remove_nic(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    network_id = inputs.networkid
    if _nic_in(_vm_row(action, ctx), network_id) is None:
        return  # already gone (a lost answer of an earlier try)
    send_job(ctx, "removeNicFromVirtualMachine",
             {"virtualmachineid": action.mold_id, "nicid": _nic_of(action, inputs, ctx)},
             _vm_check(action, ctx, lambda row: _nic_in(row, network_id) is None),
             on_progress=_job_progress(ctx, "remove NIC"))


def _create_snapshot(action: Action, inputs: Inputs, ctx: ExecContext) -> None:
    """``name`` is Mold's display name (CreateVMSnapshotCmd); a lost answer is looked for by
    display name (``listVMSnapshot name=`` matches display names only)."""
    name = inputs.name

    def taken() -> Held:
        rows = ctx.client.list_all("listVMSnapshot", "vmSnapshot", {
            "virtualmachineid": action.mold_id, "name": name, "listall": True})
        rows = [r for r in rows if r.get("displayname", r.get("name")) == name
                and r.get("state") != "Error"]
        return Held(bool(rows), str(rows[0]["id"]) if rows else None,
                    pending_jobid(rows[0]) if rows else None)

    ctx.record(Outcome(action.mold_id, action.after))  # a job that outlives the apply is known
    try:
        done = send_job(ctx, "createVMSnapshot", {
            "virtualmachineid": action.mold_id, "name": name,
            "description": f"managed by mwin ({action.address})"}, taken,
            on_progress=_job_progress(ctx, "snapshot"))
    except ApiError:  # refused before any job (vmsnapshot.max, …): there is no snapshot
        ctx.record(Outcome(action.mold_id, action.before))
        raise
    except JobFailed as exc:
        if "freeze" in (exc.errortext or "").lower():
            raise MwinError(f"{exc} — Mold froze the running guest through qemu-guest-agent "
                            "for a disk snapshot and could not (no agent in the guest?). "
                            "Install the guest tools, or declare the VM stopped so the "
                            "snapshot is taken of a stopped VM; the failed snapshot is left in "
                            "Error and the next apply deletes it") from None
        raise
    if done.get("_found") and done.get("_id"):  # found after a lost answer, no job to follow
        _await_snapshot(ctx, str(done["_id"]), str(name))


def _await_snapshot(ctx: ExecContext, snapshot_id: str, name: str) -> None:
    """Until a VM snapshot is Ready (``--job-timeout``): Mold lists no job on a VM snapshot,
    so one found after a lost answer is followed by its state."""
    def ready() -> bool | None:
        rows = ctx.client.list_all("listVMSnapshot", "vmSnapshot",
                                   {"vmsnapshotid": snapshot_id, "listall": True})
        state = str(rows[0].get("state")) if rows else "gone"
        if state in ("Error", "gone"):
            raise MoldError(f"VM snapshot {name!r} ({snapshot_id}) is {state} in Mold; the next "
                            "`mwin plan` shows what to do about it")
        return True if state == "Ready" else None

    ctx.progress(f"VM snapshot {name!r} is being taken: waiting for it to be Ready")
    wait_until(ready, timeout=ctx.waits.job_timeout, what=f"VM snapshot {name!r} to be Ready",
               ctx=ctx)


def _job_progress(ctx: ExecContext, what: str) -> Any:
    started = time.monotonic()
    last = [-10.0]

    def report(job: dict[str, Any]) -> None:
        elapsed = time.monotonic() - started
        if elapsed - last[0] >= 5.0:
            last[0] = elapsed
            ctx.progress(f"{what} job {job.get('jobid', '')} still running")
    return report


_RUNNERS: dict[Operation, Runner] = {
    Operation.AWAIT_INSTALL: await_install,
    Operation.CREATE: _deploy,
    Operation.REPLACE: _replace,
    Operation.DELETE: _destroy,
    Operation.UPDATE: _update,
    Operation.CHANGE_OFFERING: _change_offering,
    Operation.ATTACH_ISO: _attach,
    Operation.DETACH_ISO: _detach,
    Operation.START: _job("startVirtualMachine", {"id": "$id"},
                          lambda inputs, row: _in_state(row, "Running")),
    Operation.STOP: _stop,
    Operation.CREATE_SNAPSHOT: _create_snapshot,
    Operation.DELETE_SNAPSHOT: _delete_snapshot,
    Operation.ADD_NIC: _add_nic,
    Operation.SET_DEFAULT_NIC: _set_default_nic,
    Operation.REMOVE_NIC: _remove_nic,
    Operation.RECOVER: _recover,
}

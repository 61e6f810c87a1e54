"""A VM installed from unattended media (docs/unattended.md): the key pressed at the UEFI
installer's prompt, and the wait for the guest's own power-off at the end of Setup.

The wait never stops the VM: Setup (and sysprep /shutdown after it) ends by powering the
guest off, and Mold notices. At the deadline the failure names the VM, its console (the URL
createConsoleEndpoint gives, where Mold offers it, else the way through the UI) and what to
look for there; the VM is left as it is.
"""

from __future__ import annotations

from typing import Any

from reconciler.errors import MoldError, MwinError
from reconciler.mold.console import ConsoleEndpoint, parse_endpoint, press_key
from reconciler.mold.poll import Deadline, poll_until
from reconciler.plan import Action
from reconciler.resources.base import ExecContext

__all__ = ["press_boot_key", "await_install", "BOOT_KEY_PRESSES"]

BOOT_KEY_PRESSES = 3  # the prompt lasts seconds; the firmware's start takes some too
GONE = ("Error", "Destroyed", "Expunging")


def _endpoint(vm_id: str, ctx: ExecContext) -> ConsoleEndpoint:
    return parse_endpoint(ctx.client.call("createConsoleEndpoint", {"virtualmachineid": vm_id}))


def press_boot_key(vm_id: str, ctx: ExecContext) -> None:
    """Press the space bar through the console as the VM first boots, so that the UEFI
    image's "Press any key to boot from CD or DVD" boots the installer. Failing here fails
    nothing: the wait for the install says where to look if Setup never starts."""
    try:
        endpoint = _endpoint(vm_id, ctx)
        press_key(endpoint, presses=BOOT_KEY_PRESSES, interval=ctx.waits.boot_key_interval,
                  tls=getattr(ctx.client, "tls_verify", True), sleep=ctx.waits.clock.sleep)
    except MoldError as exc:
        ctx.progress(f"could not press a key at the installer's prompt through the console "
                     f"({exc}); if Setup does not start, press one in the VM's console")
        return
    ctx.progress(f"pressed a key at the UEFI installer's prompt through the console "
                 f"({endpoint.host}:{endpoint.port})")


def _took(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.3g}s"  # a deadline set in milliseconds reads as it was set
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes = int(seconds // 60)
    return f"{minutes}m" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


def await_install(action: Action, inputs: Any, ctx: ExecContext) -> None:
    """Until Mold reports the VM Stopped (the guest powered itself off), at most
    ``install_timeout``; a progress line every minute."""
    timeout = ctx.waits.install_timeout
    started = ctx.waits.clock.now()
    shown = [-1]

    def stopped() -> bool | None:
        rows = ctx.client.list_all("listVirtualMachines", "virtualmachine",
                                   {"id": action.mold_id, "listall": True})
        state = str(rows[0].get("state")) if rows else "gone"
        if state == "Stopped":
            return True
        if state in GONE or not rows:
            raise MwinError(f"{action.address} is {state.lower()} in Mold while Windows Setup "
                            "should be running; see Mold's events for the VM")
        elapsed = ctx.waits.clock.now() - started
        if int(elapsed // 60) != shown[0]:
            shown[0] = int(elapsed // 60)
            ctx.progress(f"installing: VM {state.lower()} {_took(elapsed)} (waiting for the "
                         f"guest to power itself off; at most {_took(timeout)})")
        return None

    ctx.progress("Windows Setup runs from the unattended media; mwin waits for the guest's "
                 "own power-off and never stops it")
    try:
        poll_until(stopped, timeout=timeout, what=f"{action.address} install",
                   policy=ctx.waits.poll, clock=ctx.waits.clock)
    except Deadline:
        raise MwinError(_never_off(action, ctx, timeout)) from None
    ctx.progress(f"the guest powered itself off after {_took(ctx.waits.clock.now() - started)}")


def _never_off(action: Action, ctx: ExecContext, timeout: float) -> str:
    name = (action.after or {}).get("name") or action.address
    try:
        console = f"its console: {_endpoint(str(action.mold_id), ctx).url}"
    except MoldError:
        console = (f"its console: Mold's UI → Compute → Instances → {name} → View console "
                   "(createConsoleEndpoint gave no URL)")
    return (f"{action.address} (VM {name}, {action.mold_id}) did not power itself off within "
            f"{_took(timeout)}: Windows Setup has not finished. Open {console}. Look for: "
            "\"Press any key to boot from CD or DVD\" (UEFI: no key arrived; press one, or "
            "build the media with `first_boot: disk_first`), Windows Setup showing an error "
            "(the image the answer file names, the disk, or no storage driver for the disk's "
            "bus), or Setup starting over at every reboot (the CD boots before the disk). The "
            "VM is left running; if Setup is only slow, raise --install-timeout and apply "
            "again")

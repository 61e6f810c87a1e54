"""The simulated guest of a VM that starts from Windows Setup media: firmware, Setup, power-off.

A guest record (in `data["guests"]`, by VM id) exists once a VM started with Windows Setup
media moldsim holds in its boot drive; the VM's own fields are never touched except through
`commands.power.guest_poweroff` (the guest powers itself off, Mold notices later):
  id, vm (name), active (the model still runs), state, phase, reason, restarts,
  firmware (BIOS|UEFI), secure_boot, tpm, boot_order (["hd", "cdrom"]...), disk_bus,
  disk (empty|setup|installed: what the ROOT disk holds; kept across starts),
  resume (the Setup phase the disk continues with when it boots: specializing|oobe),
  started (this start's time), until (when the current step ends; None: never),
  prompt_then (devices the firmware tries when the prompt times out),
  loop_since/loop_cycle (setup_loop: when the steady loop began, how long one round is),
  media (what the boot medium showed at Setup's start, see _media_view), answer (the
  booleans of the answer file the end of OOBE needs), keys (key presses seen),
  events [{at, state, phase, reason}].
Time is lazy like jobs: `_tick` (run before every request) steps each active guest up to
now; the hooks in the VM commands step it up to the instant of the change first, so every
step happens in time order. Timeline and checks: docs/moldsim.md, "Guest model".
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moldsim import guestvm, jobs, winsetup
from moldsim.clock import stamp
from moldsim.commands import power
from moldsim.context import Ctx

log = logging.getLogger("moldsim.guest")

PHASES = {"copying": 0.4, "specializing": 0.2, "oobe": 0.4}  # shares of install_seconds
NEXT_PHASE = {"copying": "specializing", "specializing": "oobe"}
WIN11 = {"cpus": 2, "memory_mb": 4096, "disk_gib": 64}
MAX_STEPS = 10_000  # steps one advance may take (a zero-length loop is caught before this)
MAX_EVENTS = 200


def guests(ctx: Ctx) -> dict[str, Any]:
    found: dict[str, Any] = ctx.store.data.setdefault("guests", {})
    return found


# ---------------------------------------------------------------- records and states

def _record(g: dict[str, Any], at: float, state: str, reason: str, phase: str | None = None,
            until: float | None = None, active: bool = True) -> None:
    """Enter a state: one event and one log line."""
    g.update(state=state, phase=phase, reason=reason, until=until, active=active)
    g["events"] = [*g.get("events", []), {"at": stamp(at), "state": state, "phase": phase, "reason": reason}][-MAX_EVENTS:]
    shown = f"{state} ({phase})" if phase else state
    log.info("guest %s %s: %s: %s", g["id"], g["vm"], shown, reason)


def _new_record(ctx: Ctx, vm: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    hw = guestvm.hardware(ctx, vm)
    return {"id": vm["id"], "vm": vm["name"], "active": True, "state": None, "phase": None,
            "reason": "", "restarts": 0, "firmware": hw["firmware"], "secure_boot": hw["secure_boot"],
            "tpm": hw["tpm"], "boot_order": guestvm.boot_order(ctx, vm), "disk_bus": guestvm.disk_bus(ctx, vm),
            "disk": (old or {}).get("disk", "empty"), "resume": (old or {}).get("resume"),
            "started": ctx.now, "until": None, "prompt_then": None, "loop_since": None,
            "loop_cycle": None, "media": (old or {}).get("media"), "answer": (old or {}).get("answer"),
            "events": (old or {}).get("events", [])}


def _install_seconds(ctx: Ctx) -> float:
    return max(0.0, float(ctx.config.install_seconds or 0.0))


def _prompt_seconds(ctx: Ctx) -> float:
    return max(0.0, float(ctx.config.boot_prompt_seconds or 0.0))


# ---------------------------------------------------------------- hooks (VM commands call these)

def on_start(ctx: Ctx, vm: dict[str, Any]) -> None:
    """The VM was powered on at ctx.now (deploy with startvm, startVirtualMachine)."""
    old = guests(ctx).get(vm["id"])
    _, boot_media = guestvm.drive_media(ctx, vm.get("isoid"))
    if old is None and (boot_media is None or not boot_media.setup):
        return  # no Windows Setup media moldsim holds: the model stays out of it
    g = _new_record(ctx, vm, old)
    guests(ctx)[vm["id"]] = g
    _walk(ctx, g, vm, ctx.now, g["boot_order"])
    _advance(ctx, g, vm, ctx.now)


def on_stop(ctx: Ctx, vm: dict[str, Any], why: str) -> None:
    """Mold stops (or destroys) the VM at ctx.now: the guest ends where it is."""
    g = guests(ctx).get(vm["id"])
    if g is None or not g["active"]:
        return
    _advance(ctx, g, vm, ctx.now)
    if g["active"]:
        shown = f"{g['state']} ({g['phase']})" if g["phase"] else g["state"]
        _halt(ctx, g, ctx.now, f"{why} ended the guest while it was {shown}")


@contextmanager
def media_change(ctx: Ctx, vm: dict[str, Any]) -> Iterator[None]:
    """Around attachIso/detachIso at ctx.now: the guest is stepped up to the change first;
    a steady Setup loop is unrolled, and Setup copying files loses its media if the boot
    ISO went away."""
    g = guests(ctx).get(vm["id"])
    if g is not None and g["active"]:
        _advance(ctx, g, vm, ctx.now)
        _unloop(ctx, g)
    before = vm.get("isoid")
    yield
    if g is None or not g["active"] or vm.get("isoid") == before:
        return
    if g["state"] in ("installing", "setup_loop") and g["phase"] == "copying":
        _record(g, ctx.now, "setup_error", "the installation media was removed while Setup copied "
                "files (Windows cannot install required files)", "copying", active=False)


def key_press(ctx: Ctx, vm_id: str) -> bool:
    """A key pressed on the VM's console at ctx.now; True when it booted the CD."""
    g = guests(ctx).get(vm_id)
    vm = ctx.coll("vms").get(vm_id)
    if g is None or vm is None or not g["active"]:
        return False
    _advance(ctx, g, vm, ctx.now)
    g["keys"] = int(g.get("keys", 0)) + 1
    if g["state"] != "prompt" or g["until"] is None or ctx.now >= g["until"]:
        return False
    _setup_start(ctx, g, vm, ctx.now, prompted=True)
    _advance(ctx, g, vm, ctx.now)
    return True


def _tick(ctx: Ctx) -> bool:
    """Step every active guest up to now; a VM that is gone takes its guest along, a VM no
    longer running (powered off another way) ends it."""
    changed = False
    table = guests(ctx) if "guests" in ctx.store.data else {}
    for vm_id in list(table):
        g = table[vm_id]
        vm = ctx.coll("vms").get(vm_id)
        if vm is None:
            del table[vm_id]
            changed = True
            continue
        if not g["active"]:
            continue
        if vm["state"] not in ("Running", "Stopping"):
            _halt(ctx, g, ctx.now, f"the VM became {vm['state']} while the guest was {g['state']}")
            changed = True
            continue
        before = (g["state"], g["phase"], g["until"])
        _advance(ctx, g, vm, ctx.now)
        changed = changed or before != (g["state"], g["phase"], g["until"])
    return changed


# Before power's detection: a power-off this tick makes is noticed in the same tick.
jobs.TICKERS.insert(0, _tick)


# ---------------------------------------------------------------- stepping

def _advance(ctx: Ctx, g: dict[str, Any], vm: dict[str, Any], now: float) -> None:
    for _ in range(MAX_STEPS):
        if not g["active"] or g["until"] is None or g["until"] > now:
            return
        _step(ctx, g, vm, float(g["until"]))
    _record(g, now, "setup_error", "the guest model stopped: too many steps at once", g["phase"], active=False)


def _step(ctx: Ctx, g: dict[str, Any], vm: dict[str, Any], at: float) -> None:
    """The current step ended at `at`."""
    if g["state"] == "prompt":  # no key came: the firmware tries the next device
        _walk(ctx, g, vm, at, g["prompt_then"] or [], after_prompt=True)
        return
    phase = g["phase"]
    if phase == "copying":
        g.update(disk="setup", resume="specializing")
        _walk(ctx, g, vm, at, g["boot_order"])
    elif phase == "specializing":
        g["resume"] = "oobe"
        _walk(ctx, g, vm, at, g["boot_order"])
    elif phase == "oobe":
        g.update(disk="installed", resume=None)
        _finish(ctx, g, vm, at)


def _walk(ctx: Ctx, g: dict[str, Any], vm: dict[str, Any], at: float, devices: list[str],
          after_prompt: bool = False) -> None:
    """The firmware tries `devices` in order at `at` (a boot or a reboot)."""
    for i, device in enumerate(devices):
        if device == "hd":
            if g["disk"] in ("setup", "installed"):
                _boot_disk(ctx, g, vm, at)
                return
            continue
        if _boot_cd(ctx, g, vm, at, devices[i + 1:]):
            return
    why = ("the CD's prompt got no key and the disk holds no system" if after_prompt
           else "neither the disk nor the CD can boot")
    _record(g, at, "no_bootable_device", f"no bootable device: {why} (boot order "
            f"{', '.join(g['boot_order'])}; the firmware waits)", active=False)


def _boot_cd(ctx: Ctx, g: dict[str, Any], vm: dict[str, Any], at: float, rest: list[str]) -> bool:
    """Try the CD in the boot drive; False when the firmware moves on to `rest`."""
    iso, medium = guestvm.drive_media(ctx, vm.get("isoid"))
    if iso is None:
        return False
    if medium is None or medium.media is None:
        why = "moldsim does not hold its bytes" if medium is None else medium.problem
        _record(g, at, "ignored", f"the CD in the boot drive ({iso['name']}) is not modelled: {why}",
                active=False)
        return True
    entry = medium.boot_for("efi" if g["firmware"] == "UEFI" else "bios")
    if entry is None:
        return False  # no El Torito entry for this firmware
    if not medium.setup:
        _record(g, at, "ignored", f"the CD in the boot drive ({iso['name']}) is not Windows Setup "
                "media (no sources/install.wim or install.esd); the model stops", active=False)
        return True
    g["media"] = _media_view(ctx, g, vm, iso, medium)
    bootable_disk = g["disk"] in ("setup", "installed")
    if g["firmware"] == "BIOS":
        if not bootable_disk:
            _setup_start(ctx, g, vm, at, prompted=False)
            return True
        rest = ["hd"]  # etfsboot with no key starts the hard disk
    elif not entry.prompts:
        _setup_start(ctx, g, vm, at, prompted=False)
        return True
    until = at + _prompt_seconds(ctx)
    g["prompt_then"] = rest
    _record(g, at, "prompt", f"Press any key to boot from CD or DVD... ({entry.image or 'boot image'}; "
            f"waits until {stamp(until)} for a key on the console)", until=until)
    return True


def _boot_disk(ctx: Ctx, g: dict[str, Any], vm: dict[str, Any], at: float) -> None:
    if g["disk"] == "installed":
        _record(g, at, "windows_running", "the disk boots the installed Windows (not modelled further)",
                active=False)
        return
    phase = g.get("resume") or "specializing"
    _record(g, at, "installing", f"the disk boots; Setup goes on ({phase})", phase,
            until=at + PHASES[phase] * _install_seconds(ctx))


def _setup_start(ctx: Ctx, g: dict[str, Any], vm: dict[str, Any], at: float, prompted: bool) -> None:
    """Windows Setup starts from the CD at `at`: its checks, then the copy phase."""
    again = g["disk"] != "empty"
    if again:
        g["restarts"] = int(g["restarts"]) + 1
    refused = _checks(ctx, g, vm)
    if refused is not None:
        state, reason = refused
        _record(g, at, state, reason, active=False)
        return
    g.update(disk="empty", resume=None)
    cycle = PHASES["copying"] * _install_seconds(ctx)
    if again and not prompted:  # the no-prompt CD before the disk: the same round for ever
        g.update(loop_since=at, loop_cycle=cycle)
        _record(g, at, "setup_loop", "Setup started over: the CD boots before the disk at every "
                f"reboot (boot order {', '.join(g['boot_order'])}) and its boot image does not ask "
                "for a key, so Setup never gets past copying files", "copying")
        return
    how = "a key at the prompt booted the CD" if prompted else "the CD boots"
    _record(g, at, "installing", f"{how}; Windows Setup runs from autounattend.xml", "copying",
            until=at + cycle)


def _unloop(ctx: Ctx, g: dict[str, Any]) -> None:
    """Turn a steady setup_loop back into its current round (before the world changes)."""
    if g["state"] != "setup_loop":
        return
    cycle, since, now = float(g["loop_cycle"] or 0.0), float(g["loop_since"]), ctx.now
    rounds = math.floor((now - since) / cycle) if cycle > 0 else 0
    g["restarts"] = int(g["restarts"]) + rounds
    ends = since + (rounds + 1) * cycle if cycle > 0 else now
    g.update(state="installing", until=ends, loop_since=None, loop_cycle=None)


def _finish(ctx: Ctx, g: dict[str, Any], vm: dict[str, Any], at: float) -> None:
    """The end of OOBE and the first logon."""
    answer = g.get("answer") or {}
    if not answer.get("accounts"):
        _record(g, at, "installed_waiting", "Windows is installed; OOBE waits for an account (the "
                "answer file's oobeSystem pass sets no AdministratorPassword or LocalAccount)", active=False)
    elif not answer.get("autologon"):
        _record(g, at, "installed_waiting", "Windows is installed; the logon screen waits (no AutoLogon "
                "enabled, so FirstLogonCommands never run)", active=False)
    elif not answer.get("shutdown"):
        _record(g, at, "installed_running", "Windows is installed and runs; no FirstLogonCommands "
                "command shuts it down, so the guest never powers off", active=False)
    else:
        _record(g, at, "powered_off", "Setup finished; the first logon's commands shut the guest down "
                "(Mold notices the power-off after guest_poweroff_detect_seconds)", active=False)
        if vm["state"] == "Running":
            power.guest_poweroff(dataclasses.replace(ctx, now=at), vm)


def _halt(ctx: Ctx, g: dict[str, Any], at: float, why: str) -> None:
    _unloop(ctx, g)
    _record(g, at, "stopped", why, g["phase"], active=False)


# ---------------------------------------------------------------- Setup's checks

def _checks(ctx: Ctx, g: dict[str, Any], vm: dict[str, Any]) -> tuple[str, str] | None:
    """What stops Windows Setup, in the order it meets it; None: it installs."""
    attached = guestvm.attached(ctx, vm)
    answer = next((m.answer for m in attached if m.answer is not None), None)
    if answer is None:
        return "waiting_at_setup", ("no autounattend.xml at the root of any attached medium: Setup "
                                    "waits at its first screen for someone at the console")
    if answer.error:
        return "answer_file_error", f"Windows could not parse or process the answer file: {answer.error}"
    if not answer.setup:
        return "waiting_at_setup", ("the answer file has no windowsPE settings for "
                                    "Microsoft-Windows-Setup: Setup asks for language, edition and disk")
    g["answer"] = {"accounts": answer.accounts, "autologon": answer.autologon, "shutdown": answer.shutdown}
    boot = attached[0] if attached else None
    refused = _image_check(boot, answer)
    if refused is None:
        refused = _windows11_check(ctx, g, vm, boot, answer)
    if refused is None and not answer.eula:
        refused = "waiting_at_setup", "the answer file does not accept the EULA (UserData/AcceptEula): " \
                                      "Setup waits at the license terms"
    return refused or _disk_check(ctx, g, vm, attached, answer)


def _image_check(boot: winsetup.SetupMedia | None, answer: winsetup.AnswerFile) -> tuple[str, str] | None:
    if not answer.os_image:
        return "waiting_at_setup", "the answer file selects no image (ImageInstall/OSImage): Setup asks " \
                                   "which edition to install"
    if boot is None or not boot.wim:
        return None
    chosen = winsetup.selected_image(boot.wim, answer.image_key)
    if isinstance(chosen, str):
        return "answer_file_error", f"Windows could not apply the answer file's image selection: {chosen}"
    return None


def windows_version(ctx: Ctx, vm: dict[str, Any], boot: winsetup.SetupMedia | None,
                    answer: winsetup.AnswerFile | None) -> tuple[str | None, str | None]:
    """(version, where the model learnt it): the WIM metadata, the answer file's image
    name, or the VM's OS type."""
    if boot is not None and boot.wim:
        chosen = winsetup.selected_image(boot.wim, answer.image_key if answer else None)
        images = [chosen] if isinstance(chosen, winsetup.WimImage) else boot.wim
        versions = {i.windows() for i in images} - {None}
        if len(versions) == 1:
            return versions.pop(), "wim"
    if answer is not None and answer.image_key and answer.image_key[0] == "/IMAGE/NAME":
        name = answer.image_key[1].lower()
        for marker, version in (("windows 11", "11"), ("windows server", "server"), ("windows 10", "10")):
            if marker in name:
                return version, "answer_file"
    name = guestvm.os_name(ctx, vm).lower()
    for marker, version in (("windows 11", "11"), ("windows server", "server"), ("windows 10", "10")):
        if marker in name:
            return version, "os_type"
    return None, None


def _windows11_check(ctx: Ctx, g: dict[str, Any], vm: dict[str, Any], boot: winsetup.SetupMedia | None,
                     answer: winsetup.AnswerFile) -> tuple[str, str] | None:
    version, source = windows_version(ctx, vm, boot, answer)
    if g.get("media") is not None:
        g["media"].update(windows=version, windows_from=source)
    if version != "11":
        return None
    hw = guestvm.hardware(ctx, vm)
    unmet = []
    if hw["firmware"] != "UEFI":
        unmet.append("BIOS firmware (UEFI needed)")
    elif not hw["secure_boot"]:
        unmet.append("Secure Boot off (boot mode LEGACY)")
    if hw["tpm"] != "2.0":
        unmet.append(f"no TPM 2.0 (tpmversion {hw['tpm']})")
    if hw["cpus"] < WIN11["cpus"]:
        unmet.append(f"{hw['cpus']} vCPU (2 needed)")
    if hw["memory_mb"] < WIN11["memory_mb"]:
        unmet.append(f"{hw['memory_mb']} MB of memory (4096 needed)")
    if hw["disk_gib"] < WIN11["disk_gib"]:
        unmet.append(f"a {hw['disk_gib']:g} GiB disk (64 GiB needed)")
    if not unmet:
        return None
    return "refused", "This PC doesn't currently meet Windows 11 system requirements: " + "; ".join(unmet)


def _disk_check(ctx: Ctx, g: dict[str, Any], vm: dict[str, Any], attached: list[winsetup.SetupMedia],
                answer: winsetup.AnswerFile) -> tuple[str, str] | None:
    found = winsetup.drivers([m.tree for m in attached], answer.driver_paths)
    if g.get("media") is not None:
        g["media"]["drivers"] = sorted(found)
    needed = winsetup.BUS_DRIVER.get(g["disk_bus"])
    if needed is not None and needed not in found:
        return "no_disk", (f"Setup finds no disk: the ROOT disk is on the {g['disk_bus']} bus and no "
                           f"attached medium has a {needed} driver (.inf, .sys, .cat) in $WinPEDriver$ "
                           "or in the answer file's DriverPaths")
    if not answer.disk_config or not answer.install_to:
        return "waiting_at_setup", ("the answer file does not say where to install (DiskConfiguration, "
                                    "OSImage/InstallTo): Setup asks for a disk")
    efi = "EFI" in answer.partition_types
    if g["firmware"] == "UEFI" and not efi:
        return "answer_file_error", ("Windows cannot be installed to this disk: on EFI systems Windows "
                                     "installs to GPT disks with an EFI system partition, and the answer "
                                     "file creates no partition of Type EFI")
    if g["firmware"] == "BIOS" and (efi or "MSR" in answer.partition_types):
        return "answer_file_error", ("Windows cannot be installed to this disk: a BIOS computer boots "
                                     "from MBR disks, and the answer file creates EFI/MSR partitions")
    return None


# ---------------------------------------------------------------- views

def _media_view(ctx: Ctx, g: dict[str, Any], vm: dict[str, Any], iso: dict[str, Any],
                medium: winsetup.SetupMedia) -> dict[str, Any]:
    attached = guestvm.attached(ctx, vm)
    answer = next((m.answer for m in attached if m.answer is not None), None)
    version, source = windows_version(ctx, vm, medium, answer)
    found = winsetup.drivers([m.tree for m in attached], answer.driver_paths if answer else ())
    return {"iso": iso["id"], "name": iso["name"], "sha256": medium.sha256,
            "filesystem": medium.tree.filesystem, "boot_entries": [b.view() for b in medium.boot],
            "setup_media": medium.setup, "windows": version, "windows_from": source,
            "answer_file": answer is not None, "drivers": sorted(found),
            "problems": list(medium.media.problems) if medium.media else []}


def view(ctx: Ctx, g: dict[str, Any]) -> dict[str, Any]:
    restarts = int(g["restarts"])
    if g["state"] == "setup_loop" and g.get("loop_cycle"):
        restarts += math.floor((ctx.now - float(g["loop_since"])) / float(g["loop_cycle"]))
    return {"id": g["id"], "vm": g["vm"], "state": g["state"], "phase": g["phase"], "reason": g["reason"],
            "restarts": restarts, "firmware": g["firmware"], "secure_boot": g["secure_boot"],
            "tpm": g["tpm"], "boot_order": g["boot_order"], "disk_bus": g["disk_bus"], "disk": g["disk"],
            "started": stamp(g["started"]),
            "prompt_until": stamp(g["until"]) if g["state"] == "prompt" and g["until"] else None,
            "keys": int(g.get("keys", 0)), "media": g.get("media"), "events": g.get("events", [])}


class ControlRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def control(api: Any, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """GET /moldsim/guests, GET /moldsim/guests/<vm id>, POST /moldsim/guests/<vm id>/key."""
    parts = [p for p in path.split("/") if p][2:]
    with api.store.lock:
        api.tick()
        ctx = api.ctx()
        table = guests(ctx)
        if method == "GET" and not parts:
            return {"guests": [view(ctx, g) for g in table.values()]}
        g = table.get(parts[0]) if parts else None
        if g is None:
            raise ControlRefused(404, f"no guest model for VM {parts[0] if parts else ''}: it never "
                                 "started from Windows Setup media moldsim holds")
        if method == "GET" and len(parts) == 1:
            return view(ctx, g)
        if method == "POST" and parts[1:] == ["key"]:
            booted = key_press(ctx, parts[0])
            api.store.save()
            return {**view(ctx, g), "booted": booted}
    raise ControlRefused(404, f"no control endpoint {method} {path}")

"""Test-only control endpoints under `/moldsim/` (JSON in, JSON out, no signature).

  GET  /moldsim/health          → {"status": "ok", ...}
  GET  /moldsim/config          → current run-time settings
  POST /moldsim/config          {"job_seconds": 0.5, ..., "api_limit": "25/1" | null}
                                (keys in config.RUNTIME_KEYS, and api_limit)
  GET  /moldsim/faults          → active fault rules by kind (random rules with "fired")
  POST /moldsim/faults          {"fail_jobs": [...], "random": [...], "clear": true, ...}
                                kinds and rule shapes: faults.py; 400 changes nothing
  POST /moldsim/guest-poweroff  {"id": "<vm uuid>"}  the guest shuts itself down
  GET  /moldsim/guests[/<vm id>] → the guest model of VMs started from Windows Setup media
  POST /moldsim/guests/<vm id>/key  a key pressed on the VM's console (moldsim.guest)
  POST /moldsim/guest-agent     {"id": "<vm uuid>", "running": true}  the qemu guest agent
                                in the VM runs (or not); VMs start without one
  GET  /moldsim/uploads/<iso id> → {"id", "state", "url", "bytes", "sha256", "path", "error",
                                "received"} of an ISO made by getUploadParamsForIso (404 else)
  GET  /moldsim/dump            → the whole store document (debugging)
  GET  /moldsim/stats           → {"api_requests": N, "by_command": {...}, "objects": {...}}
  POST /moldsim/stats/reset     → zero the request counters
  POST /moldsim/seed            {"isos": N, "networks": N, "vms": N, "templates": N,
                                 "prefix": "bulk", "names", "tags", "address_prefix",
                                 "address_tag", "template_zones"}  bulk inventory, untagged
                                unless tags/address_prefix are given (see seeding.py)
Answers: 200 with a JSON object, 400 for a bad body, 404 for an unknown path or VM,
409 when the VM is not Running.
"""

from __future__ import annotations

from typing import Any

from moldsim import commands, guest, seeding, uploads
from moldsim.api import Api
from moldsim.commands import power
from moldsim.config import RUNTIME_KEYS, parse_api_limit
from moldsim.registry import COMMANDS

assert commands


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _config_view(api: Api) -> dict[str, Any]:
    c = api.config
    return {"job_seconds": c.job_seconds, "download_seconds": c.download_time(),
            "guest_poweroff_detect_seconds": c.guest_poweroff_detect_seconds,
            "signature": c.signature, "max_page_size": c.max_page_size, "profile": c.profile,
            "api_limit": c.api_limit_text(), "zones": len(api.store.data["zones"]),
            "host_cdrom_max_count": c.host_cdrom_max_count,
            "install_seconds": c.install_seconds, "boot_prompt_seconds": c.boot_prompt_seconds,
            "console_port": c.console_bound_port}


def _set_config(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    allowed = [*RUNTIME_KEYS, "api_limit", "host_cdrom_max_count"]
    unknown = set(body) - set(allowed)
    if unknown:
        raise ControlError(400, f"unknown settings: {sorted(unknown)}; allowed: {allowed}")
    limit = api.config.api_limit
    if "api_limit" in body:
        if body["api_limit"] is not None and not isinstance(body["api_limit"], str):
            raise ControlError(400, 'api_limit must be "N/S" (e.g. "25/1") or null')
        try:
            limit = parse_api_limit(body["api_limit"])
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None
    for key in RUNTIME_KEYS:
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ControlError(400, f"{key} must be a number of seconds")
    drives = body.get("host_cdrom_max_count", api.config.host_cdrom_max_count)
    if isinstance(drives, bool) or not isinstance(drives, int) or drives < 1:
        raise ControlError(400, "host_cdrom_max_count must be a whole number of drives, at least 1")
    api.config.host_cdrom_max_count = drives
    for key in RUNTIME_KEYS:
        if key in body:
            setattr(api.config, key, None if body[key] is None else float(body[key]))
    if "api_limit" in body:
        api.config.api_limit = limit
        api.throttle.reset()
    return _config_view(api)


def _guest_agent(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    vm_id, running = body.get("id"), body.get("running", True)
    if not isinstance(vm_id, str) or not isinstance(running, bool):
        raise ControlError(400, 'body must be {"id": "<vm uuid>", "running": true|false}')
    with api.store.lock:
        api.tick()
        vm = api.store.coll("vms").get(vm_id)
        if vm is None:
            raise ControlError(404, f"no VM with id {vm_id}")
        vm["guest_agent"] = running
        api.store.save()
        return {"id": vm_id, "guest_agent": running}


def _guest_poweroff(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    vm_id = body.get("id")
    if not isinstance(vm_id, str):
        raise ControlError(400, 'body must be {"id": "<vm uuid>"}')
    with api.store.lock:
        ctx = api.ctx()
        api.tick()
        vm = ctx.coll("vms").get(vm_id)
        if vm is None:
            raise ControlError(404, f"no VM with id {vm_id}")
        if vm["state"] != "Running":
            raise ControlError(409, f"VM {vm_id} is {vm['state']}, not Running")
        result = power.guest_poweroff(ctx, vm)
        api.store.save()
        return result


def handle(api: Api, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Serve one control request; raises ControlError for 4xx answers."""
    route = (method, path.rstrip("/"))
    if route == ("GET", "/moldsim/health"):
        return {"status": "ok", "commands": len(COMMANDS)}
    if route == ("GET", "/moldsim/config"):
        return _config_view(api)
    if route == ("POST", "/moldsim/config"):
        return _set_config(api, body)
    if route == ("GET", "/moldsim/faults"):
        return api.faults.snapshot()
    if route == ("POST", "/moldsim/faults"):
        try:
            api.faults.update(body)
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None
        return api.faults.snapshot()
    if route == ("POST", "/moldsim/guest-poweroff"):
        return _guest_poweroff(api, body)
    if route[1] == "/moldsim/guests" or route[1].startswith("/moldsim/guests/"):
        try:  # the guest model (moldsim.guest): GET [/<vm id>], POST /<vm id>/key
            return guest.control(api, method, route[1], body)
        except guest.ControlRefused as exc:
            raise ControlError(exc.status, str(exc)) from None
    if route == ("POST", "/moldsim/guest-agent"):
        return _guest_agent(api, body)
    if route == ("GET", "/moldsim/stats"):
        return api.stats(with_objects=True)
    if route == ("POST", "/moldsim/stats/reset"):
        api.reset_stats()
        return api.stats()
    if route == ("POST", "/moldsim/seed"):
        with api.store.lock:
            try:
                made = seeding.seed(api.ctx(), body)
            except ValueError as exc:
                raise ControlError(400, str(exc)) from None
            api.store.save()
            return made
    if method == "GET" and route[1].startswith("/moldsim/uploads/"):
        iso_id = route[1].rsplit("/", 1)[-1]
        with api.store.lock:
            rec = api.store.coll("isos").get(iso_id)
            if rec is None or not rec.get("upload"):
                raise ControlError(404, f"no ISO upload with id {iso_id}")
            return uploads.info(rec, api.store.now())
    if route == ("GET", "/moldsim/dump"):
        with api.store.lock:
            return dict(api.store.data)
    raise ControlError(404, f"no control endpoint {method} {path}")

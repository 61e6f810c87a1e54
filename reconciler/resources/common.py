"""Helpers shared by the kind modules: the generic create/update/replace planning,
tagging, waiting for an image to become ready, tolerant deletes, and mutations whose answer
was lost (``send``/``send_job``: look at what Mold holds, then adopt or send again)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from reconciler.errors import ApiError, JobFailed, MoldError, UncertainMutation
from reconciler.model import OWNER_TAG, Desired, Draft, LiveObject, tags_of
from reconciler.mold.poll import Deadline, poll_until
from reconciler.plan import Operation
from reconciler.resources.base import Attr, AttrChange, ExecContext, OnChange, diff_attrs

T = TypeVar("T")

__all__ = ["retag", "wait_image_ready", "plan_generic", "describe_changes", "tag_resource", "wait_until", "delete_job",
           "is_gone", "split_changes", "Held", "Check", "send", "send_job", "named", "row_state",
           "RESEND", "is_image_progress", "delete_image", "leftover_delete", "FORCED_REASON"]


FORCED_REASON = "replacement requested with --replace"  # the reason of every --replace


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


def tag_resource(ctx: ExecContext, resource_type: str, mold_id: str, address: str,
                 extra: Mapping[str, str] | None = None) -> None:
    """Give an object its ownership tags (address and owner), plus ``extra``, in one call. A
    tag job left running by an interrupted apply may have set them meanwhile: Mold then
    refuses the duplicate, which counts as done."""
    set_tags(ctx, resource_type, mold_id, {**ctx.ownership_tags(address), **(extra or {})})


def set_tags(ctx: ExecContext, resource_type: str, mold_id: str, tags: Mapping[str, str]) -> None:
    """createTags, counting tags that are already there as set (Mold refuses duplicates)."""
    def present() -> bool:
        rows = ctx.client.list_all("listTags", "tag", {
            "resourceid": mold_id, "resourcetype": resource_type, "listall": True})
        have = {(t.get("key"), t.get("value")) for t in rows}
        return all(item in have for item in tags.items())

    try:
        send_job(ctx, "createTags", {
            "resourcetype": resource_type, "resourceids": [mold_id],
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }, lambda: Held(present()))
    except (ApiError, JobFailed):
        if not present():
            raise


def retag(ctx: ExecContext, resource_type: str, mold_id: str, current: Mapping[str, str],
          wanted: Mapping[str, str]) -> None:
    """Make an object's tags ``wanted``: a tag with another value is deleted first (Mold
    refuses a second tag with the same key), missing ones are created, right ones stay."""
    wrong = [{"key": k, "value": current[k]} for k in wanted
             if k in current and current[k] != wanted[k]]
    if wrong:
        send_job(ctx, "deleteTags", {"resourcetype": resource_type, "resourceids": [mold_id],
                                     "tags": wrong}, RESEND)
    missing = {k: v for k, v in wanted.items() if current.get(k) != v}
    if missing:
        set_tags(ctx, resource_type, mold_id, missing)


def wait_until(check: Callable[[], T | None], *, timeout: float, what: str,
               ctx: ExecContext) -> T:
    """``check`` until it returns a value, with the apply's poll policy and clock."""
    try:
        return poll_until(check, timeout=timeout, what=what, policy=ctx.waits.poll,
                          clock=ctx.waits.clock)
    except Deadline as exc:
        raise MoldError(str(exc)) from None


def wait_image_ready(ctx: ExecContext, command: str, item_key: str, params: Mapping[str, Any],
                     what: str, is_progress: Callable[[str], bool], owned: bool = True,
                     timeout: float | None = None) -> dict[str, Any]:
    """Wait until every zone's row of an ISO or template is ready (Mold lists one per zone);
    progress texts are reported as they change, any other status text is Mold's error. The
    images every worker waits on are read together, one list call per round: ``params`` name
    the image by ``id`` and are narrowed, for the shared call, to this state's objects
    (``owned``; False for an image that may lack the owner tag: its tagging failed).
    ``timeout``: the deadline, if not ``--ready-timeout``."""
    ident = str(params["id"])
    shared = {k: v for k, v in params.items() if k != "id"}
    if ctx.owner and owned:
        shared["tags"] = [{"key": OWNER_TAG, "value": ctx.owner}]
    last = [""]

    def check(rows: list[dict[str, Any]] | None) -> dict[str, Any] | None:
        if not rows:
            raise MoldError(f"{what} disappeared while it was being made")
        if all(r.get("isready") for r in rows):
            return dict(rows[0])
        waiting = next(r for r in rows if not r.get("isready"))
        status = str(waiting.get("status") or "")
        if status and not is_progress(status):
            raise MoldError(f"{what} failed: {status}")
        if status and len(rows) > 1 and waiting.get("zonename"):
            status = f"{waiting['zonename']}: {status}"
        if status != last[0]:
            ctx.progress(status or "waiting for it to be ready")
            last[0] = status
        return None

    try:
        found: dict[str, Any] = ctx.client.wait_listed(command, item_key, shared, ident, check,
                                                       timeout=ctx.waits.ready_timeout
                                                       if timeout is None else timeout,
                                                       what=what)
    except Deadline as exc:
        raise MoldError(str(exc)) from None
    return found


# Mold's status of an image on its way: a store row's download texts, else the image's own
# state while no store row has one (TemplateJoinDaoImpl.getTemplateStatus: vm_template.state,
# e.g. Active while createTemplate runs; NotUploaded/UploadInProgress for uploads)
_PROGRESS = re.compile(r"^(\d+(\.\d+)?% downloaded|installing.*|processing|downloading|"
                       r"bypassed secondary storage|successfully installed|download complete|"
                       r"not ready|active|notuploaded|uploadinprogress|)$")


def is_image_progress(status: str) -> bool:
    """Mold's status texts while an image is on its way; anything else is its error text."""
    return bool(_PROGRESS.match(status.strip().lower()))


_DOWNLOADING = "not currently being downloaded"  # HypervisorTemplateAdapter.delete's refusal


def delete_image(ctx: ExecContext, command: str, list_command: str, item_key: str,
                 params: Mapping[str, Any], what: str, gone: Check) -> None:
    """deleteIso/deleteTemplate. Mold refuses it while a copy of the image still downloads
    (an earlier apply stopped waiting for it): then the download is waited for
    (``--ready-timeout``; a failed one is deletable too) and the delete sent again."""
    ident = str(params["id"])
    try:
        delete_job(ctx, command, {"id": ident}, gone)
        return
    except MoldError as exc:
        if _DOWNLOADING not in str(exc):
            raise
    ctx.progress(f"{what} is still downloading, and Mold deletes no image while it "
                 "downloads: waiting for the download to end")
    try:
        wait_image_ready(ctx, list_command, item_key, params, f"{what} download",
                         is_image_progress, owned=False)
    except MoldError as exc:
        if "failed:" not in str(exc) and "disappeared" not in str(exc):  # the deadline
            raise MoldError(f"{what} cannot be deleted while it downloads: {exc}") from None
    delete_job(ctx, command, {"id": ident}, gone)  # gone meanwhile counts as deleted


def leftover_delete(live: LiveObject, reason: str) -> Draft:
    """The deletion of an object the address no longer uses (replaced, or failed in Mold): a
    step of its own that leaves state's record of the address as it is."""
    return Draft(Operation.DELETE, reason, before=dict(live.attrs),
                 inputs={"id": live.id, "orphan": True})


def is_gone(exc: MoldError) -> bool:
    """True when Mold says the object does not exist (already deleted)."""
    text = getattr(exc, "errortext", "") or ""
    code = getattr(exc, "errorcode", None)
    markers = ("does not exist", "unable to find", "not found", "entity does not exist",
               "incorrect long value format")
    return code == 431 and any(m in text.lower() for m in markers)


def delete_job(ctx: ExecContext, command: str, params: dict[str, Any],
               check: Check | None = None) -> None:
    """Run a delete job; an object that is already gone counts as deleted. ``check`` says
    whether a delete whose answer was lost happened (default: send it again)."""
    try:
        send_job(ctx, command, params, check or RESEND)
    except (ApiError, JobFailed) as exc:
        if not is_gone(exc):
            raise


# --- mutations whose answer was lost ---------------------------------------------------

@dataclass(frozen=True)
class Held:
    """What Mold holds after a mutation whose answer was lost. ``done``: its effect is there
    or on its way; ``id``: the object it made or changed; ``jobid``: a job still running on
    that object (most likely the lost request's own job)."""

    done: bool
    id: str | None = None
    jobid: str | None = None


Check = Callable[[], Held]


def RESEND() -> Held:
    """For commands that are safe to send twice: a delete by id (the second finds the object
    gone, which counts as deleted) or an update that sets values (the same values again)."""
    return Held(False)


def send(ctx: ExecContext, command: str, params: Mapping[str, Any], check: Check
         ) -> dict[str, Any]:
    """Send a mutation once. If its answer is lost, ask ``check`` what Mold holds, after
    ``recheck_delay`` and twice more at doubling intervals (a request that timed out may still
    be running in Mold), and send it again only when the effect never showed. When it shows,
    the answer is rebuilt as ``{"id": …, "jobid": …, "_found": True}``."""
    try:
        return dict(ctx.client.call(command, params))
    except UncertainMutation as lost:
        ctx.progress(f"no answer to {command} ({lost.detail}); checking what Mold holds")
        held = _look(ctx, check)
        if held.done:
            ctx.progress(f"Mold did carry out {command}" + (f" ({held.id})" if held.id else ""))
            return {"id": held.id, "jobid": held.jobid, "_found": True}
        ctx.progress(f"Mold did not carry out {command}; sending it again")
        try:
            return dict(ctx.client.call(command, params))
        except UncertainMutation as again:
            raise UncertainMutation(command, f"{again.detail} (the first try got no answer "
                                    "either and had not been carried out)") from None


RECHECKS = 3  # looks at what Mold holds before a lost change is sent again


def _look(ctx: ExecContext, check: Check) -> Held:
    pause = ctx.waits.recheck_delay
    held = Held(False)
    for attempt in range(RECHECKS):
        if pause > 0:
            ctx.waits.clock.sleep(pause * 2 ** attempt)
        held = check()
        if held.done:
            break
    return held


def send_job(ctx: ExecContext, command: str, params: Mapping[str, Any], check: Check,
             on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """``send`` an async command and wait for its job, as ``MoldClient.run_job`` does. A found
    effect without a running job is already complete as far as a job can tell: the answer is
    then ``{"_id": …, "_found": True}``."""
    body = send(ctx, command, params, check)
    if body.get("_found") and not body.get("jobid"):
        return {"_id": body["id"], "_found": True} if body.get("id") else {"_found": True}
    return dict(ctx.client.finish_job(command, body, timeout=ctx.waits.job_timeout,
                                      on_progress=on_progress))


def pending_jobid(row: Mapping[str, Any] | None) -> str | None:
    """The job Mold reports as running on a listed object (``jobid`` with ``jobstatus`` 0)."""
    if row and row.get("jobid") and row.get("jobstatus", 0) == 0:
        return str(row["jobid"])
    return None


def named(ctx: ExecContext, command: str, item_key: str, params: Mapping[str, Any],
          name: str, address: str, exclude: Collection[str | None] = ()) -> Check:
    """Check for a create: one object called ``name`` that carries no address tag or this
    one, other than ``exclude`` (the objects a replacement replaces, which may share the name).
    Two or more are an error rather than a guess."""
    def check() -> Held:
        rows = [r for r in ctx.client.list_all(command, item_key, params)
                if r.get("name") == name and str(r.get("id")) not in exclude
                and ctx.is_mine(tags_of(r), address)]
        if len(rows) > 1:
            ids = ", ".join(str(r.get("id")) for r in rows)
            raise MoldError(f"{command}: {len(rows)} objects named {name!r} ({ids}); cannot "
                            f"tell which one this apply made for {address}. Delete the extra "
                            "one, then run `mwin plan`")
        if not rows:
            return Held(False)
        return Held(True, str(rows[0]["id"]), pending_jobid(rows[0]))
    return check


def row_state(ctx: ExecContext, command: str, item_key: str, params: Mapping[str, Any],
              done: Callable[[dict[str, Any] | None], bool]) -> Check:
    """Check for a change of one object: ``done(row)`` (row None when the object is gone), or
    a job running on it, which is taken to be the lost request's."""
    def check() -> Held:
        try:
            rows = ctx.client.list_all(command, item_key, params)
        except ApiError as exc:  # some list commands refuse the id of a deleted object
            if not is_gone(exc):
                raise
            rows = []
        row = rows[0] if rows else None
        jobid = pending_jobid(row)
        return Held(done(row) or jobid is not None, jobid=jobid)
    return check

"""Async jobs: submission, lazy completion, and the queryAsyncJobResult view (reference §2.6).

A job record (in `data["jobs"]`):
  id, command (camelCase), instancetype, instanceid, params (bound params, JSON-safe),
  seq (submission order), created, due (wall-clock seconds: when it ends),
  status 0/1/2, resultcode, result (jobresult dict once ended), completed (time),
  error ({"errorcode", "errortext"} decided at submission: a business check that failed, or an
  injected fault; the job then fails at `due` without running its finish function),
  hung (optional, True: the hang_jobs fault; the job never ends, `advance` skips it, and its
  object keeps the transitional state its kind's `hang` gives it),
  userid/accountid (who submitted it: the job runs as that caller, and its view names them;
  jobs stored by older moldsim versions ran as the root admin).
No thread runs jobs: `advance()` is called at the start of every request and finishes, in
(due, seq) order, every job whose due time has passed — so job_seconds=0 means "done by the
next request", and a restart simply continues (times are wall-clock and persisted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moldsim import errors, identity
from moldsim.clock import stamp
from moldsim.context import Ctx
from moldsim.registry import JOB_KINDS

# Functions run after jobs on every advance (e.g. guest power-off detection); they return
# True when they changed something.
TICKERS: list[Callable[[Ctx], bool]] = []


def submit(ctx: Ctx, command: str, instanceid: str | None, params: dict[str, Any],
           error: errors.ApiError | None = None, seconds: float | None = None) -> dict[str, Any]:
    """Queue a job of `command`; an injected fault or a given error makes it fail at its end,
    the hang_jobs fault makes it never end (and then spares the fail_jobs rules)."""
    kind = JOB_KINDS[command.lower()]
    hung = ctx.faults.take("hang_jobs", command) is not None
    fault = None if hung else ctx.faults.take("fail_jobs", command)
    if error is None and fault is not None:
        code = int(fault.get("errorcode", errors.INTERNAL_ERROR))
        error = errors.ApiError(code, str(fault.get("errortext") or f"{command} failed (injected fault)"))
    duration = ctx.config.job_seconds if seconds is None else seconds
    job = {
        "id": ctx.new_id(), "command": kind.command, "instancetype": kind.instancetype,
        "instanceid": instanceid, "params": params, "seq": ctx.store.next_seq("job"),
        "created": ctx.now, "due": ctx.now + max(0.0, duration),
        "status": 0, "resultcode": 0, "result": None, "completed": None,
        "error": None if error is None else {"errorcode": error.errorcode, "errortext": error.errortext},
        "userid": ctx.user["id"], "accountid": ctx.account["id"],
    }
    ctx.coll("jobs")[job["id"]] = job
    if hung:
        _hang(ctx, job)
    return job


def _hang(ctx: Ctx, job: dict[str, Any]) -> None:
    """Make a job never end: `advance` skips it, queryAsyncJobResult says jobstatus 0."""
    job["hung"] = True
    hang = JOB_KINDS[job["command"].lower()].hang
    if hang is not None:
        hang(ctx, job)


def _fail(ctx: Ctx, job: dict[str, Any], code: int, text: str) -> None:
    job.update(status=2, resultcode=code, result={"errorcode": code, "errortext": text})
    rollback = JOB_KINDS[job["command"].lower()].rollback
    if rollback is not None:
        rollback(ctx, job)


def _run(ctx: Ctx, job: dict[str, Any]) -> None:
    """End one job at its due time."""
    job["completed"] = job["due"]
    if job["error"]:
        _fail(ctx, job, job["error"]["errorcode"], job["error"]["errortext"])
        return
    try:
        result = JOB_KINDS[job["command"].lower()].finish(ctx, job)
    except errors.ApiError as exc:
        _fail(ctx, job, job_code(exc), exc.errortext)
        return
    job.update(status=1, resultcode=0, result=result)


def job_code(exc: errors.ApiError) -> int:
    """ApiAsyncJobDispatcher.runJob: InvalidParameterValueException stays 431 and a
    ServerApiException keeps its code; every other exception (PermissionDeniedException too)
    ends the job with 530, its message kept as it is."""
    if exc.errorcode == errors.ACCOUNT_ERROR and not exc.server_api:
        return errors.INTERNAL_ERROR
    return exc.errorcode


def advance(base: Ctx) -> bool:
    """Finish every due job (oldest first) and run the tickers; True if anything changed."""
    pending = [j for j in base.coll("jobs").values()
               if j["status"] == 0 and j["due"] <= base.now and not j.get("hung")]
    pending.sort(key=lambda j: (j["due"], j["seq"]))
    for job in pending:
        ctx = Ctx(base.store, base.config, base.faults, job["due"], job["command"], job.get("userid"))
        _run(ctx, job)
    changed = bool(pending)
    for tick in TICKERS:
        changed = tick(base) or changed
    return changed


def pending_job(ctx: Ctx, instanceid: str) -> dict[str, Any] | None:
    """The oldest unfinished job on an object (for `jobid`/`jobstatus` on list items)."""
    return ctx.pending_jobs().get(instanceid)


def _cmd_class(name: str, acct: dict[str, Any]) -> str:
    """ApiServer.getCmdClass: the *ByAdmin class only for root admins, the user one otherwise."""
    if identity.is_root_admin(acct) or "ByAdmin" not in name:
        return name
    return name.replace(".admin.", ".user.").replace("ByAdmin", "")


def view(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    """queryAsyncJobResult fields (directly under the response name)."""
    acct = identity.account(ctx.store, job.get("accountid")) or ctx.store.admin_account
    dom = identity.domain(ctx.store, acct["domainid"]) or {"path": "/"}
    userid = job.get("userid") or ctx.store.data["admin"]["userid"]
    out: dict[str, Any] = {
        "accountid": acct["id"], "account": acct["name"],
        "domainid": acct["domainid"], "domainpath": identity.pretty_path(dom), "userid": userid,
        "cmd": _cmd_class(JOB_KINDS[job["command"].lower()].cmdclass, acct),
        "jobstatus": job["status"], "jobprocstatus": 0, "jobresultcode": job["resultcode"],
    }
    if job["status"] != 0:
        out["jobresulttype"] = "object"
        out["jobresult"] = job["result"]
    if job["instancetype"]:
        out["jobinstancetype"] = job["instancetype"]
    if job["instanceid"]:
        out["jobinstanceid"] = job["instanceid"]
    out["created"] = stamp(job["created"])
    if job["completed"] is not None:
        out["completed"] = stamp(job["completed"])
    out["managementserverid"] = "moldsim"
    out["jobid"] = job["id"]
    return out

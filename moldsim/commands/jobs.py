"""Job commands (reference §2.6): queryAsyncJobResult and listAsyncJobs."""

from __future__ import annotations

from typing import Any

from moldsim import identity, jobs, listing
from moldsim.context import Ctx
from moldsim.registry import UUID, Param, api


@api("queryAsyncJobResult", [Param("jobid", UUID, True, "the ID of the asynchronous job", entity="jobs")])
def query_async_job_result(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """AsyncJobManagerImpl.queryJob: the caller must have access to the job's account."""
    job = ctx.get("jobs", p["jobid"], "jobid")
    identity.check_owner(ctx.store, ctx.account, job.get("accountid") or identity.admin_account_id(ctx.store))
    return jobs.view(ctx, job)


@api("listAsyncJobs", [Param("startdate"), Param("managementserverid")], listing=True)
def list_async_jobs(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    scope = identity.scope(ctx, p, False)
    all_jobs = [j for j in sorted(ctx.coll("jobs").values(), key=lambda j: j["seq"])
                if scope.allows(ctx.store, j.get("accountid") or identity.admin_account_id(ctx.store))]
    return listing.respond(ctx, p, "asyncjobs", [jobs.view(ctx, j) for j in all_jobs])

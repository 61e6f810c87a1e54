"""Job commands (reference §2.6): queryAsyncJobResult and listAsyncJobs."""

from __future__ import annotations

from typing import Any

from moldsim import jobs, listing
from moldsim.context import Ctx
from moldsim.registry import UUID, Param, api


@api("queryAsyncJobResult", [Param("jobid", UUID, True, "the ID of the asynchronous job", entity="jobs")])
def query_async_job_result(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    return jobs.view(ctx, ctx.get("jobs", p["jobid"], "jobid"))


@api("listAsyncJobs", [Param("startdate"), Param("managementserverid")], listing=True)
def list_async_jobs(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    all_jobs = sorted(ctx.coll("jobs").values(), key=lambda j: j["seq"])
    return listing.respond(ctx, p, "asyncjobs", [jobs.view(ctx, j) for j in all_jobs])

"""The rate-limit plugin's own commands: getApiLimit and resetApiLimit (synchronous).

Source: jeongda-young/ablestack-cloud plugins/api/rate-limit/.../GetApiLimitCmd.java,
ResetApiLimitCmd.java and ApiRateLimitServiceImpl.searchApiLimit: both answer 432 "This api
is only available when api.throttling.enabled = true." while throttling is off; getApiLimit
answers the caller's counter (`apiIssued`, `apiAllowed` = max - issued, `expireAfter` in ms,
or, before the first counted call, the interval in seconds).
"""

from __future__ import annotations

from typing import Any

from moldsim import errors
from moldsim.context import Ctx
from moldsim.registry import UUID, Param, api

_OFF = "This api is only available when api.throttling.enabled = true."


def _throttle(ctx: Ctx) -> Any:
    if ctx.config.api_limit is None:
        raise errors.server_error(errors.UNSUPPORTED_ACTION, _OFF)
    return ctx.throttle


@api("getApiLimit", [], mutates=False, description="Get API limit count for the caller")
def get_api_limit(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    throttle = _throttle(ctx)
    allowed, interval = ctx.config.api_limit
    issued, left_ms = throttle.issued(ctx.account["id"], ctx.now)
    out = {"accountid": ctx.account["id"], "account": ctx.account["name"], "apiIssued": issued,
           "apiAllowed": allowed - issued, "expireAfter": left_ms if issued else int(interval)}
    return {"apilimit": out}


@api("resetApiLimit", [Param("account", UUID, entity="accounts")], description="Reset api count")
def reset_api_limit(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    _throttle(ctx).reset(p.get("account"))
    return {"success": True}

"""API throttling, as Mold's rate-limit plugin does it (`moldsim serve --api-limit N/S`).

Source: jeongda-young/ablestack-cloud plugins/api/rate-limit/.../ApiRateLimitServiceImpl.java
(checkAccess, hasApiRateLimitBeenExceeded, throwExceptionDueToApiRateLimitReached) and
StoreEntryImpl.java (expiry, getExpireDuration); ApiServer.commandAvailable turns the
RequestLimitException into a ServerApiException with API_LIMIT_EXCEED (429).
- Counted per account; root admins (account type ADMIN) are exempt.
- The first checked call of an account opens a window of S seconds; every checked call
  counts, the refused ones too; past N calls in the window each call is refused until the
  window expires (the next call then opens a new one).
- The refusal: HTTP 429, errorcode 429, "The given user has reached his/her account api
  limit, please retry after [<ms>] ms." with the milliseconds left in the window. No
  Retry-After header.
- It runs before the role check and before the signature check (ApiServer.verifyRequest
  calls commandAvailable before it compares signatures).
The counters live in memory (Mold keeps them in a cache), so a restart forgets them.
"""

from __future__ import annotations

import threading

from moldsim import errors


class Throttle:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, int]] = {}  # account id → (expiry, count)

    def reset(self, account_id: str | None = None) -> None:
        """resetApiLimit: one account's counter, or all of them."""
        with self._lock:
            if account_id is None:
                self._entries.clear()
            else:
                self._entries.pop(account_id, None)

    def issued(self, account_id: str, now: float) -> tuple[int, int]:
        """(calls counted in the current window, milliseconds left in it) for getApiLimit."""
        with self._lock:
            entry = self._entries.get(account_id)
            if entry is None or entry[0] < now:
                return 0, 0
            return entry[1], int((entry[0] - now) * 1000)

    def check(self, account_id: str, limit: tuple[int, float] | None, now: float) -> None:
        """Count one call; raise the 429 once the account is past its limit."""
        if limit is None:
            return
        allowed, interval = limit
        with self._lock:
            entry = self._entries.get(account_id)
            if entry is None or entry[0] < now:
                entry = (now + interval, 0)
            entry = (entry[0], entry[1] + 1)
            self._entries[account_id] = entry
        if entry[1] > allowed:
            wait_ms = max(0, int((entry[0] - now) * 1000))
            raise errors.ApiError(
                errors.API_LIMIT_EXCEED,
                f"The given user has reached his/her account api limit, please retry after "
                f"[{wait_ms}] ms.", 9999, server_api=True)

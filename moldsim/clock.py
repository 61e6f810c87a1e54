"""Wall-clock time and Mold's date format. Persisted times are Unix seconds (float)."""

from __future__ import annotations

import time


def now() -> float:
    """Wall-clock seconds; wall clock (not monotonic) so persisted times survive restarts."""
    return time.time()


def stamp(t: float) -> str:
    """Mold's `yyyy-MM-dd'T'HH:mm:ssZ`, in UTC (e.g. 2025-02-12T01:11:12+0000)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(t))

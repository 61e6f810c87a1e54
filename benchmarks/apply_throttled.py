"""A parallel `mwin apply` under Mold's API limit (CloudStack's api.throttling: at most N
requests per S seconds per account, HTTP 429 past it).

Deploys N independent VMs (default 200, --parallelism 10, jobs of --latency 0.5 s) twice, each
time on a fresh moldsim as an account of type User (Mold exempts root admins from the limit):
once without a limit, counting the requests it takes (R0), then with `--api-limit` (default
25/1). mwin learns the limit from Mold's 429 answers and paces every worker under it, so the
limited run should take about R0 / limit, or the critical path (ceil(N / P) x latency) if that
is longer.

    .venv/bin/python benchmarks/apply_throttled.py [--vms 200] [--limit 25/1]
Target (issue 17): wall <= 1.2 x max(critical path, R0 / limit) with at most a handful (5)
of 429 answers.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any

from _harness import Moldsim, machine, mwin, spec_text, user_keys

REFUSAL = "account api limit"  # Mold's 429 text, as mwin logs each one it waits out
MAX_REFUSALS = 5


def measure(vms: int, latency: float, parallelism: int, limit: str | None) -> dict[str, Any]:
    """One apply of ``vms`` VMs as a User account, under ``limit`` ("N/S") or none."""
    sim = Moldsim("--job-seconds", str(latency))
    try:
        keys = user_keys(sim.url)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "base.yaml").write_text(spec_text(1, 1, 0, 0))
            ready = mwin(sim.url, "apply", "base.yaml", "--auto-approve", cwd=work, keys=keys)
            if ready.code != 0:
                raise SystemExit(f"the base apply failed:\n{ready.err[-3000:]}")
            if limit:
                sim.control("/moldsim/config", {"api_limit": limit})
            (work / "spec.yaml").write_text(spec_text(1, 1, vms, 0))
            sim.control("/moldsim/stats/reset", {})
            run = mwin(sim.url, "apply", "spec.yaml", "--auto-approve", "--parallelism",
                       str(parallelism), "--poll-interval", f"{latency}s", cwd=work, keys=keys,
                       env={"MWIN_LOG": "info"})
            stats = sim.control("/moldsim/stats")
    finally:
        sim.stop()
    if run.code != 0:
        raise SystemExit(f"apply failed:\n{run.err[-3000:]}")
    return {"wall": run.seconds, "requests": stats["api_requests"],
            "refused": run.err.count(REFUSAL), "by_command": stats["by_command"]}


def rate(limit: str) -> float:
    count, seconds = limit.split("/", 1)
    return float(count) / float(seconds)


def compare(vms: int = 200, latency: float = 0.5, parallelism: int = 10,
            limit: str = "25/1") -> dict[str, Any]:
    """The same apply without and with the limit; the ratio to max(critical path, R0/limit)."""
    free = measure(vms, latency, parallelism, None)
    limited = measure(vms, latency, parallelism, limit)
    critical = math.ceil(vms / parallelism) * latency
    floor = max(critical, free["requests"] / rate(limit))
    return {"vms": vms, "latency": latency, "parallelism": parallelism, "limit": limit,
            "free": free, "limited": limited, "critical": critical, "floor": floor,
            "ratio": limited["wall"] / floor}


def report(row: dict[str, Any]) -> None:
    free, limited = row["free"], row["limited"]
    print(f"vms={row['vms']} latency={row['latency']}s parallelism={row['parallelism']} "
          f"limit={row['limit']} R0={free['requests']} unlimited_wall={free['wall']:.1f}s "
          f"limited_wall={limited['wall']:.1f}s limited_requests={limited['requests']} "
          f"refused_429={limited['refused']} critical_path={row['critical']:.1f}s "
          f"floor={row['floor']:.1f}s ratio={row['ratio']:.2f}")


def verdict(row: dict[str, Any]) -> list[tuple[str, str, bool]]:
    limited = row["limited"]
    return [(f"apply of {row['vms']} VMs under --api-limit {row['limit']}: wall <= 1.2 x "
             f"max(critical path, R0 / limit)",
             f"{limited['wall']:.1f} s / {row['floor']:.1f} s = x{row['ratio']:.2f}",
             row["ratio"] <= 1.2),
            (f"apply of {row['vms']} VMs under --api-limit {row['limit']}: <= {MAX_REFUSALS} "
             "429 answers", f"{limited['refused']}", limited["refused"] <= MAX_REFUSALS)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--parallelism", type=int, default=10)
    parser.add_argument("--limit", default="25/1", help="N/S: N requests per S seconds")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    row = compare(args.vms, args.latency, args.parallelism, args.limit)
    report(row)
    for target, figure, holds in verdict(row):
        print(f"target: {target}: {figure}: {'holds' if holds else 'DOES NOT HOLD'}")


if __name__ == "__main__":
    main()

"""How close a parallel `mwin apply` gets to the critical path when every Mold job takes time.

Deploys N independent VMs (default 200) with moldsim's jobs taking --latency seconds
(default 0.5) at --parallelism P (default 10). Each VM issues two jobs, the deploy and its
address tag; mwin tags as soon as Mold returns the VM's id, so the two jobs overlap and the
critical path per VM is one job: ceil(N / P) x latency. Prints the wall time of the whole
`mwin apply` (start-up, refresh and plan included) against it, and the requests it took.

    .venv/bin/python benchmarks/apply_parallel.py [--vms 200] [--latency 0.5] [--parallelism 10]
Target (issue 17): wall <= 1.15 x the critical path.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any

from _harness import Moldsim, machine, mwin, spec_text

TARGET_RATIO = 1.15


def measure(vms: int = 200, latency: float = 0.5, parallelism: int = 10) -> dict[str, Any]:
    sim = Moldsim("--job-seconds", str(latency))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "base.yaml").write_text(spec_text(1, 1, 0, 0))
            ready = mwin(sim.url, "apply", "base.yaml", "--auto-approve", cwd=work)
            if ready.code != 0:
                raise SystemExit(f"the base apply failed:\n{ready.err[-3000:]}")
            (work / "spec.yaml").write_text(spec_text(1, 1, vms, 0))
            sim.control("/moldsim/stats/reset", {})
            run = mwin(sim.url, "apply", "spec.yaml", "--auto-approve", "--parallelism",
                       str(parallelism), "--poll-interval", f"{latency}s", cwd=work)
            stats = sim.control("/moldsim/stats")
    finally:
        sim.stop()
    if run.code != 0:
        raise SystemExit(f"apply failed:\n{run.err[-3000:]}")
    by = stats["by_command"]
    jobs = by.get("deployVirtualMachine", 0) + by.get("createTags", 0)
    polls = by.get("queryAsyncJobResult", 0) + by.get("listAsyncJobs", 0)
    critical = math.ceil(vms / parallelism) * latency
    return {"vms": vms, "latency": latency, "parallelism": parallelism, "wall": run.seconds,
            "critical": critical, "ratio": run.seconds / critical, "jobs": jobs,
            "polls": polls, "requests": stats["api_requests"], "by_command": by}


def report(row: dict[str, Any]) -> None:
    print(f"vms={row['vms']} latency={row['latency']}s parallelism={row['parallelism']} "
          f"wall={row['wall']:.1f}s critical_path={row['critical']:.1f}s "
          f"ratio={row['ratio']:.2f} jobs={row['jobs']} polls={row['polls']} "
          f"polls_per_job={row['polls'] / max(row['jobs'], 1):.2f} requests={row['requests']}")


def verdict(row: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(f"apply of {row['vms']} VMs, parallelism {row['parallelism']}, "
             f"{row['latency']} s jobs: wall <= {TARGET_RATIO} x critical path",
             f"{row['wall']:.2f} s / {row['critical']:.1f} s = x{row['ratio']:.2f}",
             row["ratio"] <= TARGET_RATIO)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--parallelism", type=int, default=10)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    row = measure(args.vms, args.latency, args.parallelism)
    report(row)
    for target, figure, holds in verdict(row):
        print(f"target: {target}: {figure}: {'holds' if holds else 'DOES NOT HOLD'}")


if __name__ == "__main__":
    main()

"""How close a parallel `mwin apply` gets to the ideal when every Mold job takes time.

Deploys N independent VMs (default 200) with moldsim's jobs taking --latency seconds
(default 0.5) at --parallelism P (default 10). Each VM issues two jobs, the deploy and its
address tag; mwin tags as soon as Mold returns the VM's id, so the two jobs overlap and the
critical path per VM is one job: the ideal wall time is ceil(N / P) x latency.
Prints the wall time against that ideal and the job polls per job.

    .venv/bin/python benchmarks/apply_parallel.py [--vms 200] [--latency 0.5] [--parallelism 10]
Targets (issue 6): within 1.3x of the ideal, <= 4 polls per job on average.
"""

from __future__ import annotations

import argparse
import math
import platform
import tempfile
from pathlib import Path

from _harness import Moldsim, mwin, spec_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--parallelism", type=int, default=10)
    args = parser.parse_args()
    sim = Moldsim("--job-seconds", str(args.latency))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "base.yaml").write_text(spec_text(1, 1, 0, 0))
            ready = mwin(sim.url, "apply", "base.yaml", "--auto-approve", cwd=work)
            assert ready.code == 0, ready.err
            (work / "spec.yaml").write_text(spec_text(1, 1, args.vms, 0))
            sim.control("/moldsim/stats/reset", {})
            run = mwin(sim.url, "apply", "spec.yaml", "--auto-approve", "--parallelism",
                       str(args.parallelism), "--poll-interval", f"{args.latency}s", cwd=work)
            stats = sim.control("/moldsim/stats")
    finally:
        sim.stop()
    if run.code != 0:
        raise SystemExit(f"apply failed:\n{run.err[-3000:]}")
    by = stats["by_command"]
    jobs = by.get("deployVirtualMachine", 0) + by.get("createTags", 0)
    polls = by.get("queryAsyncJobResult", 0)
    ideal = math.ceil(args.vms / args.parallelism) * args.latency
    print(f"machine: {platform.machine()} python {platform.python_version()}")
    print(f"vms={args.vms} latency={args.latency}s parallelism={args.parallelism} "
          f"wall={run.seconds:.1f}s ideal={ideal:.1f}s ratio={run.seconds / ideal:.2f} "
          f"jobs={jobs} polls={polls} polls_per_job={polls / max(jobs, 1):.2f} "
          f"requests={stats['api_requests']}")


if __name__ == "__main__":
    main()

"""How much a no-change `mwin plan` costs as the spec grows.

For a spec of N declared resources (default 1,000: 150 ISOs, 50 networks, 600 VMs,
200 templates) against a moldsim that also holds foreign objects (default 4,000 more, so
~5,000 in all), this builds the declared objects with one `mwin apply`, then measures a
no-change `mwin plan`: HTTP requests (counted by moldsim), wall time and peak RSS; and the
wall time of `mwin validate`. With --double it repeats at twice the size to show growth.

    .venv/bin/python benchmarks/plan_scale.py [--scale 1.0] [--foreign 4000] [--double]
Targets (issue 6): plan ≤ 30 requests, ≤ 3 s, ≤ 250 MB; validate ≤ 1 s; linear growth.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

from _harness import Moldsim, mwin, spec_text


def measure(scale: float, foreign: int) -> dict[str, float]:
    counts = [round(150 * scale), round(50 * scale), round(600 * scale), round(200 * scale)]
    sim = Moldsim("--job-seconds", "0")
    try:
        sim.control("/moldsim/seed", {"isos": foreign // 4, "networks": foreign // 8,
                                      "vms": foreign // 2, "templates": foreign // 8,
                                      "prefix": "foreign"})
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "spec.yaml").write_text(spec_text(*counts))
            built = mwin(sim.url, "apply", "spec.yaml", "--auto-approve", "--poll-interval", "5ms",
                         "--wait-for-guest-shutdown", "0", "--force-stop", cwd=work)
            if built.code != 0:
                raise SystemExit(f"building the inventory failed:\n{built.err[-3000:]}")
            sim.control("/moldsim/stats/reset", {})
            plan = mwin(sim.url, "plan", "spec.yaml", "--detailed-exitcode", cwd=work)
            stats = sim.control("/moldsim/stats")
            validate = mwin(sim.url, "validate", "spec.yaml", cwd=work)
    finally:
        sim.stop()
    if plan.code != 0:
        raise SystemExit(f"the plan is not empty (exit {plan.code}):\n{plan.out[-2000:]}")
    return {"declared": sum(counts), "in_mold": sum(stats["objects"][k] for k in
                                                    ("isos", "templates", "networks", "vms")),
            "requests": stats["api_requests"], "plan_s": plan.seconds, "plan_rss_mb": plan.max_rss_mb,
            "validate_s": validate.seconds, "build_s": built.seconds}


def report(row: dict[str, float]) -> None:
    print(f"declared={row['declared']:.0f} objects_in_mold={row['in_mold']:.0f} "
          f"plan_requests={row['requests']:.0f} plan_wall={row['plan_s']:.2f}s "
          f"plan_peak_rss={row['plan_rss_mb']:.0f}MB validate_wall={row['validate_s']:.2f}s "
          f"(building the inventory took {row['build_s']:.0f}s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--foreign", type=int, default=4000)
    parser.add_argument("--double", action="store_true", help="also measure at twice the size")
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {platform.processor() or ''} python "
          f"{platform.python_version()}")
    first = measure(args.scale, args.foreign)
    report(first)
    if args.double:
        second = measure(args.scale * 2, args.foreign)
        report(second)
        print(f"growth: declared x{second['declared'] / first['declared']:.2f} -> plan wall "
              f"x{second['plan_s'] / first['plan_s']:.2f}, requests "
              f"x{second['requests'] / first['requests']:.2f}")


if __name__ == "__main__":
    main()

"""Every performance target of issue 17 in one run (`make bench`): each benchmark's figures,
then one line per target with its figure and whether it holds, and the machine they came
from. Exits 1 when a target does not hold.

    .venv/bin/python benchmarks/bench.py [--only plan apply throttled peer] [--no-install]
The peer comparison installs ansible==12.3.0 into its own virtualenv under the cache
directory the first time (benchmarks/peer_ansible.py); --no-install skips it if missing.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import apply_parallel
import apply_throttled
import peer_ansible
import plan_scale
from _harness import machine

Verdicts = list[tuple[str, str, bool]]


def plan() -> Verdicts:
    small = plan_scale.measure(1.0)
    plan_scale.report(small)
    large = plan_scale.measure(10.0)
    plan_scale.report(large)
    growth = large["plan_s"] / small["plan_s"]
    return [*plan_scale.verdict(large),
            (f"plan wall grows <= {plan_scale.TARGET_GROWTH:.0f}x from 1,000 to 10,000 "
             "declared", f"{small['plan_s']:.2f} s -> {large['plan_s']:.2f} s = x{growth:.1f}",
             growth <= plan_scale.TARGET_GROWTH)]


def apply() -> Verdicts:
    row = apply_parallel.measure()
    apply_parallel.report(row)
    return apply_parallel.verdict(row)


def throttled() -> Verdicts:
    row = apply_throttled.compare()
    apply_throttled.report(row)
    return apply_throttled.verdict(row)


def peer(install: bool) -> Callable[[], Verdicts]:
    def run() -> Verdicts:
        cache = peer_ansible.cache_dir(None)
        venv = peer_ansible.install(cache) if install else peer_ansible.venv_of(cache)
        if not (venv / "bin" / "ansible-playbook").exists():
            return [("peer comparison with Ansible", f"no Ansible in {venv}", False)]
        found: Verdicts = []
        for n in (40, 400):
            row = peer_ansible.measure(n, venv, 0.5)
            peer_ansible.report(n, row)
            found += peer_ansible.verdict(n, row)
        return found
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=["plan", "apply", "throttled", "peer"])
    parser.add_argument("--no-install", action="store_true",
                        help="do not install Ansible for the peer comparison")
    args = parser.parse_args()
    benches: dict[str, Callable[[], Verdicts]] = {
        "plan": plan, "apply": apply, "throttled": throttled, "peer": peer(not args.no_install)}
    print(f"machine: {machine()}", flush=True)
    verdicts: Verdicts = []
    for name, bench in benches.items():
        if args.only and name not in args.only:
            continue
        print(f"\n== {name}", flush=True)
        started = time.perf_counter()
        verdicts += bench()
        print(f"({name} took {time.perf_counter() - started:.0f} s)", flush=True)
    print(f"\n== targets (machine: {machine()})")
    for target, figure, holds in verdicts:
        print(f"{'holds' if holds else 'DOES NOT HOLD':>13}  {target}: {figure}")
    failed = sum(not holds for _t, _f, holds in verdicts)
    print(f"{len(verdicts) - failed} of {len(verdicts)} targets hold")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

"""How much a no-change `mwin plan` costs as the spec grows, beside other people's objects.

For a spec of N declared resources (--scale 1: 1,000 = 150 ISOs, 50 networks, 600 VMs, 200
templates) against a moldsim that also holds 2 x N objects of others (half of them another
state's mwin objects, half untagged), it seeds the declared objects straight into moldsim
with their mwin tags (`/moldsim/seed`: address, owner, and a template's revision and source
VM), rebuilds the state from those tags (`mwin state rebuild`), then measures a no-change
`mwin plan`: HTTP requests (counted by moldsim), wall time, peak RSS; and `mwin validate`.
The set-up is not measured: the figures are the plan's.

    .venv/bin/python benchmarks/plan_scale.py [--scale 1] [--foreign-ratio 2] [--growth 10]
With --growth G it also measures at G x the scale and prints how the wall time grew.
Targets (issue 17): at 10,000 declared and 30,000 objects in Mold, <= 40 requests, <= 10 s,
<= 400 MB peak RSS; wall time from 1,000 to 10,000 grows <= 12x.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from _harness import Moldsim, machine, mwin

TARGET_REQUESTS, TARGET_SECONDS, TARGET_MB, TARGET_GROWTH = 40, 10.0, 400.0, 12.0
OTHER_OWNER = "someone-else.0123456789ab"


def counts(scale: float) -> dict[str, int]:
    return {"isos": round(150 * scale), "networks": round(50 * scale),
            "vms": round(600 * scale), "templates": round(200 * scale)}


def spec_text(n: dict[str, int]) -> str:
    """A spec the seeded objects match exactly: every VM is stopped in net-0, deployed from
    iso-0 (as /moldsim/seed makes VMs), every template is made from vm-0."""
    lines = ["version: 1", "defaults: {zone: Zone1}", "isos:"]
    lines += [f"  iso-{i}: {{url: http://images.example/iso-{i}.iso, os_type: Windows PV}}"
              for i in range(n["isos"])]
    lines.append("networks:")
    lines += [f"  net-{i}: {{display_text: bulk}}" for i in range(n["networks"])]
    lines.append("vms:")
    lines += [f"  vm-{i}: {{install_iso: iso-0, compute_offering: 2vCore-4GB, "
              f"disk_offering: 50GB, networks: [net-0], cdrom: null, state: stopped}}"
              for i in range(n["vms"])]
    lines.append("templates:")
    lines += [f"  tpl-{j}: {{from_vm: vm-0, os_type: Windows PV}}" for j in range(n["templates"])]
    return "\n".join(lines) + "\n"


def seed_body(n: dict[str, int], owner: str) -> dict[str, Any]:
    """The declared objects, tagged as mwin tags what it makes (docs/state.md)."""
    short = {"isos": "iso", "networks": "net", "vms": "vm", "templates": "tpl"}
    kind = {"isos": "iso", "networks": "network", "vms": "vm", "templates": "template"}
    body: dict[str, Any] = {"tags": {"mwin:owner": owner}}
    for key, count in n.items():
        body[key] = {"count": count, "names": f"{short[key]}-",
                     "address_prefix": f"{kind[key]}.{short[key]}-"}
    body["templates"]["tags"] = {"mwin:revision": "1", "mwin:from-vm": "vm.vm-0",
                                 "mwin:channel": "stable"}
    return body


def measure(scale: float, foreign_ratio: float = 2.0) -> dict[str, float]:
    n = counts(scale)
    foreign = round(sum(n.values()) * foreign_ratio)
    sim = Moldsim("--job-seconds", "0")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "spec.yaml").write_text(spec_text(n))
            owner = _owner(work / "state" / "mwin.state.json")
            sim.control("/moldsim/seed", seed_body(n, owner))  # first: VMs take net-0, iso-0
            others = {"isos": foreign // 4, "networks": foreign // 8, "vms": foreign // 2,
                      "templates": foreign - foreign // 4 - foreign // 8 - foreign // 2}
            half = {k: v // 2 for k, v in others.items()}
            sim.control("/moldsim/seed", {**half, "prefix": "theirs",
                                          "tags": {"mwin:owner": OTHER_OWNER}})
            sim.control("/moldsim/seed", {**{k: v - half[k] for k, v in others.items()},
                                          "prefix": "untagged"})
            built = mwin(sim.url, "state", "rebuild", cwd=work)
            if built.code != 0:
                raise SystemExit(f"rebuilding the state failed:\n{built.err[-3000:]}")
            sim.control("/moldsim/stats/reset", {})
            plan = mwin(sim.url, "plan", "spec.yaml", "--detailed-exitcode", cwd=work)
            stats = sim.control("/moldsim/stats")
            validate = mwin(sim.url, "validate", "spec.yaml", cwd=work)
    finally:
        sim.stop()
    if plan.code != 0:
        raise SystemExit(f"the plan is not empty (exit {plan.code}):\n{plan.out[-2000:]}"
                         f"\n{plan.err[-2000:]}")
    return {"declared": sum(n.values()),
            "in_mold": sum(stats["objects"][k] for k in ("isos", "templates", "networks", "vms")),
            "requests": stats["api_requests"], "plan_s": plan.seconds,
            "plan_rss_mb": plan.max_rss_mb, "validate_s": validate.seconds,
            "by_command": stats["by_command"]}


def _owner(state_file: Path) -> str:
    """The owner a state at ``state_file`` derives before it is first written (docs/state.md):
    the seeded objects carry it, so the rebuilt state owns them."""
    from reconciler.state.local import LocalState

    owner = LocalState(state_file).read().owner
    assert owner is not None
    return owner


def report(row: dict[str, Any]) -> None:
    print(f"declared={row['declared']:.0f} objects_in_mold={row['in_mold']:.0f} "
          f"plan_requests={row['requests']:.0f} plan_wall={row['plan_s']:.2f}s "
          f"plan_peak_rss={row['plan_rss_mb']:.0f}MB validate_wall={row['validate_s']:.2f}s")
    print("  requests by command: " + ", ".join(f"{k} {v}" for k, v in
                                                 sorted(row["by_command"].items())))


def verdict(row: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, figure, holds) for the figures of the 10,000-resource run."""
    return [
        (f"plan requests <= {TARGET_REQUESTS}", f"{row['requests']:.0f}",
         row["requests"] <= TARGET_REQUESTS),
        (f"plan wall <= {TARGET_SECONDS:.0f} s", f"{row['plan_s']:.2f} s",
         row["plan_s"] <= TARGET_SECONDS),
        (f"plan peak RSS <= {TARGET_MB:.0f} MB", f"{row['plan_rss_mb']:.0f} MB",
         row["plan_rss_mb"] <= TARGET_MB)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 1,000 declared resources")
    parser.add_argument("--foreign-ratio", type=float, default=2.0,
                        help="others' objects per declared one (default 2)")
    parser.add_argument("--growth", type=float, default=0.0,
                        help="also measure at this many times the scale")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    first = measure(args.scale, args.foreign_ratio)
    report(first)
    if not args.growth:
        return
    second = measure(args.scale * args.growth, args.foreign_ratio)
    report(second)
    growth = second["plan_s"] / first["plan_s"]
    print(f"growth: declared x{second['declared'] / first['declared']:.1f} -> plan wall "
          f"x{growth:.2f}, requests x{second['requests'] / first['requests']:.2f}")
    for target, figure, holds in verdict(second) + [
            (f"plan wall grows <= {TARGET_GROWTH:.0f}x from 1,000 to 10,000", f"x{growth:.2f}",
             growth <= TARGET_GROWTH)]:
        print(f"target: {target}: {figure}: {'holds' if holds else 'DOES NOT HOLD'}")


if __name__ == "__main__":
    main()

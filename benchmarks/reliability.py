"""Never lose track, never duplicate: the Windows 11 workflow under faults, many times over.

Each scenario runs the final stage of specs/windows-11 (2 ISOs, a network, a UEFI/TPM VM,
detach, stop, snapshot, template) on an empty moldsim, disturbed one way, then lets mwin
recover with plain `mwin apply` runs (at most --attempts, faults still on), and judges with
the faults cleared:

  converged   `mwin plan --detailed-exitcode` says "no changes"
  duplicates  objects in Mold beyond one per declared name (read from moldsim's own store)
  lost        declared resources missing from Mold or from the state file
  corrupt     a state file that is not whole JSON at any point checked

Scenarios: random-10pct (a seeded 10 % of all requests answered 503 or reset before or after
Mold acted; --seeds runs), reset-after-<command> (the answer to one change is lost after Mold
made it), sigkill-<point> (the apply kills itself with SIGKILL at a crash point, see
reconciler/failpoints.py) and sigkill-random (SIGKILL after a random delay; --seeds runs).
Prints one line per scenario and exits 1 if any run failed to converge or lost, duplicated
or corrupted anything.

    .venv/bin/python benchmarks/reliability.py [--seeds 20] [--share 0.1] [--attempts 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import BIN, KEYS, Moldsim, mwin

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "windows-11" / "06-template.yaml"
DECLARED = {"isos": {"win11", "virtio-win"}, "networks": {"prep-net"},
            "vms": {"win11-master"}, "templates": {"Windows 11 기본 이미지 템플릿"}}
ADDRESSES = {"iso.win11", "iso.virtio-win", "network.prep-net", "vm.win11-master",
             "template.win11-base"}
APPLY = ("apply", str(SPEC), "--auto-approve", "--wait-for-guest-shutdown", "0", "--force-stop",
         "--poll-interval", "20ms", "--recheck-delay", "10ms")
GONE_STATES = {"Destroyed", "Expunging", "Expunged", "Error"}
CRASH_POINTS = ("answered:registerIso", "answered:createNetwork",
                "answered:deployVirtualMachine", "answered:detachIso",
                "answered:stopVirtualMachine", "answered:createVMSnapshot",
                "answered:createTemplate", "before-record:create",
                "before-record:create_template", "state-write@3")
RESET_COMMANDS = ("registerIso", "createNetwork", "deployVirtualMachine", "createTags",
                  "detachIso", "stopVirtualMachine", "createVMSnapshot", "createTemplate")


@dataclass
class Tally:
    tried: int = 0
    converged: int = 0
    duplicates: int = 0
    lost: int = 0
    corrupt: int = 0
    applies: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def line(self, name: str) -> str:
        return (f"scenario={name} tried={self.tried} converged={self.converged} "
                f"duplicates={self.duplicates} lost={self.lost} corrupt={self.corrupt} "
                f"applies={self.applies} wall={self.seconds:.1f}s")

    @property
    def clean(self) -> bool:
        return self.converged == self.tried and not (self.duplicates or self.lost or self.corrupt)


def live_names(sim: Moldsim) -> dict[str, Counter[str]]:
    """Names of the objects moldsim holds (its store, not its API: an independent view)."""
    store = sim.control("/moldsim/dump")
    found: dict[str, Counter[str]] = {}
    for collection in DECLARED:
        rows = store.get(collection, {}).values()
        found[collection] = Counter(str(r.get("name")) for r in rows
                                    if not r.get("removed") and r.get("state") not in GONE_STATES)
    return found


def state_ok(path: Path) -> tuple[bool, set[str]]:
    """(whole JSON or absent, the addresses it records)."""
    if not path.exists():
        return True, set()
    try:
        return True, set(json.loads(path.read_text())["resources"])
    except (ValueError, KeyError):
        return False, set()


def judge(sim: Moldsim, work: Path, tally: Tally, attempts: int) -> None:
    """Recover with plain applies, then count what is wrong."""
    state = work / "state" / "mwin.state.json"
    whole, _ = state_ok(state)
    tally.corrupt += not whole
    for _ in range(attempts):
        tally.applies += 1
        run = mwin(sim.url, *APPLY, cwd=work)
        tally.corrupt += not state_ok(state)[0]
        if run.code == 0:
            break
        if "Traceback" in run.err:
            tally.notes.append(run.err[-400:])
    sim.control("/moldsim/faults", {"clear": True})
    plan = mwin(sim.url, "plan", str(SPEC), "--detailed-exitcode", cwd=work)
    tally.converged += plan.code == 0
    names = live_names(sim)
    tally.duplicates += sum(n - 1 for c in names.values() for n in c.values() if n > 1)
    missing = sum(len(want - set(names[coll])) for coll, want in DECLARED.items())
    whole, recorded = state_ok(state)
    tally.lost += missing + len(ADDRESSES - recorded)
    tally.corrupt += not whole


def scenario(name: str, runs: list[dict[str, Any]], attempts: int) -> Tally:
    """Each run: {"faults": {...}} for moldsim, {"env": {...}} for the first apply, or
    {"kill_after": seconds}."""
    tally = Tally()
    started = time.perf_counter()
    for run in runs:
        sim = Moldsim("--job-seconds", "0.05")
        try:
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                tally.tried += 1
                if run.get("faults"):
                    sim.control("/moldsim/faults", run["faults"])
                if run.get("env"):
                    first = _apply_with_env(sim, work, run["env"])
                    if first.returncode != -signal.SIGKILL:
                        tally.notes.append(f"{name}: the crash point did not fire")
                elif run.get("kill_after") is not None:
                    _apply_killed_after(sim, work, run["kill_after"])
                judge(sim, work, tally, attempts)
        finally:
            sim.stop()
    tally.seconds = time.perf_counter() - started
    return tally


def _env(sim: Moldsim, extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "MOLD_URL": sim.url, **KEYS, "NO_COLOR": "1", **extra}


def _apply_with_env(sim: Moldsim, work: Path, extra: dict[str, str]
                    ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "mwin"), *APPLY], cwd=work, env=_env(sim, extra),
                          capture_output=True, text=True, timeout=300)


def _apply_killed_after(sim: Moldsim, work: Path, seconds: float) -> None:
    proc = subprocess.Popen([str(BIN / "mwin"), *APPLY], cwd=work, env=_env(sim, {}),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def scenarios(args: argparse.Namespace) -> list[tuple[str, list[dict[str, Any]]]]:
    chaos = [{"faults": {"random": [{"share": args.share, "seed": seed,
                                     "modes": ["http_503", "reset_before", "reset_after"]}]}}
             for seed in range(1, args.seeds + 1)]
    rng = random.Random(args.seeds)
    kills = [{"kill_after": rng.uniform(0.3, 3.0)} for _ in range(args.seeds)]
    found = [(f"random-{round(args.share * 100)}pct", chaos), ("sigkill-random", kills)]
    found += [(f"reset-after-{c}", [{"faults": {"reset_after": [{"command": c, "count": 1}]}}])
              for c in RESET_COMMANDS]
    found += [(f"sigkill-{p.replace(':', '-').replace('@', '-')}",
               [{"env": {"MWIN_FAILPOINTS": p}}]) for p in CRASH_POINTS]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="runs of the seeded scenarios")
    parser.add_argument("--share", type=float, default=0.1, help="share of requests failing")
    parser.add_argument("--attempts", type=int, default=3, help="recovery applies per run")
    parser.add_argument("--only", default="", help="run the scenarios whose name contains this")
    args = parser.parse_args()
    clean = True
    for name, runs in scenarios(args):
        if args.only and args.only not in name:
            continue
        tally = scenario(name, runs, args.attempts)
        print(tally.line(name), flush=True)
        for note in tally.notes:
            print(f"  note: {note}", file=sys.stderr)
        clean = clean and tally.clean and not tally.notes
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Small versions of the benchmarks: they count requests, never time anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import apply_throttled
import peer_ansible
import plan_scale


def test_plan_requests_do_not_grow_with_the_declared_resources_or_the_others() -> None:
    small = plan_scale.measure(0.02)
    larger = plan_scale.measure(0.06, foreign_ratio=4)
    assert larger["declared"] == 3 * small["declared"]
    assert larger["in_mold"] == 3 * 5 * small["declared"]
    assert small["requests"] <= plan_scale.TARGET_REQUESTS
    assert larger["requests"] == small["requests"]  # O(kinds x pages of mine), not O(objects)
    assert "listVolumes" not in larger["by_command"]  # no VM declares a disk size
    assert "listVMSnapshot" not in larger["by_command"]  # nor snapshots


def test_apply_benchmark_runs_and_reports_polls_per_job() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "apply_parallel.py"),
                          "--vms", "6", "--latency", "0.1", "--parallelism", "3"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    fields = dict(part.split("=", 1) for part in run.stdout.split() if "=" in part)
    assert fields["vms"] == "6" and int(fields["jobs"]) == 12
    assert float(fields["polls_per_job"]) <= 4


def test_iso_creation_costs_two_requests_each_and_no_change_costs_three_in_all() -> None:
    """mwin's side of the peer comparison (Ansible is not a test dependency): per ISO a
    registerIso and a createTags; waits and refresh shared by all."""
    n = 12
    row = peer_ansible.measure_tool("mwin", n, 0.0)
    by = row["mwin_create"]["by_command"]
    assert by["registerIso"] == n and by["createTags"] == n
    assert row["mwin_create"]["requests"] - 2 * n <= 10  # catalog, lists, shared waits
    assert row["mwin_nochange"]["by_command"] == {"listZones": 1, "listOsTypes": 1,
                                                  "listIsos": 1}


def test_an_apply_under_the_api_limit_learns_it_from_a_few_429s() -> None:
    free = apply_throttled.measure(4, 0.05, 4, None)
    limited = apply_throttled.measure(4, 0.05, 4, "10/0.5")
    assert free["refused"] == 0
    assert limited["refused"] <= apply_throttled.MAX_REFUSALS
    # what changes Mold is sent once more at most per 429 (how often it polls is time's)
    assert changes(limited) <= changes(free) + limited["refused"]
    assert changes(free) == 8  # a deployVirtualMachine and a createTags per VM


def changes(run: dict[str, Any]) -> int:
    return sum(n for command, n in run["by_command"].items()
               if not command.startswith(("list", "query")))

"""API faults and hostile answers: the real CLI against moldsim's fault injection.

A change whose answer is lost (connection reset after Mold acted, a garbled 200) is checked
against what Mold holds: adopted when it happened, sent again when it did not. Jobs that never
finish fail their action at the deadline, naming the job. Answers mwin cannot use are clear
errors naming the command. With a share of all requests failing, the Windows workflow still
converges with no duplicates.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from moldsim.server import MoldSim
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

ROOT = Path(__file__).resolve().parents[2]
FINAL = ROOT / "specs" / "windows-11" / "06-template.yaml"
FIRST = ROOT / "specs" / "windows-11" / "01-deploy.yaml"
APPLY = ("--auto-approve", "--wait-for-guest-shutdown", "0", "--force-stop")
ISOS = """\
version: 1
defaults: {zone: Zone1}
isos:
  win11: {url: https://example.com/win11.iso, os_type: Windows 11 (64-bit)}
  virtio-win: {url: https://example.com/virtio-win.iso, bootable: false}
"""


def counts(mold: MoldApi) -> dict[str, Counter[str]]:
    lists = {"iso": ("listIsos", "iso", {"isofilter": "self"}),
             "network": ("listNetworks", "network", {}),
             "vm": ("listVirtualMachines", "virtualmachine", {}),
             "template": ("listTemplates", "template", {"templatefilter": "self"})}
    return {kind: Counter(str(r.get("name")) for r in mold.items(cmd, key, listall=True, **extra))
            for kind, (cmd, key, extra) in lists.items()}


def duplicates(mold: MoldApi) -> list[str]:
    return [f"{kind}:{name}" for kind, names in counts(mold).items()
            for name, n in names.items() if n > 1]


# --- "did it happen?" -------------------------------------------------------------------

def test_create_whose_answer_was_lost_after_mold_acted_is_adopted_not_repeated(
        sim: MoldSim, mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = tmp_path / "isos.yaml"
    spec.write_text(ISOS)
    sim.set_faults(reset_after=[{"command": "registerIso", "count": 2}])
    run = mwin("apply", str(spec), "--auto-approve")
    assert run.code == 0, run.err
    assert run.err.count("no answer to registerIso") == 2
    assert run.err.count("Mold did carry out registerIso") == 2
    assert counts(mold)["iso"] == Counter({"win11": 1, "virtio-win": 1})
    assert mwin("plan", str(spec), "--detailed-exitcode").code == 0


def test_change_whose_answer_was_garbled_is_checked_and_sent_again(
        sim: MoldSim, mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = tmp_path / "isos.yaml"
    spec.write_text(ISOS)
    sim.set_faults(bad_responses=[{"command": "registerIso", "kind": "malformed_json",
                                   "count": 1}])
    run = mwin("apply", str(spec), "--auto-approve")
    assert run.code == 0, run.err
    assert "no answer to registerIso" in run.err and "sending it again" in run.err
    assert counts(mold)["iso"] == Counter({"win11": 1, "virtio-win": 1})


def test_answers_slower_than_the_client_timeout(sim: MoldSim, mwin: Mwin, mold: MoldApi,
                                               tmp_path: Path) -> None:
    """A read that times out is asked again; a change that times out may still be running in
    Mold: mwin looks again at growing intervals and adopts it once it shows."""
    spec = tmp_path / "isos.yaml"
    spec.write_text(ISOS)
    mwin.env["MOLD_HTTP_TIMEOUT"] = "0.3"
    sim.set_faults(delays=[{"command": "listIsos", "seconds": 0.6, "count": 1},
                           {"command": "registerIso", "seconds": 0.8, "count": 1}])
    run = mwin("apply", str(spec), "--auto-approve", "--recheck-delay", "400ms")
    assert run.code == 0, run.err
    assert "no answer to registerIso (timed out talking to" in run.err
    assert "Mold did carry out registerIso" in run.err
    assert counts(mold)["iso"] == Counter({"win11": 1, "virtio-win": 1})


@pytest.mark.parametrize("command, verdict", [
    ("createNetwork", "Mold did carry out"), ("deployVirtualMachine", "Mold did carry out"),
    ("detachIso", "Mold did carry out"), ("stopVirtualMachine", "Mold did carry out"),
    ("createVMSnapshot", "Mold did carry out"), ("createTemplate", "Mold did carry out"),
    # A tag job leaves no trace until it ends: whether a look sees it depends on timing. If
    # not, it is sent again and Mold refuses the duplicate once the first lands: done either way.
    ("createTags", "Mold did( not)? carry out"),
])
def test_every_step_kind_survives_a_reset_after_mold_acted(
        sim: MoldSim, mwin: Mwin, mold: MoldApi, command: str, verdict: str) -> None:
    sim.set_faults(reset_after=[{"command": command, "count": 1}])
    run = mwin("apply", str(FINAL), *APPLY)
    assert run.code == 0, run.err
    assert f"no answer to {command}" in run.err
    assert re.search(f"{verdict} {command}", run.err), run.err
    assert duplicates(mold) == []
    tags = mold.items("listTags", "tag", listall=True)
    assert sorted(t["value"] for t in tags if t["key"] == "mwin:address") == sorted(
        ["iso.win11", "iso.virtio-win", "network.prep-net", "vm.win11-master",
         "template.win11-base"])
    assert mwin("plan", str(FINAL), "--detailed-exitcode").code == 0


# --- jobs that never finish -----------------------------------------------------------------

def test_job_that_never_finishes_fails_at_its_deadline_naming_the_job(
        sim: MoldSim, mwin: Mwin, mold: MoldApi) -> None:
    sim.set_faults(hang_jobs=[{"command": "deployVirtualMachine", "count": 1}])
    run = mwin("apply", str(FINAL), *APPLY, "--job-timeout", "500ms", "--json")
    assert run.code == 1
    [vm] = mold.items("listVirtualMachines", "virtualmachine", listall=True)
    assert vm["state"] != "Running" and vm.get("jobid") and vm.get("jobstatus") == 0
    assert f"deployVirtualMachine job {vm['jobid']} did not finish within 0.5s" in run.err
    events = [json.loads(line) for line in run.out.splitlines()]
    finished = {e["address"] for e in events if e["type"] == "action_finished"}
    skipped = {(e["address"], e["operation"]) for e in events if e["type"] == "action_skipped"}
    assert finished == {"iso.win11", "iso.virtio-win", "network.prep-net"}
    assert skipped == {("vm.win11-master", "detach_iso"), ("vm.win11-master", "stop"),
                       ("vm.win11-master", "create_snapshot"),
                       ("template.win11-base", "create_template")}


# --- answers mwin cannot use ----------------------------------------------------------------

@pytest.mark.parametrize("kind, expected", [
    ("html", "listIsos: HTTP 502 without a Mold JSON answer (text/html"),
    ("malformed_json", "listIsos: HTTP 200 without a Mold JSON answer"),
    ("empty", "listIsos: HTTP 200 without a Mold JSON answer"),
    ("errorresponse_200", "listIsos failed (530): "),
    ("missing_fields", "listIsos: Mold's answer is not what mwin understands (an object lacks "
                       "the field 'id')"),
])
def test_answers_mwin_cannot_use_are_clear_errors_naming_the_command(
        sim: MoldSim, mwin: Mwin, tmp_path: Path, kind: str, expected: str) -> None:
    spec = tmp_path / "isos.yaml"
    spec.write_text(ISOS)
    assert mwin("apply", str(spec), "--auto-approve").code == 0
    sim.set_faults(bad_responses=[{"command": "listIsos", "kind": kind, "count": -1}])
    run = mwin("plan", str(spec))
    assert run.code == 1
    assert expected in run.err, run.err
    assert "Traceback" not in run.err and run.out == ""


# --- a share of every request fails -----------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_windows_workflow_converges_with_ten_percent_of_requests_failing(
        sim: MoldSim, mwin: Mwin, mold: MoldApi, seed: int) -> None:
    sim.set_faults(random=[{"share": 0.1, "seed": seed,
                            "modes": ["http_503", "reset_before", "reset_after"]}])
    runs = [mwin("apply", str(FINAL), *APPLY) for _ in range(3)]
    sim.set_faults(clear=True)
    assert any(r.code == 0 for r in runs), [r.err for r in runs]
    assert all("Traceback" not in r.err for r in runs)
    assert mwin("plan", str(FINAL), "--detailed-exitcode").code == 0
    assert duplicates(mold) == []
    found = counts(mold)
    assert sum(found["vm"].values()) == 1 and sum(found["template"].values()) == 1

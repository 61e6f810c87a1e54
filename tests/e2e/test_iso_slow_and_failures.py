"""ISOs when Mold takes its time or fails: progress, readiness, failed jobs and downloads.

The real `mwin` CLI runs against an in-process moldsim over HTTP; faults are injected
through moldsim's own control interface (`set_faults`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from moldsim.server import MoldSim
from tests.helpers.checks import isos_in_mold, write
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

SPEC = """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022:
    url: https://example.com/SERVER_EVAL_x64FRE_en-us.iso
    os_type: Windows PV
  virtio-win:
    url: https://example.com/virtio-win.iso
    bootable: false
"""




def state_resources(mwin: Mwin) -> dict[str, Any]:
    return dict(json.loads(mwin.state.read_text(encoding="utf-8"))["resources"])


def no_traceback(text: str) -> bool:
    return "Traceback" not in text and "mwin hit an internal error" not in text


@pytest.fixture
def slow_sim() -> Iterator[MoldSim]:
    # Jobs take 1 s; a download takes 3 s, longer than the tagging job that precedes the
    # wait for readiness, as with any real ISO.
    with MoldSim(job_seconds=1.0, download_seconds=3.0) as server:
        yield server


def test_slow_apply_shows_download_progress_and_waits_for_readiness(
        slow_sim: MoldSim, tmp_path: Path) -> None:
    mwin, mold = Mwin(slow_sim.url, tmp_path), MoldApi(slow_sim.url)
    spec = write(tmp_path / "spec.yaml", SPEC)
    started = time.monotonic()
    run = mwin("apply", str(spec), "--auto-approve")
    took = time.monotonic() - started
    assert run.code == 0, run.err
    assert took >= 3.0  # it waited for the downloads, not only for the jobs
    progress = [line for line in run.err.splitlines() if "% Downloaded" in line]
    assert progress, run.err
    assert all(line.endswith("s elapsed]") for line in progress)
    assert any(line.startswith("iso.win2022 (create): ") for line in progress)
    assert "Apply complete! 2 action(s) done." in run.out

    held = isos_in_mold(mold)  # checked the moment apply returned
    assert sorted(held) == ["virtio-win", "win2022"]
    assert all(row["isready"] is True for row in held.values())
    assert {row["status"] for row in held.values()} == {"Successfully Installed"}
    mold.close()


def test_failed_delete_job_names_command_and_errortext_and_keeps_finished_state(
        sim: MoldSim, mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", SPEC)
    assert mwin("apply", str(spec), "--auto-approve").code == 0
    ids = {name: row["id"] for name, row in isos_in_mold(mold).items()}
    serial = json.loads(mwin.state.read_text(encoding="utf-8"))["serial"]

    sim.set_faults(fail_jobs=[{"command": "deleteIso", "errortext": "simulated failure"}])
    write(spec, "version: 1\nisos: {}\n")  # declares nothing: deleting it all is asked for
    run = mwin("apply", str(spec), "--auto-approve", "--allow-empty-spec")
    assert run.code == 1
    assert no_traceback(run.err) and no_traceback(run.out)
    failed = [line for line in run.err.splitlines() if line.startswith("  #")]
    assert len(failed) == 1
    assert "deleteIso job " in failed[0] and failed[0].endswith("failed (530): simulated failure")
    assert "Apply failed: 1 action(s) done, 1 failed, 0 skipped." in run.err

    left = state_resources(mwin)  # the delete that worked is recorded, the other is not
    assert len(left) == 1
    (address, record), = left.items()
    survivor = address.split(".", 1)[1]
    assert record["id"] == ids[survivor]
    assert sorted(isos_in_mold(mold)) == [survivor]
    assert json.loads(mwin.state.read_text(encoding="utf-8"))["serial"] == serial + 1

    retry = mwin("plan", str(spec), "--json", "--allow-empty-spec")
    assert [(a["address"], a["operation"]) for a in retry.json()["actions"]] == [(address, "delete")]
    assert mwin("apply", str(spec), "--auto-approve", "--allow-empty-spec").code == 0
    assert isos_in_mold(mold) == {} and state_resources(mwin) == {}


def test_failed_tag_job_fails_the_create_and_the_next_run_adopts_instead_of_duplicating(
        sim: MoldSim, mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", SPEC)
    sim.set_faults(fail_jobs=[{"command": "createTags", "errortext": "simulated failure"}])
    run = mwin("apply", str(spec), "--auto-approve")
    assert run.code == 1 and no_traceback(run.err)
    assert "createTags job " in run.err and "failed (530): simulated failure" in run.err
    # both: an ISO is recorded as soon as Mold has it, before its tags
    assert sorted(state_resources(mwin)) == ["iso.virtio-win", "iso.win2022"]

    again = mwin.plan_json(spec)
    [(address, operation, reason)] = [(a["address"], a["operation"], a["reason"])
                                      for a in again["actions"]]  # the one whose tags failed
    assert operation == "adopt" and reason == ("recorded in this state but not tagged (its "
                                               f"tagging failed or was cut short): tag it {address}")
    assert again["summary"]["add"] == 0
    assert mwin("apply", str(spec), "--auto-approve").code == 0
    assert sorted(isos_in_mold(mold)) == ["virtio-win", "win2022"]  # no duplicate
    assert sorted(state_resources(mwin)) == ["iso.virtio-win", "iso.win2022"]
    assert mwin("plan", str(spec), "--detailed-exitcode").code == 0


def test_adopted_iso_gets_its_address_tag(
        sim: MoldSim, mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", SPEC)
    sim.set_faults(fail_jobs=[{"command": "createTags", "errortext": "simulated failure",
                               "count": 2}])
    assert mwin("apply", str(spec), "--auto-approve").code == 1
    assert mwin("apply", str(spec), "--auto-approve").code == 0
    tags = {name: {t["key"]: t["value"] for t in row["tags"]}
            for name, row in isos_in_mold(mold).items()}
    owner = {"mwin:owner": mwin.owner()}
    assert tags == {"win2022": {"mwin:address": "iso.win2022", **owner},
                    "virtio-win": {"mwin:address": "iso.virtio-win", **owner}}


def test_failed_download_is_a_clear_error(tmp_path: Path) -> None:
    with MoldSim(job_seconds=0.05, download_seconds=0.4) as sim:
        sim.set_faults(fail_downloads=[{"name_contains": "virtio"}])
        mwin = Mwin(sim.url, tmp_path)
        spec = write(tmp_path / "spec.yaml", SPEC)
        started = time.monotonic()
        run = mwin("apply", str(spec), "--auto-approve", "--ready-timeout", "3s")
        assert run.code == 1 and no_traceback(run.err)
        assert "Apply failed: 1 action(s) done, 1 failed, 0 skipped." in run.err
        failed = [line for line in run.err.splitlines()
                  if line.startswith("iso.virtio-win (create): FAILED: ")]
        assert len(failed) == 1
        assert "Download failed: HTTP Server returned 404 (expected 200 OK)" in failed[0]
        assert time.monotonic() - started < 3  # failed when Mold said so, not at the deadline
        # recorded before the wait: state knows the ISO Mold holds, so nothing is lost
        assert sorted(state_resources(mwin)) == ["iso.virtio-win", "iso.win2022"]
        broken = state_resources(mwin)["iso.virtio-win"]["id"]
        again = mwin.plan_json(spec)  # Mold keeps the failed ISO, never ready: replace it
        assert [(a["address"], a["operation"]) for a in again["actions"]] == [
            ("iso.virtio-win", "delete"), ("iso.virtio-win", "replace")]  # one broken at most
        assert again["actions"][1]["reason"] == (
            "its download failed in Mold (Download failed: HTTP Server returned 404 (expected "
            "200 OK)): register it again")
        sim.set_faults(clear=True)  # the URL works again
        assert mwin("apply", str(spec), "--auto-approve").code == 0
        with MoldApi(sim.url) as mold:
            held = isos_in_mold(mold)
        assert sorted(held) == ["virtio-win", "win2022"] and held["virtio-win"]["isready"]
        assert held["virtio-win"]["id"] != broken
        assert "No changes." in mwin("plan", str(spec)).out


def test_an_iso_still_downloading_is_deleted_once_its_download_ends(tmp_path: Path) -> None:
    """Mold refuses deleteIso while the ISO downloads ("Please specify a template that is not
    currently being downloaded.", HypervisorTemplateAdapter.delete): an apply that stopped
    waiting leaves one behind, and the destroy after it waits for the download, then deletes."""
    with MoldSim(job_seconds=0.05, download_seconds=1.5) as sim, MoldApi(sim.url) as mold:
        mwin = Mwin(sim.url, tmp_path)
        spec = write(tmp_path / "spec.yaml", SPEC)
        stopped = mwin("apply", str(spec), "--auto-approve", "--ready-timeout", "100ms")
        assert stopped.code == 1 and no_traceback(stopped.err)
        assert {row["isready"] for row in isos_in_mold(mold).values()} == {False}
        gone = mwin("destroy", str(spec), "--auto-approve")
        assert gone.code == 0, gone.err
        assert "is still downloading, and Mold deletes no image while it downloads" in gone.err
        assert isos_in_mold(mold) == {}
        assert state_resources(mwin) == {}


def test_an_untagged_iso_still_downloading_is_really_deleted(tmp_path: Path) -> None:
    """Its tagging failed, so it lacks the owner tag the shared readiness poll filters by: the
    wait for its download reads it unfiltered, and it is deleted, not reported gone."""
    with MoldSim(job_seconds=0.05, download_seconds=2.0) as sim, MoldApi(sim.url) as mold:
        mwin = Mwin(sim.url, tmp_path)
        spec = write(tmp_path / "spec.yaml", SPEC)
        sim.set_faults(fail_jobs=[{"command": "createTags"}])
        assert mwin("apply", str(spec), "--auto-approve").code == 1
        sim.set_faults(clear=True)
        assert sorted(state_resources(mwin)) == ["iso.virtio-win", "iso.win2022"]
        assert mwin("destroy", str(spec), "--auto-approve").code == 0
        assert isos_in_mold(mold) == {} and state_resources(mwin) == {}

"""The wait for the guest to power itself off (sysprep /shutdown) before a template: a guest that
powers off during the wait is never stopped by Mold (its disk is generalized as it is); one that
does not is an error that names the wait and the ways on, and nothing is stopped or made."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from moldsim.server import MoldSim
from tests.helpers.checks import ok
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

TWO = Path(__file__).resolve().parents[2] / "specs" / "windows-11-two-drives"


@pytest.fixture
def europa() -> Iterator[MoldSim]:
    with MoldSim(job_seconds=0.05, profile="mold-4.23", guest_poweroff_detect_seconds=0.1) as sim:
        yield sim


def deployed(sim: MoldSim, tmp_path: Path) -> tuple[Mwin, str]:
    mwin = Mwin(sim.url, tmp_path)
    ok(mwin("apply", str(TWO / "01-deploy.yaml"), "--auto-approve"))
    with MoldApi(sim.url) as mold:
        [vm] = mold.items("listVirtualMachines", "virtualmachine", name="win11-master")
    sim.control("POST", "/moldsim/stats/reset")
    return mwin, str(vm["id"])


def test_a_guest_that_powers_off_during_the_wait_is_not_stopped(europa: MoldSim,
                                                                tmp_path: Path) -> None:
    mwin, vm_id = deployed(europa, tmp_path)
    later = threading.Timer(0.5, europa.guest_poweroff, args=(vm_id,))  # sysprep ends
    later.start()
    try:
        done = ok(mwin("apply", str(TWO / "02-template.yaml"), "--auto-approve",
                       "--wait-for-guest-shutdown", "30s"))
    finally:
        later.cancel()
    assert "waiting up to 30s for the guest to power off (sysprep /shutdown)" in done.err
    assert "the guest powered off by itself" in done.err
    sent = europa.control("GET", "/moldsim/stats")["by_command"]
    assert "stopVirtualMachine" not in sent and sent["createTemplate"] == 1


def test_a_guest_that_stays_on_is_an_error_and_nothing_is_stopped(europa: MoldSim,
                                                                 tmp_path: Path) -> None:
    mwin, _ = deployed(europa, tmp_path)
    failed = mwin("apply", str(TWO / "02-template.yaml"), "--auto-approve",
                  "--wait-for-guest-shutdown", "300ms")
    assert failed.code == 1
    assert ("vm.win11-master did not power off by itself within 0.3s, so its disk may not be "
            "generalized") in failed.err
    assert "--force-stop" in failed.err and "--wait-for-guest-shutdown" in failed.err
    sent = europa.control("GET", "/moldsim/stats")["by_command"]
    assert "stopVirtualMachine" not in sent and "createTemplate" not in sent
    with MoldApi(europa.url) as mold:
        [vm] = mold.items("listVirtualMachines", "virtualmachine", name="win11-master")
        assert vm["state"] == "Running"
        assert mold.items("listTemplates", "template", templatefilter="self") == []


def test_a_vm_deployed_by_this_apply_is_stopped_without_waiting(europa: MoldSim,
                                                                tmp_path: Path) -> None:
    """A VM declared stopped that this apply deploys (or redeploys with --replace) has no
    guest to shut down yet: its stop waits for nothing, whatever --wait-for-guest-shutdown."""
    mwin = Mwin(europa.url, tmp_path)
    spec = tmp_path / "stopped.yaml"
    spec.write_text((TWO / "01-deploy.yaml").read_text(encoding="utf-8").replace(
        "state: running", "state: stopped").replace("    lifecycle: {protect: true}", ""),
        encoding="utf-8")
    for extra in ((), ("--replace", "vm.win11-master")):
        done = ok(mwin("apply", str(spec), "--auto-approve", "--wait-for-guest-shutdown",
                       "30s", *extra))
        assert "waiting up to 30s" not in done.err
        assert "declared stopped (just deployed: no guest to shut down first)" in done.out
    with MoldApi(europa.url) as mold:
        [vm] = mold.items("listVirtualMachines", "virtualmachine", name="win11-master")
    assert vm["state"] == "Stopped"

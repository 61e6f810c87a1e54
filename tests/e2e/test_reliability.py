"""Never lose track, never duplicate: interrupted applies, locks, corrupt state, API faults,
secrets. The real CLI against moldsim over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from moldsim.server import MoldSim
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import API_KEY, SECRET_KEY, MoldApi

SPEC = """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022: {url: https://example.com/ws2022.iso, os_type: Windows PV}
  virtio-win: {url: https://example.com/virtio-win.iso, bootable: false}
  win11: {url: https://example.com/win11.iso, os_type: Windows 11 (64-bit)}
"""


@pytest.fixture
def slow_sim() -> Iterator[MoldSim]:
    with MoldSim(job_seconds=1.5) as server:
        yield server


def _spawn_apply(mwin: Mwin, spec: Path, *extra: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "reconciler", "apply", str(spec), "--auto-approve",
            "--state", str(mwin.state), "--poll-interval", "50ms", "--parallelism", "1", *extra]
    return subprocess.Popen(argv, cwd=mwin.workdir, env=mwin.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _isos(mold: MoldApi) -> list[dict]:
    return mold.items("listIsos", "iso", isofilter="self", listall=True)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupted_apply_keeps_state_and_the_next_run_adopts(
        slow_sim: MoldSim, tmp_path: Path, signum: int, code: int) -> None:
    mwin = Mwin(slow_sim.url, tmp_path)
    mold = MoldApi(slow_sim.url)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    proc = _spawn_apply(mwin, spec)
    _wait_for(lambda: len(_isos(mold)) >= 1)  # the first registerIso went through
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == code, err
    assert "Interrupted by" in err and "Traceback" not in err
    recorded = json.loads(mwin.state.read_text())["resources"] if mwin.state.exists() else {}
    registered = {i["name"] for i in _isos(mold)}
    assert {a.split(".", 1)[1] for a in recorded} <= registered

    plan = mwin.plan_json(spec)  # the lock is free again, and nothing registered is created twice
    creates = {a["address"].split(".", 1)[1] for a in plan["actions"] if a["operation"] == "create"}
    assert not creates & registered
    converged = mwin("apply", str(spec), "--auto-approve")
    assert converged.code == 0, converged.err
    names = sorted(i["name"] for i in _isos(mold))
    assert names == ["virtio-win", "win11", "win2022"]  # no duplicates
    assert mwin("plan", str(spec), "--detailed-exitcode").code == 0
    mold.close()


def test_second_apply_waits_for_the_lock_then_names_the_holder(slow_sim: MoldSim,
                                                                tmp_path: Path) -> None:
    mwin = Mwin(slow_sim.url, tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    first = _spawn_apply(mwin, spec)
    _wait_for(lambda: (tmp_path / "state" / "mwin.state.json.lock").exists()
              and (tmp_path / "state" / "mwin.state.json.lock").read_text().strip() != "")
    started = time.monotonic()
    second = mwin("apply", str(spec), "--auto-approve", "--lock-timeout", "500ms")
    waited = time.monotonic() - started
    assert second.code == 1
    assert f"pid {first.pid}" in second.err and "operation apply" in second.err
    assert waited >= 0.5
    first.communicate(timeout=60)
    assert first.returncode == 0


def test_corrupt_state_is_named_and_rebuilt_from_tags(mwin: Mwin, mold: MoldApi,
                                                      tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    assert mwin("apply", str(spec), "--auto-approve").code == 0
    mwin.state.write_text('{"format_version": 1, "lineage": "x", "resources": {')
    broken = mwin("plan", str(spec))
    assert broken.code == 1 and "Traceback" not in broken.err
    assert str(mwin.state) in broken.err and ".backup" in broken.err
    rebuilt = mwin("state", "rebuild")
    assert rebuilt.code == 0, rebuilt.err
    assert "3 resource(s)" in rebuilt.out
    assert mwin("plan", str(spec), "--detailed-exitcode").code == 0


def test_future_state_format_is_refused(mwin: Mwin, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    mwin.state.parent.mkdir(parents=True)
    mwin.state.write_text(json.dumps({"format_version": 99, "lineage": "x", "serial": 1,
                                      "resources": {}}))
    run = mwin("plan", str(spec))
    assert run.code == 1 and "format_version 99" in run.err


def test_reads_retry_through_503_and_a_refused_mutation_is_checked_then_sent_again(
        sim: MoldSim, mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    sim.set_faults(http_errors=[{"command": "listIsos", "status": 503, "count": 2},
                                {"command": "queryAsyncJobResult", "status": 502, "count": 2}])
    assert mwin("apply", str(spec), "--auto-approve").code == 0
    # 503: nothing behind the proxy took it, so it is sent again at once. 502: the answer was
    # lost; mwin looks for the ISO, finds none, and only then sends it again.
    sim.set_faults(clear=True, http_errors=[{"command": "registerIso", "status": 503, "count": 1},
                                            {"command": "registerIso", "status": 502, "count": 1}])
    spec.write_text(SPEC + "  extra: {url: https://example.com/extra.iso, bootable: false}\n")
    run = mwin("apply", str(spec), "--auto-approve")
    assert run.code == 0, run.err
    assert "no answer to registerIso" in run.err and "sending it again" in run.err
    assert sim.faults.snapshot()["http_errors"] == [
        {"command": "registerIso", "status": 503, "count": 0},
        {"command": "registerIso", "status": 502, "count": 0}]  # both fired
    assert sorted(i["name"] for i in _isos(mold)) == ["extra", "virtio-win", "win11", "win2022"]


def test_no_secret_in_any_output_log_plan_or_state(mwin: Mwin, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    saved = tmp_path / "p.plan"
    runs = [mwin("--debug", "plan", str(spec), "-o", str(saved)),
            mwin("--debug", "apply", str(saved)),
            mwin("--debug", "plan", str(spec), "--json"),
            mwin("apply", str(spec), "--auto-approve", "--json")]
    spec.write_text(SPEC.replace("ws2022.iso", "ws2022-v2.iso"))
    runs.append(mwin("--debug", "apply", str(spec), "--auto-approve"))
    texts = [r.out + r.err for r in runs]
    texts += [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert any("registerIso" in t for t in texts)  # the debug log is there
    for text in texts:
        assert SECRET_KEY not in text
        assert API_KEY not in text
        assert "signature=" not in text.lower()


def test_keys_from_the_environment_only(sim: MoldSim, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOLD_", "CLOUDSTACK_"))}
    env["HOME"] = str(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    run = subprocess.run([sys.executable, "-m", "reconciler", "plan", str(tmp_path / "s.yaml")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "MOLD_URL" in run.stderr and "MOLD_SECRET_KEY" in run.stderr

"""Locks whose holder is gone: reported, taken over, and cleared with `mwin state unlock ID`.
The real CLI, its state file and a killed `mwin apply`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from moldsim.server import MoldSim
from tests.helpers.cli import Mwin

SPEC = """\
version: 1
defaults: {zone: Zone1}
isos:
  win11: {url: https://example.com/win11.iso, os_type: Windows 11 (64-bit)}
  virtio-win: {url: https://example.com/virtio-win.iso, bootable: false}
"""


def killed_apply(mwin: Mwin, spec: Path) -> dict:
    """An apply killed (SIGKILL) after its first change: its lock record stays behind."""
    mwin.env["MWIN_FAILPOINTS"] = "answered:registerIso"
    try:
        assert mwin("apply", str(spec), "--auto-approve").code == -signal.SIGKILL
    finally:
        del mwin.env["MWIN_FAILPOINTS"]
    return dict(json.loads(mwin.state.with_name(mwin.state.name + ".lock").read_text()))


def test_a_dead_holders_lock_is_taken_over_and_reported(mwin: Mwin, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    left = killed_apply(mwin, spec)
    run = mwin("apply", str(spec), "--auto-approve")
    assert run.code == 0, run.err
    assert (f"note: the previous holder of the lock on state {mwin.state}, pid {left['pid']} "
            f"on {left['host']} (operation apply, since {left['since']}, lock ID {left['id']}), "
            "ended without releasing it; taken over") in run.err


def test_unlock_needs_the_right_id_and_a_confirmation(mwin: Mwin, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    left = killed_apply(mwin, spec)
    wrong = mwin("state", "unlock", "not-the-id", "--force")
    assert wrong.code == 1
    assert f"lock ID not-the-id does not match the lock on state {mwin.state}: it is " \
           f"{left['id']}" in wrong.err
    unasked = mwin("state", "unlock", left["id"])
    assert unasked.code == 1 and "refusing to go on without confirmation" in unasked.err
    done = mwin("state", "unlock", left["id"], "--force")
    assert done.code == 0, done.err
    assert done.out.startswith(f"Cleared lock {left['id']} on state {mwin.state}")
    again = mwin("state", "unlock", left["id"], "--force")
    assert again.code == 1 and "is not locked" in again.err
    quiet = mwin("apply", str(spec), "--auto-approve")
    assert quiet.code == 0 and "taken over" not in quiet.err


def test_a_live_holder_is_named_with_its_lock_id_and_never_unlocked_under_it(
        tmp_path: Path) -> None:
    with MoldSim(job_seconds=2.0) as slow:
        mwin = Mwin(slow.url, tmp_path)
        spec = tmp_path / "spec.yaml"
        spec.write_text(SPEC)
        argv = [sys.executable, "-m", "reconciler", "apply", str(spec), "--auto-approve",
                "--state", str(mwin.state), "--poll-interval", "50ms"]
        holder = subprocess.Popen(argv, cwd=tmp_path, env=mwin.env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        lock = mwin.state.with_name(mwin.state.name + ".lock")
        try:
            deadline = time.monotonic() + 15
            while not (lock.exists() and lock.read_text()):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            lock_id = json.loads(lock.read_text())["id"]
            blocked = mwin("apply", str(spec), "--auto-approve")
            assert blocked.code == 1
            assert f"lock ID {lock_id})" in blocked.err
            assert f"clear the lock with `mwin state unlock {lock_id}`" in blocked.err
            refused = mwin("state", "unlock", lock_id, "--force")
            assert refused.code == 1
            assert f"process {holder.pid} on this host still holds the lock" in refused.err
        finally:
            holder.kill()
            holder.wait(timeout=10)

"""Locks whose holder is gone: reported, taken over, and cleared with `mwin state unlock ID`.
The real CLI, its state file and a killed `mwin apply`."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

from moldsim.server import MoldSim
from tests.helpers.cli import Mwin, Run

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
        assert mwin("apply", str(spec), "--auto-approve", process=True).code == -signal.SIGKILL
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


def holder_of(left: dict) -> str:
    return (f"pid {left['pid']} on {left['host']} (operation apply, since {left['since']}, "
            f"lock ID {left['id']})")


def test_unlock_needs_the_right_id_and_a_confirmation(mwin: Mwin, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    left = killed_apply(mwin, spec)
    for force in ((), ("--force",)):  # a wrong ID is refused before anything is asked
        wrong = mwin("state", "unlock", "not-the-id", *force)
        assert wrong.code == 1
        assert wrong.err == (f"Error: lock ID not-the-id does not match the lock on state "
                             f"{mwin.state}: it is {left['id']}, held by {holder_of(left)}. "
                             "Nothing was unlocked.\n")
    unasked = mwin("state", "unlock", left["id"])
    assert unasked.code == 1
    assert unasked.err == ("Error: refusing to clear the lock without confirmation: stdin is not "
                           "a terminal. Make sure its holder is gone, then pass --force.\n")
    done = mwin("state", "unlock", left["id"], "--force")
    assert done.code == 0, done.err
    assert done.out == (f"Cleared lock {left['id']} on state {mwin.state}, left by "
                        f"{holder_of(left)}: that process had already ended without releasing "
                        "it.\n")
    assert mwin.state.with_name(mwin.state.name + ".lock").read_text() == ""
    again = mwin("state", "unlock", left["id"], "--force")
    assert again.code == 1
    assert again.err == f"Error: state {mwin.state} is not locked: there is nothing to unlock\n"
    quiet = mwin("apply", str(spec), "--auto-approve")
    assert quiet.code == 0 and "taken over" not in quiet.err


def on_a_terminal(mwin: Mwin, answer: str, *args: str) -> Run:
    """`mwin ARGS` with stdin on a pseudo-terminal, where an operator types ``answer``."""
    ours, theirs = pty.openpty()
    argv = [sys.executable, "-m", "reconciler", *args, "--state", str(mwin.state)]
    try:
        proc = subprocess.Popen(argv, cwd=mwin.workdir, env=mwin.env, stdin=theirs,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.write(ours, answer.encode() + b"\n")  # waits in the terminal until read
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(theirs)
        os.close(ours)
    return Run(proc.returncode, out, err)


def test_on_a_terminal_unlock_asks_naming_the_holder(mwin: Mwin, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    left = killed_apply(mwin, spec)
    lock = mwin.state.with_name(mwin.state.name + ".lock")
    question = (f"Clear lock {left['id']} on state {mwin.state}, left by {holder_of(left)}? No "
                "process holds the file lock now; only that record remains. Only 'yes' is "
                "accepted: ")
    declined = on_a_terminal(mwin, "no", "state", "unlock", left["id"])
    assert (declined.code, declined.out) == (1, question)
    assert declined.err == "Error: unlock cancelled; the lock was left as it is.\n"
    assert json.loads(lock.read_text())["id"] == left["id"]
    accepted = on_a_terminal(mwin, "yes", "state", "unlock", left["id"])
    assert accepted.code == 0, accepted.err
    assert accepted.out == (f"{question}Cleared lock {left['id']} on state {mwin.state}, left "
                            f"by {holder_of(left)}: that process had already ended without "
                            "releasing it.\n")
    assert lock.read_text() == ""


def test_a_live_holder_is_named_with_its_lock_id_and_never_unlocked_under_it(
        tmp_path: Path) -> None:
    with MoldSim(job_seconds=0.05) as slow:
        slow.set_faults(hang_jobs=[{"command": "createTags"}])  # the holder never finishes
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
            for force in ((), ("--force",)):  # refused before anything is asked
                refused = mwin("state", "unlock", lock_id, *force)
                assert refused.code == 1
                assert refused.err.startswith(f"Error: process {holder.pid} on this host still "
                                              f"holds the lock on state {mwin.state} (")
                assert refused.err.endswith(f"; stop it (kill {holder.pid}) instead of "
                                            "unlocking under it. Nothing was unlocked\n")
            assert json.loads(lock.read_text())["id"] == lock_id and holder.poll() is None
        finally:
            holder.kill()
            holder.wait(timeout=10)

"""--color/--no-color reach every view: the plan and result on stdout, warnings and apply
progress on stderr. Without the flag, NO_COLOR (set by the Mwin helper) and a stream that is
not a terminal keep everything plain. In real processes: --color forces colour through a pipe
(`mwin --color plan | cat`, CI logs, `less -R`) and over NO_COLOR; without a flag, NO_COLOR
switches it off and a terminal (a pseudo-terminal here) switches it on."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import Mwin

SPEC = """\
version: 1
defaults: {zone: Zone1}
isos:
  virtio-win: {url: https://example.com/virtio-win.iso, bootable: false}
"""
ESC = "\033["


def test_color_flag_colours_plan_progress_and_summary(mwin: Mwin, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    plain = mwin("plan", str(spec))
    assert plain.code == 0 and ESC not in plain.out + plain.err
    applied = mwin("apply", str(spec), "--auto-approve", "--color")
    assert applied.code == 0, applied.err
    assert f"{ESC}1m  # iso.virtio-win will be created{ESC}0m" in applied.out  # the plan
    assert f"{ESC}32;1m\nApply complete! 1 action(s) done.{ESC}0m" in applied.out
    done = [line for line in applied.err.splitlines() if ": done after " in line]
    assert len(done) == 1 and done[0].startswith(f"{ESC}32miso.virtio-win (create): done")
    spec.write_text(SPEC.replace("virtio-win.iso", "virtio-win-2.iso"), encoding="utf-8")
    forced_off = mwin("apply", str(spec), "--auto-approve", "--no-color")
    assert forced_off.code == 0, forced_off.err
    assert ESC not in forced_off.out + forced_off.err
    assert ": done after " in forced_off.err


# --- the rule, in real processes: the flag wins, then NO_COLOR, then only a terminal --------

def plan_in_process(mwin: Mwin, spec: Path, *flags: str, no_color: bool = False,
                    terminal: bool = False) -> str:
    """stdout of `mwin FLAGS plan SPEC` as a child process whose stdout is a pipe (as in
    `mwin plan | cat`) or, with ``terminal``, a pseudo-terminal."""
    env = {k: v for k, v in mwin.env.items() if k != "NO_COLOR"}
    env |= {"NO_COLOR": "1"} if no_color else {}
    env["TERM"] = "xterm-256color"
    argv = [sys.executable, "-m", "reconciler", *flags, *mwin.argv("plan", str(spec))]
    if not terminal:
        done = subprocess.run(argv, env=env, cwd=mwin.workdir, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout
    leader, follower = pty.openpty()
    with subprocess.Popen(argv, env=env, cwd=mwin.workdir, stdout=follower,
                          stderr=subprocess.DEVNULL) as proc:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=60) == 0
    os.close(leader)
    return b"".join(chunks).decode()


@pytest.mark.parametrize("flags, no_color, terminal, coloured", [
    (["--color"], False, False, True),             # `mwin --color plan | cat`
    (["--color"], True, False, True),              # the flag wins over NO_COLOR
    ([], False, False, False),                     # a pipe: plain
    ([], False, True, True),                       # a terminal: colour
    ([], True, True, False),                       # NO_COLOR on a terminal: plain
    (["--no-color"], False, True, False),          # the flag wins over the terminal
])
def test_colour_rule_in_a_real_process(mwin: Mwin, tmp_path: Path, flags: list[str],
                                       no_color: bool, terminal: bool, coloured: bool) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    out = plan_in_process(mwin, spec, *flags, no_color=no_color, terminal=terminal)
    assert "iso.virtio-win will be created" in out
    assert (f"{ESC}1m  # iso.virtio-win will be created{ESC}0m" in out) is coloured
    assert (ESC in out) is coloured


def test_color_after_the_command_through_a_pipe(mwin: Mwin, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    shown = mwin("plan", str(spec), "--color", process=True)
    assert shown.code == 0 and f"{ESC}32;1mPlan: 1 to add" not in shown.out
    assert f"{ESC}1mPlan: 1 to add, 0 to change, 0 to destroy.{ESC}0m" in shown.out

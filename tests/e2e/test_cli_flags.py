"""The operator's flags end to end: --debug and MWIN_LOG=debug show each request (method, URL
path, command, never a key or a signature); shell completion of commands, options and the
addresses in state."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import Mwin
from tests.helpers.mold_api import API_KEY, SECRET_KEY

SPEC = """\
version: 1
defaults: {zone: Zone1}
isos:
  virtio-win: {url: https://example.com/virtio-win.iso, bootable: false}
networks:
  prep-net: {display_text: Template preparation network}
"""
MWIN = Path(sys.executable).parent / "mwin"  # the console script the package installs


def write_spec(tmp_path: Path) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    return spec


def request_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if " reconciler.mold DEBUG POST " in line]


@pytest.mark.parametrize("how", ["--debug before", "--debug after", "MWIN_LOG=debug"])
def test_debug_lines_show_method_path_and_command_never_secrets(mwin: Mwin, tmp_path: Path,
                                                                 how: str) -> None:
    spec = write_spec(tmp_path)
    if how == "MWIN_LOG=debug":
        mwin.env["MWIN_LOG"] = "debug"
        planned = mwin("plan", str(spec))
    elif how == "--debug before":
        planned = mwin("--debug", "plan", str(spec))
    else:
        planned = mwin("plan", str(spec), "--debug")
    assert planned.code == 0, planned.err
    lines = request_lines(planned.err)
    assert any("POST /client/api listZones " in line and "→ HTTP 200 in " in line
               for line in lines), planned.err
    for secret in (API_KEY, SECRET_KEY, "signature=", "apikey="):
        assert secret not in planned.err
    assert "Plan: 2 to add" in planned.out  # the plan itself is untouched on stdout


def test_without_debug_no_request_is_logged(mwin: Mwin, tmp_path: Path) -> None:
    planned = mwin("plan", str(write_spec(tmp_path)))
    assert planned.code == 0 and request_lines(planned.err) == []


def test_an_unknown_log_level_is_an_error(mwin: Mwin, tmp_path: Path) -> None:
    mwin.env["MWIN_LOG"] = "loud"
    shown = mwin("plan", str(write_spec(tmp_path)))
    assert (shown.code, shown.out) == (1, "")
    assert shown.err == "Error: MWIN_LOG=loud is not a log level (debug, info, warning, error)\n"


def complete(words: str, cwd: Path) -> list[str]:
    """What bash completion offers for the last word of ``words`` (empty: a new word)."""
    env = {**os.environ, "_MWIN_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    done = subprocess.run([str(MWIN)], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_completion_of_commands_options_and_addresses_in_state(mwin: Mwin,
                                                               tmp_path: Path) -> None:
    assert complete("mwin pl", tmp_path) == ["plan"]
    assert complete("mwin state ", tmp_path) == ["list", "show", "rm", "unlock", "mv",
                                                 "rebuild", "pull", "push"]
    assert complete("mwin apply --ta", tmp_path) == ["--target"]
    assert complete("mwin plan --target ", tmp_path) == []  # no state yet: nothing, no error
    applied = mwin("apply", str(write_spec(tmp_path)), "--auto-approve")
    assert applied.code == 0, applied.err
    assert complete("mwin plan --target ", tmp_path) == ["iso.virtio-win", "network.prep-net"]
    assert complete("mwin apply --replace n", tmp_path) == ["network.prep-net"]
    assert complete("mwin state show i", tmp_path) == ["iso.virtio-win"]
    assert complete("mwin state rm ", tmp_path) == ["iso.virtio-win", "network.prep-net"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert complete(f"mwin state show --state {mwin.state} ", elsewhere) == [
        "iso.virtio-win", "network.prep-net"]  # the --state given earlier on the line


def test_show_completion_prints_a_script_for_the_shell(tmp_path: Path) -> None:
    done = subprocess.run([str(MWIN), "--show-completion", "bash"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SHELL": "/bin/bash"})
    assert done.returncode == 0, done.stderr
    assert "complete -o default -F _mwin_completion mwin" in done.stdout
    assert "_MWIN_COMPLETE=complete_bash" in done.stdout

"""The in-process runner of the e2e tests (tests/helpers/cli.py): the real CLI, its exit
codes, and the test process left as it was found."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli


def snapshot() -> tuple[object, ...]:
    root = logging.getLogger()
    return (dict(os.environ), Path.cwd(), list(root.handlers), root.level,
            logging.getLogger("httpx").level, signal.getsignal(signal.SIGINT),
            signal.getsignal(signal.SIGTERM), sys.stdin, sys.stdout, sys.stderr)


def test_a_run_sees_its_environment_and_directory_and_leaves_the_process_as_it_was(
        tmp_path: Path) -> None:
    before = snapshot()
    env = {k: v for k, v in os.environ.items() if k != "HOME"} | {"MWIN_WORKSPACE": "zone-b"}
    run = run_cli(["--debug", "workspace", "show"], env=env, cwd=tmp_path)
    assert (run.code, run.out, run.err) == (0, "zone-b\n", "")
    selected = run_cli(["workspace", "select", "default"], env=env, cwd=tmp_path)
    assert (selected.code, selected.out) == (0, "Selected workspace default.\n")
    assert selected.err == ("Warning: MWIN_WORKSPACE=zone-b is set and wins over the "
                            "selection.\n")
    assert (tmp_path / ".mwin" / "workspace").read_text() == "default\n"  # in cwd
    assert snapshot() == before


def test_exit_codes_stdin_and_errors_are_the_clis(tmp_path: Path) -> None:
    env = dict(os.environ)
    usage = run_cli(["plan", "--bogus"], env=env, cwd=tmp_path)
    assert usage.code == 2 and "No such option: --bogus" in usage.err
    garbled = run_cli(["state", "push", "-"], env=env, cwd=tmp_path, stdin="{")
    assert (garbled.code, garbled.out) == (1, "")
    assert garbled.err == ("Error: stdin does not hold a state (the JSON `mwin state pull` "
                           "prints)\n")
    asked = run_cli(["state", "unlock", "some-id"], env=env, cwd=tmp_path)
    assert asked.code == 1 and asked.err.startswith("Error: state ")  # nothing locked


def test_failpoints_are_refused_in_process(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="process=True"):
        run_cli(["version"], env={**os.environ, "MWIN_FAILPOINTS": "answered:registerIso"},
                cwd=tmp_path)

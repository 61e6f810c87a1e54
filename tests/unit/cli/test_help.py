"""Help as an operator reads it: value names instead of Python types, -h, --version, the
global options before or after the command, every line within 80 columns."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from reconciler import __version__
from reconciler.cli.app import command
from tests.helpers.cli import Run, run_cli


def all_commands() -> list[list[str]]:
    found: list[list[str]] = [[]]

    def walk(group: object, prefix: list[str]) -> None:
        for name, sub in getattr(group, "commands", {}).items():
            found.append([*prefix, name])
            walk(sub, [*prefix, name])

    walk(command(), [])
    return found


COMMANDS = all_commands()
# What typer shows without a metavar: <str>, <bool>, <path>, <int range>, <list[str]>, and
# {name} for a required argument.
TYPE_NAMES = re.compile(r"<(str|bool|int|path|float|list|int range)\b|\{\w+\}|\[x>=")


def mwin(tmp_path: Path, *args: str, columns: str = "80") -> Run:
    env = {**os.environ, "COLUMNS": columns}
    return run_cli(list(args), env=env, cwd=tmp_path)


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(c) or "mwin" for c in COMMANDS])
def test_help_names_values_and_fits_80_columns(tmp_path: Path, path: list[str]) -> None:
    shown = mwin(tmp_path, *path, "--help")
    assert shown.code == 0, shown.err
    assert shown.out.startswith("Usage: python -m reconciler")
    assert TYPE_NAMES.findall(shown.out) == []
    assert [line for line in shown.out.splitlines() if len(line) > 80] == []
    assert [line for line in shown.out.splitlines()[1:] if line.endswith("...")] == []  # cut
    assert mwin(tmp_path, *path, "-h").out == shown.out
    assert "--debug" in shown.out and "--color / --no-color" in shown.out


def test_help_by_value(tmp_path: Path) -> None:
    applied = mwin(tmp_path, "apply", "-h").out
    for line in ("Usage: python -m reconciler apply [OPTIONS] [SPEC_OR_PLAN]",
                 "  --job-timeout DURATION          Deadline of each async job, e.g. 40s, 30m.",
                 "  --parallelism N                 Actions run at once (at least 1).  [default:",
                 "  --target ADDRESS                Limit to ADDRESS and what it depends on",
                 "  --state FILE                    State file.  [default:",
                 "  --signature sha256|sha1         sha256 (current Mold, default) or sha1",
                 "  --auto-approve                  Apply without asking."):
        assert line in applied.splitlines()
    moved = mwin(tmp_path, "state", "mv", "-h").out
    assert moved.splitlines()[0] == ("Usage: python -m reconciler state mv [OPTIONS] ADDRESS "
                                     "NEW")
    removed = mwin(tmp_path, "state", "rm", "-h").out
    assert "Usage: python -m reconciler state rm [OPTIONS] ADDRESS..." in removed
    listed = mwin(tmp_path, "-h").out.splitlines()
    assert "  state      Inspect and edit the state (each edit locked and atomic)." in listed
    assert "  workspace  Several states in one backend, each with keys of its own." in listed
    workspaces = " ".join(mwin(tmp_path, "workspace", "-h").out.split())
    assert "one per spec or zone" not in workspaces
    assert ("per zone, give each state's resources keys of their own (a prefix such as z2-, "
            "keeping the Mold name with `name:`), or declare a template once with `zones:`"
            ) in workspaces


def test_version(tmp_path: Path) -> None:
    for argv in (["--version"], ["version"]):
        shown = mwin(tmp_path, *argv)
        assert (shown.code, shown.out, shown.err) == (0, f"mwin {__version__}\n", "")


@pytest.mark.parametrize("argv", [["--debug", "workspace", "show"],
                                  ["workspace", "show", "--debug"],
                                  ["--no-color", "workspace", "show"],
                                  ["workspace", "show", "--color"],
                                  ["--color", "state", "--debug", "list"],
                                  ["state", "list", "--no-color", "--debug"]])
def test_global_options_before_or_after_the_command(tmp_path: Path, argv: list[str]) -> None:
    shown = mwin(tmp_path, *argv)
    assert shown.code == 0, shown.err


def test_a_bad_value_is_a_usage_error_naming_the_option(tmp_path: Path) -> None:
    shown = mwin(tmp_path, "apply", "--parallelism", "0")
    assert shown.code == 2
    assert "Invalid value for '--parallelism': 0 is less than 1" in shown.err


def test_narrow_terminals_wrap_narrower(tmp_path: Path) -> None:
    shown = mwin(tmp_path, "plan", "-h", columns="60")
    assert max(len(line) for line in shown.out.splitlines()) <= 60

"""Option groups: typer sees their fields as options, the command gets one value."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest
import typer

from reconciler.cli.options import DEFAULT_STATE, Connection, StateOptions, grouped, parse_duration

Name = Annotated[str, typer.Option("--name", help="A name.")]


@dataclass(frozen=True)
class Extra:
    name: Name = "x"


def app_of(command: object) -> typer.Typer:
    app = typer.Typer()
    app.command()(command)
    app.command("other")(lambda: None)  # two commands: the command's name is needed
    return app


def invoke(app: typer.Typer, *args: str) -> int:
    command = typer.main.get_command(app)
    return int(command.main(args=list(args), standalone_mode=False) or 0)


def test_a_group_is_built_from_its_fields_given_as_options() -> None:
    seen: list[object] = []

    @grouped
    def show(where: StateOptions = StateOptions(), extra: Extra = Extra(),
             mold: Connection = Connection()) -> None:
        seen.extend([where, extra, mold])

    invoke(app_of(show), "show", "--state", "s.json", "--workspace", "w", "--name", "n",
           "--url", "http://mold/client/api", "--insecure")
    assert seen == [StateOptions(Path("s.json"), None, "w"), Extra("n"),
                    Connection(url="http://mold/client/api", insecure=True)]
    seen.clear()
    invoke(app_of(show), "show")
    assert seen == [StateOptions(DEFAULT_STATE), Extra(), Connection()]


def test_plain_parameters_stay_as_they_are_around_a_group() -> None:
    seen: list[object] = []

    @grouped
    def show(spec: Annotated[Path, typer.Argument()] = Path(), extra: Extra = Extra(),
             count: Annotated[int, typer.Option("--count")] = 1) -> None:
        seen.extend([spec, extra, count])

    invoke(app_of(show), "show", "spec.yaml", "--count", "3")
    assert seen == [Path("spec.yaml"), Extra(), 3]


def test_clashing_option_names_are_refused_when_the_command_is_defined() -> None:
    with pytest.raises(TypeError, match="option names clash"):
        @grouped
        def show(name: Name = "y", extra: Extra = Extra()) -> None:
            raise AssertionError("never called")


@pytest.mark.parametrize("text, seconds", [("0", 0), ("90", 90), ("90s", 90), ("500ms", 0.5),
                                           ("5m", 300), ("1h", 3600), (" 1.5 s ", 1.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds

"""The layering the module docstrings promise, checked on the source: every import
statement (module level or inside a function) of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def offending(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in paths:
        for name in sorted(imports_of(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


RULES = [
    ("moldsim never imports reconciler", modules("moldsim"), ("reconciler",)),
    ("kinds never import the CLI, planner, executor or workflow",
     modules("reconciler.resources"),
     ("reconciler.cli", "reconciler.planner", "reconciler.executor", "reconciler.workflow")),
    ("the planner does no I/O", [ROOT / "reconciler/planner.py"],
     ("reconciler.mold.client", "reconciler.live", "reconciler.state.local",
      "reconciler.state.postgres", "httpx", "psycopg", "socket", "subprocess", "os")),
    ("the client knows no spec", modules("reconciler.mold"),
     ("reconciler.spec", "reconciler.resources", "reconciler.planner", "reconciler.executor",
      "reconciler.workflow", "reconciler.model", "reconciler.state", "reconciler.cli")),
    ("the shared data module is a leaf", [ROOT / "reconciler/model.py"],
     ("reconciler.resources", "reconciler.spec", "reconciler.live", "reconciler.planner",
      "reconciler.executor", "reconciler.workflow", "reconciler.state", "reconciler.mold",
      "reconciler.cli")),
    ("only the CLI renders or prints to the terminal",
     [p for p in modules("reconciler") if "/cli" not in str(p) and "/render/" not in str(p)],
     ("typer", "rich", "click")),
]


@pytest.mark.parametrize("rule, paths, forbidden", RULES, ids=[r[0] for r in RULES])
def test_layering(rule: str, paths: list[Path], forbidden: tuple[str, ...]) -> None:
    assert paths, rule
    assert offending(paths, forbidden) == []


def test_the_check_finds_an_import_it_forbids() -> None:
    assert offending([ROOT / "reconciler/planner.py"], ("reconciler.resources",)) != []

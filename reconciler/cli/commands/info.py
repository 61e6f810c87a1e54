"""`mwin schema` and `mwin version`: what mwin itself knows, no spec, state or Mold."""

from __future__ import annotations

import json

import typer

from reconciler import __version__
from reconciler.spec import json_schema

__all__ = ["schema", "version"]


def schema() -> None:
    """Print the JSON Schema of the spec (for editors).

    yaml-language-server (VS Code, Neovim, Helix, JetBrains) completes and checks specs with it."""
    typer.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))


def version() -> None:
    """Print mwin's version."""
    typer.echo(f"mwin {__version__}")

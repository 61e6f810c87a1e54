"""docs/spec.md, the reference of the spec, is what the models say (regenerated with the
command it names), and every key of the schema has a description."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from reconciler.render.specdoc import COMMAND, render_spec_doc
from reconciler.spec import json_schema

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "spec.md"


def test_committed_spec_doc_equals_the_generator() -> None:
    printed = subprocess.run([sys.executable, "-m", "reconciler.render.specdoc"],
                             capture_output=True, text=True, check=True, timeout=60,
                             cwd=ROOT).stdout
    assert printed == render_spec_doc()
    assert DOC.read_text(encoding="utf-8") == printed, (
        f"docs/spec.md is stale: regenerate it with `{COMMAND}` and commit it")


def undescribed(node: Any, path: str = "") -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, prop in node.get("properties", {}).items():
            if not prop.get("description"):
                found.append(f"{path}.{key}")
        for key, value in node.items():
            found += undescribed(value, f"{path}/{key}")
    elif isinstance(node, list):
        for value in node:
            found += undescribed(value, path)
    return found


def test_every_schema_property_has_a_description() -> None:
    assert undescribed(json_schema()) == []


def test_rows_by_value() -> None:
    rows = render_spec_doc().splitlines()
    for row in (
        "| `version` | integer | `1` | Format of the spec; 1 is the only one so far |",
        '| `boot.type` | "BIOS" or "UEFI" | `"BIOS"` | replacement | Firmware: BIOS or UEFI '
        "(Windows 11 needs UEFI). Fixed once the OS is installed |",
        "| `compute_offering` | string | required | in place, VM stopped | Compute offering name "
        "or id (vCPUs, memory) |",
        "| `networks` | list of (string or `{name: …}` or `{id: …}`) (at least 1) | required | "
        "own step | Networks, one NIC each; the first is the default NIC |",
        "| `lifecycle.protect` | boolean | `false` | mwin only | Refuse any plan that would "
        "delete or replace it; remembered in state until set to false |",
        "| `public` | boolean | `false` | in place (updateTemplatePermissions) | Visible to every "
        "account |",
        "| `share.accounts` | list of string | — | own step | Account names it is shared with "
        "(of the owner's domain; checked at plan time where the keys list accounts) |",
    ):
        assert row in rows
    assert rows.count("## `vms`") == 1 and rows.count("## `templates`") == 1

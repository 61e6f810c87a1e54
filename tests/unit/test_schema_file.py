"""docs/mwin-spec.schema.json (what editors load through the yaml-language-server modeline)
is exactly what `mwin schema` prints, so it never goes stale."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "docs" / "mwin-spec.schema.json"
MODELINE = re.compile(r"^#\s*yaml-language-server:\s*\$schema=(\S+)\s*$", re.MULTILINE)


def test_committed_schema_equals_mwin_schema() -> None:
    printed = subprocess.run([sys.executable, "-m", "reconciler", "schema"], capture_output=True,
                             text=True, check=True, timeout=60, cwd=ROOT).stdout
    assert SCHEMA.read_text(encoding="utf-8") == printed, (
        "docs/mwin-spec.schema.json is stale: regenerate it with "
        "`mwin schema > docs/mwin-spec.schema.json` and commit it")
    assert json.loads(printed)["type"] == "object"


def test_spec_modelines_point_at_the_committed_schema() -> None:
    specs = sorted((ROOT / "specs").rglob("*.yaml"))
    found = 0
    for spec in specs:
        for target in MODELINE.findall(spec.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (spec.parent / target).resolve() == SCHEMA, f"{spec}: $schema={target}"
            found += 1
    assert found >= 1, "no spec in specs/ carries the yaml-language-server modeline"

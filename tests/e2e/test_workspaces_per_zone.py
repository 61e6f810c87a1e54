"""One state per zone, as docs/state.md "Workspaces" shows it: the example spec there, applied
in its own workspace beside a default workspace with the same Mold names in another zone,
works because its keys differ; the same keys are refused (ownership). The real CLI against
moldsim with two zones."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from moldsim.server import MoldSim
from tests.helpers.checks import ok, write
from tests.helpers.cli import Mwin

DOC = Path(__file__).resolve().parents[2] / "docs" / "state.md"


@pytest.fixture
def two_zones() -> Iterator[MoldSim]:
    with MoldSim(job_seconds=0.02, download_seconds=0.02, zones=2) as server:
        yield server


def documented_spec() -> str:
    """The YAML example of the Workspaces section, with a URL moldsim can fetch."""
    section = DOC.read_text(encoding="utf-8").split("## Workspaces", 1)[1].split("\n## ", 1)[0]
    assert "one per spec or per zone" not in section
    [block] = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    return block.replace("https://…/", "https://example.com/")


def test_the_documented_per_zone_workspace_works_beside_the_same_names_in_zone1(
        two_zones: MoldSim, tmp_path: Path) -> None:
    mwin = Mwin(two_zones.url, tmp_path)
    zone_b = documented_spec()
    unprefixed = re.sub(r"\bz2-", "", zone_b)
    zone_a = write(tmp_path / "zone-a.yaml", unprefixed.replace("Zone2", "Zone1"))
    ok(mwin("apply", str(zone_a), "--auto-approve"))
    spec = write(tmp_path / "zone-b.yaml", zone_b)
    ok(mwin("apply", str(spec), "--auto-approve", "--workspace", "zone-b"))
    for workspace, path in (("zone-b", spec), ("default", zone_a)):
        planned = ok(mwin("plan", str(path), "--workspace", workspace))
        assert "No changes." in planned.out, (workspace, planned.out)

    same_keys = write(tmp_path / "same-keys.yaml", unprefixed)
    refused = mwin("plan", str(same_keys), "--workspace", "zone-b")
    assert refused.code == 1 and "belongs to another state" in refused.err

"""Apply progress where stderr is not a terminal (CI logs): plain lines, and no silent wait:
the createTags job after a create is named while mwin waits for it."""

from __future__ import annotations

from pathlib import Path

from moldsim.server import MoldSim
from tests.helpers.cli import Mwin

SPEC = """\
version: 1
defaults: {zone: Zone1}
networks:
  prep-net: {display_text: Template preparation network}
"""


def test_the_tagging_wait_says_what_it_waits_for(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    with MoldSim(job_seconds=0.3) as sim:
        applied = Mwin(sim.url, tmp_path)("apply", str(spec), "--auto-approve")
    assert applied.code == 0, applied.err
    lines = applied.err.splitlines()
    assert lines[0] == "network.prep-net (create): started"
    assert lines[1].startswith("network.prep-net (create): waiting for Mold's createTags job ")
    assert lines[1].endswith(" [0s elapsed]")
    assert lines[2].startswith("network.prep-net (create): done after ")
    assert len(lines) == 3

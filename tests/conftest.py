"""Fixtures shared by all tests: a moldsim served on loopback and the real mwin CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from moldsim.server import MoldSim
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi


@pytest.fixture
def sim() -> Iterator[MoldSim]:
    with MoldSim(job_seconds=0.05) as server:
        yield server


@pytest.fixture
def mold(sim: MoldSim) -> Iterator[MoldApi]:
    api = MoldApi(sim.url)
    yield api
    api.close()


@pytest.fixture
def mwin(sim: MoldSim, tmp_path: Path) -> Mwin:
    return Mwin(sim.url, tmp_path)

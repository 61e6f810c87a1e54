from __future__ import annotations

from collections.abc import Iterator

import pytest

from moldsim.server import MoldSim

from simclient import Client


@pytest.fixture
def sim() -> Iterator[MoldSim]:
    with MoldSim(job_seconds=0.0) as s:
        yield s


@pytest.fixture
def client(sim: MoldSim) -> Iterator[Client]:
    c = Client(sim.url)
    yield c
    c.close()

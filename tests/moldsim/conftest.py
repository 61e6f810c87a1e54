from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from moldsim.server import MoldSim

from simclient import Client, as_user


@pytest.fixture
def sim() -> Iterator[MoldSim]:
    with MoldSim(job_seconds=0.0) as s:
        yield s


@pytest.fixture
def client(sim: MoldSim) -> Iterator[Client]:
    c = Client(sim.url)
    yield c
    c.close()


@pytest.fixture
def users() -> Iterator[Any]:
    """users(admin, username, accounttype=USER, domainid=None, **params) → (client, account):
    simclient.as_user, with every client closed at the end of the test."""
    made: list[Client] = []

    def make(admin: Client, username: str, *args: Any, **params: Any) -> tuple[Any, dict[str, Any]]:
        client, account = as_user(admin, username, *args, **params)
        made.append(client)
        return client, account

    yield make
    for client in made:
        client.close()

"""An all-kinds Mold for unit tests without sockets: the real MoldClient, its requests handed
to moldsim's API in this process through an httpx.MockTransport. Faults, signatures and jobs
behave as moldsim's do; jobs finish by the next request (job_seconds=0), and the client's
waits cost no time (``Clock`` with a no-op sleep)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl

import httpx

from moldsim.server import MoldSim
from reconciler.mold import Clock, MoldClient, PollPolicy, RetryPolicy
from reconciler.resources.base import ExecContext, Waits
from reconciler.settings import load_settings
from tests.helpers.mold_api import API_KEY, SECRET_KEY

URL = "http://mold.invalid/client/api"
NO_WAIT = Clock(sleep=lambda _seconds: None)
WAITS = Waits(poll=PollPolicy(initial=0, max_interval=0), recheck_delay=0, clock=NO_WAIT)


def _transport(sim: MoldSim) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        pairs = parse_qsl(request.url.query.decode(), keep_blank_values=True)
        if request.content:
            pairs += parse_qsl(request.content.decode(), keep_blank_values=True)
        status, document = sim.api.handle(pairs)
        return httpx.Response(status, content=json.dumps(document).encode(),
                              headers={"Content-Type": "application/json; charset=UTF-8"})
    return httpx.MockTransport(handle)


@contextmanager
def in_process_mold(**sim_options: object) -> Iterator[tuple[MoldSim, MoldClient]]:
    """(moldsim, a MoldClient talking to it in process)."""
    sim = MoldSim(**sim_options)  # type: ignore[arg-type]
    settings = load_settings(url=URL, api_key=API_KEY, secret_key=SECRET_KEY, env={})
    client = MoldClient(settings, transport=_transport(sim), retry=RetryPolicy(attempts=1),
                        poll=PollPolicy(initial=0, max_interval=0), sleep=NO_WAIT.sleep)
    try:
        yield sim, client
    finally:
        client.close()


def exec_context(client: MoldClient, owner: str = "default.0123456789ab",
                 progress: list[str] | None = None) -> ExecContext:
    said = progress if progress is not None else []
    return ExecContext(client=client, resolve=lambda value: value, progress=said.append,
                       waits=WAITS, owner=owner)

"""The HTTP server and `MoldSim`, the handle tests use to run moldsim in-process.

Routes: `/client/api` (GET query string, POST form body) → `api.Api`; `/moldsim/...` →
`control` (JSON, unsigned). Standard library only (`http.server.ThreadingHTTPServer`).

    from moldsim.server import MoldSim
    with MoldSim(signature="sha1", job_seconds=0.05) as sim:   # serves on 127.0.0.1:<free port>
        url = sim.url                                           # http://127.0.0.1:PORT/client/api
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from moldsim import control
from moldsim.api import Api, first
from moldsim.config import DEFAULT_API_KEY, DEFAULT_SECRET_KEY, SimConfig
from moldsim.faults import Faults
from moldsim.store import Store

API_PATH = "/client/api"
JSON_TYPE = "application/json; charset=UTF-8"


class _Handler(BaseHTTPRequestHandler):
    """One request; `server.sim` is the owning MoldSim."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without NODELAY, Nagle + delayed ACK stall
        # every keep-alive answer by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        if self.server.sim.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        body = self._body()
        if parts.path.rstrip("/") == API_PATH:
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            ctype = self.headers.get("Content-Type", "")
            if method == "POST" and body and ctype.startswith("application/x-www-form-urlencoded"):
                pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
            self._api(pairs)
        elif parts.path.startswith("/moldsim/"):
            self._control(method, parts.path, body)
        else:
            self._send(404, {"error": f"no route {parts.path}; the API is at {API_PATH}"})

    def _api(self, pairs: list[tuple[str, str]]) -> None:
        sim = self.server.sim
        name = first(pairs, "command") or ""
        if sim.faults.take("drop_connections", name):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        delay = sim.faults.take("delays", name)
        if delay:
            time.sleep(float(delay.get("seconds", 1.0)))
        injected = sim.faults.take("http_errors", name)
        if injected:
            status = int(injected.get("status", 503))
            text = str(injected.get("body") or f"moldsim: injected HTTP {status} for {name}")
            self._send_raw(status, text.encode("utf-8"), "text/plain; charset=UTF-8")
            return
        status, doc = sim.api.handle(pairs)
        self._send(status, doc)

    def _control(self, method: str, path: str, raw: bytes) -> None:
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise control.ControlError(400, "body must be a JSON object")
            self._send(200, control.handle(self.server.sim.api, method, path, body))
        except json.JSONDecodeError as exc:
            self._send(400, {"error": f"invalid JSON: {exc}"})
        except control.ControlError as exc:
            self._send(exc.status, {"error": str(exc)})

    def _send(self, status: int, doc: dict[str, Any]) -> None:
        self._send_raw(status, json.dumps(doc, ensure_ascii=False).encode("utf-8"), JSON_TYPE)

    def _send_raw(self, status: int, data: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    sim: MoldSim


class MoldSim:
    """An emulated Mold: state, settings, faults, and (once started) an HTTP server.

    Arguments mirror `moldsim serve`'s flags; `data_dir=None` keeps everything in memory.
    `start()` serves in a background thread and returns the API URL; `stop()` shuts it down.
    Also a context manager (starts on enter if not started, stops on exit).
    """

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        secret_key: str = DEFAULT_SECRET_KEY,
        signature: str = "sha256",
        job_seconds: float = 0.0,
        data_dir: str | os.PathLike[str] | None = None,
        download_seconds: float | None = None,
        guest_poweroff_detect_seconds: float = 0.0,
        max_page_size: int = 500,
        verbose: bool = False,
    ) -> None:
        if signature not in ("sha256", "sha1"):
            raise ValueError(f"signature must be sha256 or sha1, not {signature!r}")
        self.config = SimConfig(api_key, secret_key, signature, job_seconds, download_seconds,
                                guest_poweroff_detect_seconds, max_page_size)
        self.store = Store(data_dir)
        self.faults = Faults()
        self.api = Api(self.store, self.config, self.faults)
        self.api.tick()  # a restart finishes jobs that came due while it was down
        self.verbose = verbose
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("MoldSim is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The API endpoint, http://HOST:PORT/client/api."""
        return self.base_url + API_PATH

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread (port 0 = a free port); returns `url`."""
        if self._server is not None:
            raise RuntimeError("MoldSim is already started")
        self._server = _Server((host, port), _Handler)
        self._server.sim = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and free the port (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MoldSim:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # In-process equivalents of the control endpoints.
    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call a `/moldsim/...` endpoint without HTTP (raises control.ControlError on 4xx)."""
        return control.handle(self.api, method, path, body or {})

    def set_faults(self, **rules: Any) -> dict[str, Any]:
        return self.control("POST", "/moldsim/faults", rules)

    def guest_poweroff(self, vm_id: str) -> dict[str, Any]:
        return self.control("POST", "/moldsim/guest-poweroff", {"id": vm_id})


__all__ = ["MoldSim", "API_PATH"]

"""The HTTP server and `MoldSim`, the handle tests use to run moldsim in-process.

Routes: `/client/api` (GET query string, POST form body) → `api.Api`; `/moldsim/...` →
`control` (JSON, unsigned); `/upload/<iso uuid>` → `uploads.serve` (the secondary storage's
upload URL that getUploadParamsForIso hands out, multipart/form-data, streamed to disk).
Standard library only (`http.server.ThreadingHTTPServer`).

    from moldsim.server import MoldSim
    with MoldSim(signature="sha1", job_seconds=0.05) as sim:   # serves on 127.0.0.1:<free port>
        url = sim.url                                           # http://127.0.0.1:PORT/client/api
`MoldSim(tls_cert=..., tls_key=...)` serves HTTPS instead (url then starts with https://);
`MoldSim(profile="cloudstack-4.17", api_limit="25/1", zones=2)` picks the emulated release,
throttles non-root-admin accounts and seeds more zones.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from moldsim import control, profiles, uploads
from moldsim.api import Api, first
from moldsim.config import DEFAULT_API_KEY, DEFAULT_SECRET_KEY, SimConfig, parse_api_limit
from moldsim.console import ConsoleServer
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

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sim.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _base_url(self) -> str:
        """How the client reached moldsim: its scheme and the Host it asked for."""
        scheme = "https" if self.server.tls is not None else "http"
        host = self.headers.get("Host")
        if not host:
            address = self.server.server_address
            host = f"{address[0]}:{address[1]}"
        return f"{scheme}://{host}"

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith(uploads.PATH_PREFIX):  # before the body: it is streamed
            uploads.serve(self.server.sim.api, self, method, parts.path,
                          "https" if self.server.tls is not None else "http")
            return
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
        """Faults first (see faults.py), in this order: a random rule's draw, resets before
        acting, delays, HTTP errors and bad answers; then the command; then resets after it,
        or missing fields."""
        faults = self.server.sim.faults
        name = first(pairs, "command") or ""
        chance = faults.random_mode(name)
        if chance == "reset_before" or faults.take("drop_connections", name):
            self._hang_up()
            return
        delay = faults.take("delays", name)
        if delay:
            time.sleep(float(delay.get("seconds", 1.0)))
        early = _early_answer(faults, name, chance)
        if early is not None:
            self._send_raw(*early)
            return
        status, doc = self.server.sim.api.handle(pairs, self._base_url())
        if chance == "reset_after" or faults.take("reset_after", name):
            self._hang_up()
            return
        stripped = faults.take("bad_responses", name, _missing_fields)
        if stripped:
            _strip(doc, set(stripped.get("fields") or ["id"]))
        self._send(status, doc)

    def _hang_up(self) -> None:
        """Close the connection without a byte of answer."""
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

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


def _missing_fields(rule: dict[str, Any]) -> bool:
    return bool(rule["kind"] == "missing_fields")


def _early_answer(faults: Faults, command: str, chance: str | None) -> tuple[int, bytes, str] | None:
    """(status, body, content type) of an injected answer given before acting, or None."""
    if chance == "http_503":
        return _text(503, f"moldsim: injected HTTP 503 for {command}")
    injected = faults.take("http_errors", command)
    if injected:
        status = int(injected.get("status", 503))
        return _text(status, str(injected.get("body") or
                                 f"moldsim: injected HTTP {status} for {command}"))
    bad = faults.take("bad_responses", command, lambda rule: not _missing_fields(rule))
    return None if bad is None else _bad_answer(command, bad)


def _text(status: int, text: str) -> tuple[int, bytes, str]:
    return status, text.encode("utf-8"), "text/plain; charset=UTF-8"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _bad_answer(command: str, rule: dict[str, Any]) -> tuple[int, bytes, str]:
    """(status, body, content type) of an answer no Mold gives, by the rule's kind."""
    kind = rule["kind"]
    if kind == "html":
        status = int(rule.get("status", 502))
        title = f"{status} {_reason(status)}"
        page = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
                f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
                "</body>\r\n</html>\r\n")
        return status, page.encode(), "text/html"
    status = int(rule.get("status", 200))
    if kind == "malformed_json":
        return status, f'{{"{command.lower()}response": {{"count": 1, "'.encode(), JSON_TYPE
    if kind == "empty":
        return status, b"", JSON_TYPE
    text = str(rule.get("errortext") or f"moldsim: injected error answer for {command}")
    doc = {"errorresponse": {"uuidList": [], "errorcode": 530, "cserrorcode": 9999,
                             "errortext": text}}
    return status, json.dumps(doc).encode(), JSON_TYPE


def _strip(doc: dict[str, Any], fields: set[str]) -> None:
    """missing_fields: remove `fields` from the response object (the one value of `doc`) and
    from every object that is an item of a list anywhere inside it."""
    for inner in doc.values():
        if isinstance(inner, dict):
            _drop(inner, fields)
            _strip_lists(inner, fields)


def _drop(obj: dict[str, Any], fields: set[str]) -> None:
    for name in fields & set(obj):
        del obj[name]


def _strip_lists(value: Any, fields: set[str], list_item: bool = False) -> None:
    if isinstance(value, dict):
        if list_item:
            _drop(value, fields)
        for inner in value.values():
            _strip_lists(inner, fields)
    elif isinstance(value, list):
        for item in value:
            _strip_lists(item, fields, list_item=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    sim: MoldSim
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[Any, Any]:
        """With TLS, the handshake is left to the first read, in the request's own thread: a
        slow or failing client never holds up the accept loop."""
        sock, address = super().get_request()
        if self.tls is None:
            return sock, address
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up, failed the TLS handshake or was killed is not news."""
        if self.sim.verbose:
            super().handle_error(request, client_address)


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
        signature: str | None = None,
        job_seconds: float = 0.0,
        data_dir: str | os.PathLike[str] | None = None,
        download_seconds: float | None = None,
        guest_poweroff_detect_seconds: float = 0.0,
        max_page_size: int = 500,
        verbose: bool = False,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        profile: str = profiles.DEFAULT_PROFILE,
        api_limit: str | tuple[int, float] | None = None,
        zones: int = 1,
        install_seconds: float = 0.0,
        boot_prompt_seconds: float = 5.0,
        console_port: int = 0,
    ) -> None:
        release = profiles.get(profile)
        signature = release.signature if signature is None else signature
        if signature not in ("sha256", "sha1"):
            raise ValueError(f"signature must be sha256 or sha1, not {signature!r}")
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("TLS needs both a certificate (tls_cert) and its key (tls_key)")
        limit = parse_api_limit(api_limit) if isinstance(api_limit, str) or api_limit is None \
            else (int(api_limit[0]), float(api_limit[1]))
        self._tls: ssl.SSLContext | None = None
        if tls_cert is not None and tls_key is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(os.fspath(tls_cert), os.fspath(tls_key))
        self.config = SimConfig(api_key, secret_key, signature, job_seconds, download_seconds,
                                guest_poweroff_detect_seconds, max_page_size, profile, limit,
                                max(1, int(zones)), install_seconds=float(install_seconds),
                                boot_prompt_seconds=float(boot_prompt_seconds),
                                console_port=int(console_port))
        self.store = Store(data_dir, zones=self.config.zones)
        self.faults = Faults()
        self.api = Api(self.store, self.config, self.faults)
        self.api.tick()  # a restart finishes jobs that came due while it was down
        self.verbose = verbose
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._console: ConsoleServer | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("MoldSim is not started")
        host, port = self._server.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host}:{port}"

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
        self._server.tls = self._tls
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.config.base_url = self.base_url
        self._console = ConsoleServer(self.api, host, self.config.console_port, self._tls)
        self.config.console_bound_port = self._console.port
        return self.url

    def stop(self) -> None:
        """Stop serving and free the port (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        console, self._console = self._console, None
        if console is not None:
            console.stop()
            self.config.console_bound_port = None
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

    def upload_info(self, iso_id: str) -> dict[str, Any]:
        """Same as GET /moldsim/uploads/<iso id>: state, bytes, sha256 and path of the file an
        upload stored (ControlError 404 for an ISO without an upload)."""
        return self.control("GET", f"/moldsim/uploads/{iso_id}")

    def guest(self, vm_id: str) -> dict[str, Any]:
        """Same as GET /moldsim/guests/<vm id>: the guest model's state (ControlError 404 when
        the VM never started from Windows Setup media moldsim holds)."""
        return self.control("GET", f"/moldsim/guests/{vm_id}")

    def guest_agent(self, vm_id: str, running: bool = True) -> dict[str, Any]:
        """Same as POST /moldsim/guest-agent: the VM's qemu guest agent runs (or not)."""
        return self.control("POST", "/moldsim/guest-agent", {"id": vm_id, "running": running})


__all__ = ["MoldSim", "API_PATH"]

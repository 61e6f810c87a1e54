"""A VM's console through Mold's console proxy: ``createConsoleEndpoint`` (since CloudStack
4.18) and one key pressed over RFB on the proxy's websocket.

What Mold answers (CreateConsoleEndpointCmd, object ``consoleendpoint``): ``result``,
``details`` (why not), ``url`` (the noVNC page for a person) and ``websocket`` with ``host``,
``port``, ``path`` ("websockify"), ``token`` and, with extra validation on, ``extra``
(ConsoleAccessManagerImpl.composeConsoleAccessEndpoint: host from getConsoleAccessAddress, port
ConsoleProxyManager.getVncPort). The proxy reads ``token`` (and ``extra``) from the query of
the websocket request (ConsoleProxyNoVNCHandler.onConnect, ConsoleProxyHttpHandlerHelper
.getQueryMap: raw, not URL-decoded), answers with the subprotocol "binary", and checks that
the websocket comes from the address that asked for the endpoint (sourceIP).

The RFB the proxy speaks to its client (ConsoleProxyNoVncClient, NoVncClient): it does the VNC
authentication with the host itself. Over a plain socket to the host it offers "RFB 003.003"
and then security type None as a 4-byte word; over the newer NIO path it offers "RFB
003.008", one security type, and after the client's choice sends the SecurityResult OK without
a challenge. Either way the client then sends ClientInit and reads ServerInit, and its
messages (a KeyEvent: type 4, down flag, two padding bytes, the keysym) reach the VM.
"""

from __future__ import annotations

import ssl
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from reconciler.errors import MoldError

__all__ = ["ConsoleEndpoint", "ConsoleError", "parse_endpoint", "press_key", "SPACE"]

SPACE = 0x20  # X11 keysym of the space bar
KEY_EVENT = 4


class ConsoleError(MoldError):
    """The console could not be reached or did not speak RFB as Mold's proxy does."""


@dataclass(frozen=True)
class ConsoleEndpoint:
    url: str | None  # for a person: the noVNC page
    host: str
    port: str
    path: str
    token: str
    extra: str | None = None

    def websocket_url(self) -> str:
        scheme = "wss" if (self.url or "").lower().startswith("https") else "ws"
        query = f"token={self.token}" + (f"&extra={self.extra}" if self.extra else "")
        return f"{scheme}://{self.host}:{self.port}/{self.path.lstrip('/')}?{query}"


def parse_endpoint(answer: Mapping[str, Any]) -> ConsoleEndpoint:
    """createConsoleEndpoint's answer (with or without its ``consoleendpoint`` wrapper)."""
    body = answer.get("consoleendpoint", answer)
    if str(body.get("result")).lower() != "true":
        raise ConsoleError(f"createConsoleEndpoint: {body.get('details') or 'no endpoint'}")
    socket = body.get("websocket") or {}
    try:
        return ConsoleEndpoint(body.get("url"), str(socket["host"]), str(socket["port"]),
                               str(socket.get("path") or "websockify"), str(socket["token"]),
                               socket.get("extra"))
    except KeyError as missing:
        raise ConsoleError(f"createConsoleEndpoint answered without websocket {missing}"
                           ) from None


class _Reader:
    """Bytes from a websocket's messages, however the proxy split them."""

    def __init__(self, ws: ClientConnection, timeout: float) -> None:
        self._ws = ws
        self._timeout = timeout
        self._buffer = b""

    def take(self, count: int) -> bytes:
        while len(self._buffer) < count:
            message = self._ws.recv(timeout=self._timeout)
            self._buffer += message if isinstance(message, bytes) else message.encode("latin-1")
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def reason(self) -> str:
        length = int.from_bytes(self.take(4), "big")
        return self.take(min(length, 4096)).decode("utf-8", "replace")


def _handshake(ws: ClientConnection, reader: _Reader) -> None:
    offered = reader.take(12)
    if not offered.startswith(b"RFB 003."):
        raise ConsoleError(f"the console did not speak RFB (it sent {offered[:12]!r})")
    minor = int(offered[8:11] or b"3")
    ws.send(b"RFB 003.008\n" if minor >= 8 else b"RFB 003.007\n" if minor == 7
            else b"RFB 003.003\n")
    if minor < 7:
        kind = int.from_bytes(reader.take(4), "big")
        if kind == 0:
            raise ConsoleError(f"the console refused the connection: {reader.reason()}")
        if kind != 1:
            raise ConsoleError(f"the console asks for security type {kind}, not None")
        return
    count = reader.take(1)[0]
    if count == 0:
        raise ConsoleError(f"the console refused the connection: {reader.reason()}")
    types = reader.take(count)
    chosen = 1 if 1 in types else types[0]  # Mold's proxy authenticates with the host itself
    ws.send(bytes([chosen]))
    result_sent = minor >= 8 or chosen != 1  # RFB 3.7 sends no SecurityResult for None
    if result_sent and int.from_bytes(reader.take(4), "big") != 0:
        raise ConsoleError(f"the console refused the security handshake: "
                           f"{reader.reason() if minor >= 8 else 'no reason given'}")


def _key(down: bool, keysym: int) -> bytes:
    return struct.pack(">BBxxI", KEY_EVENT, 1 if down else 0, keysym)


def press_key(endpoint: ConsoleEndpoint, *, keysym: int = SPACE, presses: int = 1,
              interval: float = 1.0, timeout: float = 15.0,
              tls: ssl.SSLContext | bool = True,
              sleep: Callable[[float], None] = time.sleep) -> None:
    """Connect, do the RFB handshake, press and release ``keysym`` ``presses`` times,
    ``interval`` seconds apart, and leave."""
    url = endpoint.websocket_url()
    context: ssl.SSLContext | None = None
    if url.startswith("wss"):
        context = tls if isinstance(tls, ssl.SSLContext) else ssl.create_default_context()
        if tls is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    try:
        with connect(url, subprotocols=["binary"], ssl=context,  # type: ignore[list-item]
                     open_timeout=timeout, close_timeout=timeout, max_size=None,
                     compression=None) as ws:
            reader = _Reader(ws, timeout)
            _handshake(ws, reader)
            ws.send(b"\x01")  # ClientInit: shared
            init = reader.take(24)  # size, pixel format, name length
            reader.take(int.from_bytes(init[20:24], "big"))
            for n in range(max(presses, 1)):
                if n:
                    sleep(interval)
                ws.send(_key(True, keysym))
                ws.send(_key(False, keysym))
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise ConsoleError(f"the console websocket {endpoint.host}:{endpoint.port} failed "
                           f"({type(exc).__name__}: {exc})") from None

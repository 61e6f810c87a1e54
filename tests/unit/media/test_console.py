"""The console client against websocket servers that speak RFB the two ways Mold's console
proxy does (ConsoleProxyNoVncClient: RFB 3.3 with security None over a plain socket to the
host; RFB 3.8 with one offered type and a SecurityResult without challenge over NIO), with the
bytes cut into frames of any size."""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, serve

from reconciler.mold.console import SPACE, ConsoleEndpoint, ConsoleError, parse_endpoint, press_key

SERVER_INIT = struct.pack(">HH", 1024, 768) + bytes(16) + struct.pack(">I", 4) + b"w11 "


class Seen:
    def __init__(self) -> None:
        self.keys: list[tuple[int, int]] = []
        self.query = ""
        self.subprotocol: str | None = None
        self.client_version = b""


def _take(conn: ServerConnection, buffer: bytearray, count: int) -> bytes:
    while len(buffer) < count:
        message = conn.recv()
        buffer += message if isinstance(message, bytes) else message.encode()
    data = bytes(buffer[:count])
    del buffer[:count]
    return data


def _send_in_pieces(conn: ServerConnection, data: bytes) -> None:
    for i in range(0, len(data), 3):  # frames cut anywhere
        conn.send(data[i:i + 3])


def proxy_33(conn: ServerConnection, seen: Seen, buffer: bytearray) -> None:
    _send_in_pieces(conn, b"RFB 003.003\n")
    seen.client_version = _take(conn, buffer, 12)
    _send_in_pieces(conn, b"\x00\x00\x00\x01")  # NoVncClient.authenticateTunnel: "no auth"
    _take(conn, buffer, 1)
    _send_in_pieces(conn, SERVER_INIT)


def proxy_38(conn: ServerConnection, seen: Seen, buffer: bytearray) -> None:
    _send_in_pieces(conn, b"RFB 003.008\n")
    seen.client_version = _take(conn, buffer, 12)
    conn.send(bytes([1, 2]))  # the host's type (VNC auth), done by the proxy itself
    assert _take(conn, buffer, 1) == b"\x02"
    conn.send(b"\x00\x00\x00\x00")  # SecurityResult OK, no challenge
    _take(conn, buffer, 1)
    _send_in_pieces(conn, SERVER_INIT)


def refusing(conn: ServerConnection, seen: Seen, buffer: bytearray) -> None:
    conn.send(b"RFB 003.008\n")
    _take(conn, buffer, 12)
    reason = b"Access ticket expired"
    conn.send(b"\x00" + struct.pack(">I", len(reason)) + reason)


@contextmanager
def proxy(speak: Callable[[ServerConnection, Seen, bytearray], None]) -> Iterator[
        tuple[ConsoleEndpoint, Seen]]:
    seen = Seen()

    def handle(conn: ServerConnection) -> None:
        assert conn.request is not None
        seen.query = conn.request.path.partition("?")[2]
        seen.subprotocol = conn.subprotocol
        buffer = bytearray()
        speak(conn, seen, buffer)
        try:
            while True:
                kind = _take(conn, buffer, 1)[0]
                assert kind == 4
                down, key = struct.unpack(">BxxI", _take(conn, buffer, 7))
                seen.keys.append((down, key))
        except Exception:  # the client left
            return

    def pick(conn: ServerConnection, offered: Any) -> Any:
        return "binary" if "binary" in offered else None

    with serve(handle, "127.0.0.1", 0, subprotocols=["binary"],  # type: ignore[list-item]
               select_subprotocol=pick) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = server.socket.getsockname()[1]
        yield ConsoleEndpoint("http://127.0.0.1/resource/noVNC/vnc.html?token=t0k-en_1",
                              "127.0.0.1", str(port), "websockify", "t0k-en_1", "xtra"), seen
        server.shutdown()
        thread.join(5)


@pytest.mark.parametrize("speak, version", [(proxy_33, b"RFB 003.003\n"),
                                            (proxy_38, b"RFB 003.008\n")])
def test_a_key_is_pressed_and_released(speak: Any, version: bytes) -> None:
    with proxy(speak) as (endpoint, seen):
        press_key(endpoint, presses=2, interval=0.0, timeout=5)
        for _ in range(200):
            if len(seen.keys) == 4:
                break
            threading.Event().wait(0.01)
    assert seen.client_version == version
    assert seen.keys == [(1, SPACE), (0, SPACE), (1, SPACE), (0, SPACE)]
    assert seen.query == "token=t0k-en_1&extra=xtra" and seen.subprotocol == "binary"


def test_a_refusal_says_why() -> None:
    with proxy(refusing) as (endpoint, _seen), \
            pytest.raises(ConsoleError, match="refused the connection: Access ticket expired"):
        press_key(endpoint, timeout=5)


def test_nothing_listening_is_a_console_error() -> None:
    endpoint = ConsoleEndpoint(None, "127.0.0.1", "9", "websockify", "t")
    with pytest.raises(ConsoleError, match=r"the console websocket 127\.0\.0\.1:9 failed"):
        press_key(endpoint, timeout=2)


def test_the_endpoint_as_mold_answers_it() -> None:
    answer = {"consoleendpoint": {"result": True, "url": "https://cp.example/resource/noVNC/"
                                  "vnc.html?autoconnect=true&port=8443&token=abc",
                                  "websocket": {"host": "cp.example", "port": "8443",
                                                "path": "websockify", "token": "abc"}}}
    endpoint = parse_endpoint(answer)
    assert endpoint.websocket_url() == "wss://cp.example:8443/websockify?token=abc"
    with pytest.raises(ConsoleError, match="createConsoleEndpoint: Console service is not ready"):
        parse_endpoint({"consoleendpoint": {"result": False,
                                            "details": "Console service is not ready"}})

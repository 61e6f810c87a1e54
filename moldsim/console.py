"""The VM console: `createConsoleEndpoint` and the console proxy's websocket, speaking RFB.

moldsim is its own console proxy: `ConsoleServer` (started by MoldSim.start) serves the
websocket the endpoint names, and a key pressed there reaches the guest model
(moldsim.guest.key_press): during the firmware's "Press any key to boot from CD or DVD" it
boots the CD. One console session (data["console_sessions"][token] = {vmid, session,
accountid, created, extra, used}) admits one connection.

Sources (L = jeongda-young/ablestack-cloud; docs/moldsim.md, "Guest model"):
- api/.../command/user/consoleproxy/CreateConsoleEndpointCmd.java: since 4.18.0, every role
  type; `virtualmachineid` (required), `token` (optional extra security token); answers a
  CreateConsoleEndpointResponse "consoleendpoint" {result, details, url, websocket {token,
  host, port, path, extra}}; a null endpoint only would be an API error.
- server/.../consoleproxy/ConsoleAccessManagerImpl.java: generateConsoleEndpoint answers
  result=false with details ("Permission denied" when checkSessionPermission refuses: the
  root admin, or AccountManager.checkAccess on the VM; exceptions become "Server Internal
  Error: " + message: "VM <uuid> must be running to connect console, sending blank response
  for console access request" for Stopped/Error/Destroyed, "Console access will be ready in a
  few minutes. Please try it again later." without a console proxy); composeConsoleAccessEndpoint:
  url = proxy root + "/resource/noVNC/vnc.html?autoconnect=true&port=<vncPort>&token=<token>",
  "&extra=<token>" when given, "&guest=windows" for Windows guests, "http:" prefixed;
  websocket host = the proxy's address, port = vncPort (ConsoleProxyManagerImpl.getVncPort:
  8080, 8443 with SSL), path "websockify"; genAccessTicket rounds time to the minute.
- server/.../consoleproxy/AgentHookBase.onConsoleAccessAuthentication: a session is used once
  ("has been already used or does not exist"); the ticket matches this minute or the one
  before.
- services/console-proxy/.../ConsoleProxy.authenticateConsoleAccess: the client's `extra`
  must equal the endpoint's extra token; ConsoleProxyNoVNCHandler reads the query string's
  token; ConsoleProxyNoVncClient/NoVncClient (direct KVM connection): the client gets
  "RFB 003.008\\n", then the security type the VNC server chose as [1, type] (QEMU with a VNC
  password: 2), the proxy authenticates to QEMU itself and sends SecurityResult 0, then
  ServerInit with the name rewritten to "<display name> " (plus "(TLS backend)" for TLS to the
  host); RfbConstants: client messages 0 SetPixelFormat, 2 SetEncodings, 3
  FramebufferUpdateRequest, 4 KeyEvent, 5 PointerEvent, 6 ClientCutText.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import ssl
import struct
import threading
import uuid
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from moldsim import errors, guest, identity
from moldsim.context import Ctx
from moldsim.registry import UUID, Param, api

log = logging.getLogger("moldsim.console")
# the websockets library's own lines ("server listening on ...") are not news
_ws_log = logging.getLogger("moldsim.console.websockets")
_ws_log.setLevel(logging.WARNING)

WS_PATH = "websockify"
NOT_RUNNING = ("Stopped", "Error", "Destroyed")  # ConsoleAccessManagerImpl.unsupportedConsoleVMState
MAX_SESSIONS = 1000
RFB_VERSION = b"RFB 003.008\n"
SECURITY_VNC_AUTH = 2
WIDTH, HEIGHT = 1024, 768
# 32 bits per pixel, depth 24, little-endian, true colour, 255/255/255, shifts 16/8/0
PIXEL_FORMAT = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
# client message type → bytes after the type byte (None: a length-prefixed message)
CLIENT_MESSAGES = {0: 19, 2: None, 3: 9, 4: 7, 5: 5, 6: None}



# ---------------------------------------------------------------- createConsoleEndpoint

def _failed(details: str) -> dict[str, Any]:
    return {"consoleendpoint": {"result": False, "details": details, "websocket": {}}}


@api("createConsoleEndpoint", [
    Param("virtualmachineid", UUID, True, entity="vms", description="ID of the VM"),
    Param("token", description="(optional) extra security token, valid when the extra validation is enabled")],
    description="Create a console endpoint to connect to a VM console")
def create_console_endpoint(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    vm = ctx.get("vms", p["virtualmachineid"], "virtualmachineid")
    if not _may_see(ctx, vm):
        return _failed("Permission denied")
    if vm["state"] in NOT_RUNNING:
        return _failed(f"Server Internal Error: VM {vm['id']} must be running to connect console, "
                       "sending blank response for console access request")
    port = ctx.config.console_bound_port
    if port is None:
        return _failed("Server Internal Error: Console access will be ready in a few minutes. "
                       "Please try it again later.")
    parts = urlsplit(ctx.base_url or "http://127.0.0.1")
    host = parts.hostname or "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    scheme = "https" if parts.scheme == "https" else "http"
    token = secrets.token_urlsafe(24)
    extra = p.get("token") or None
    _remember(ctx, token, vm, extra)
    url = f"{scheme}://{shown}:{port}/resource/noVNC/vnc.html?autoconnect=true&port={port}&token={token}"
    if extra:
        url += f"&extra={extra}"
    if _windows_guest(ctx, vm):
        url += "&guest=windows"
    websocket = {"host": host, "port": str(port), "path": WS_PATH, "token": token, "extra": extra}
    return {"consoleendpoint": {"result": True, "url": url, "websocket": websocket}}


def _may_see(ctx: Ctx, vm: dict[str, Any]) -> bool:
    """checkSessionPermission: the root admin, or AccountManager.checkAccess on the VM."""
    if identity.is_root_admin(ctx.account):
        return True
    try:
        identity.check_owner(ctx.store, ctx.account, ctx.owner_id(vm))
    except errors.ApiError:
        return False
    return True


def _windows_guest(ctx: Ctx, vm: dict[str, Any]) -> bool:
    """Guest OS category Windows (Mold tests category id 6, Windows)."""
    image = ctx.coll("isos").get(vm["templateid"]) or ctx.coll("templates").get(vm["templateid"]) or {}
    return bool(ctx.coll("ostypes").get(str(image.get("ostypeid")), {}).get("oscategoryname") == "Windows")


def _remember(ctx: Ctx, token: str, vm: dict[str, Any], extra: str | None) -> None:
    sessions: dict[str, Any] = ctx.store.data.setdefault("console_sessions", {})
    if len(sessions) >= MAX_SESSIONS:  # the oldest go first
        for old in sorted(sessions, key=lambda t: sessions[t]["created"])[:len(sessions) - MAX_SESSIONS + 1]:
            del sessions[old]
    sessions[token] = {"vmid": vm["id"], "session": str(uuid.uuid4()), "accountid": ctx.account["id"],
                       "created": ctx.now, "extra": extra, "used": False}


# ---------------------------------------------------------------- admission

def admit(api_: Any, query: dict[str, str]) -> tuple[str, str] | str:
    """(VM id, the ServerInit name) for a connection with this query, or why it is refused,
    in the console proxy's order: extra token, one-time session, ticket age, a running VM."""
    with api_.store.lock:
        api_.tick()
        ctx = api_.ctx()
        sessions = ctx.store.data.setdefault("console_sessions", {})
        session = sessions.get(query.get("token", ""))
        if session is None:
            return "Unable to decode token"
        if session.get("extra") and query.get("extra") != session["extra"]:
            return "The provided extra token does not match the expected value for this console endpoint"
        if session["used"]:
            return f"Session {session['session']} has already been used, cannot connect"
        session["used"] = True
        api_.store.save()
        minute = max(float(ctx.config.console_ticket_seconds), 1e-6)
        if int(ctx.now // minute) - int(float(session["created"]) // minute) > 1:
            return "Access ticket expired or has been modified"
        vm = ctx.coll("vms").get(session["vmid"])
        if vm is None or vm["state"] in NOT_RUNNING:
            return f"VM {session['vmid']} is not running"
        return str(vm["id"]), f"{vm['displayname']} "


def _press(api_: Any, vm_id: str) -> None:
    with api_.store.lock:
        api_.tick()
        if guest.key_press(api_.ctx(), vm_id):
            log.info("console %s: a key booted the CD", vm_id)
        api_.store.save()


# ---------------------------------------------------------------- RFB over the websocket

class _Stream:
    """The client's bytes, whatever the websocket frames cut them into."""

    def __init__(self, conn: ServerConnection) -> None:
        self.conn, self.buf = conn, bytearray()

    def take(self, count: int) -> bytes:
        while len(self.buf) < count:
            message = self.conn.recv()
            self.buf += message if isinstance(message, bytes) else message.encode("latin-1")
        out = bytes(self.buf[:count])
        del self.buf[:count]
        return out


def rfb_session(api_: Any, conn: ServerConnection, vm_id: str, name: str) -> None:
    """The console proxy's side of RFB 3.8, up to ServerInit; then every client message is
    read and KeyEvent presses reach the guest."""
    stream = _Stream(conn)
    conn.send(RFB_VERSION)
    stream.take(12)
    conn.send(bytes([1, SECURITY_VNC_AUTH]))
    stream.take(1)
    conn.send(struct.pack(">I", 0))
    stream.take(1)  # ClientInit
    label = name.encode("utf-8")
    conn.send(struct.pack(">HH", WIDTH, HEIGHT) + PIXEL_FORMAT + struct.pack(">I", len(label)) + label)
    while True:
        kind = stream.take(1)[0]
        if kind not in CLIENT_MESSAGES:
            conn.close(1003, f"unknown RFB client message {kind}")
            return
        if kind == 2:
            count = struct.unpack(">xH", stream.take(3))[0]
            stream.take(4 * count)
        elif kind == 6:
            length = struct.unpack(">3xI", stream.take(7))[0]
            stream.take(length)
        else:
            body = stream.take(int(CLIENT_MESSAGES[kind] or 0))
            if kind == 4 and body[0]:
                _press(api_, vm_id)


class ConsoleServer:
    """The console proxy's websocket server, in a daemon thread."""

    def __init__(self, api_: Any, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        self.api = api_
        self._server: Server = serve(self._handle, host, port, ssl=tls, subprotocols=[Subprotocol("binary")],
                                     select_subprotocol=_binary_if_asked, process_request=_page,
                                     compression=None, logger=_ws_log)
        self.port: int = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="moldsim-console")
        self._thread.start()

    def _handle(self, conn: ServerConnection) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(conn.request.path if conn.request else "").query).items()}
        admitted = admit(self.api, query)
        if isinstance(admitted, str):
            log.info("console: refused: %s", admitted)
            conn.close(1008, admitted[:120])
            return
        with contextlib.suppress(ConnectionClosed):
            rfb_session(self.api, conn, *admitted)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


def _binary_if_asked(conn: ServerConnection, offered: Any) -> Any:
    return "binary" if "binary" in offered else None


def _page(conn: ServerConnection, request: Request) -> Response | None:
    """A plain GET (the noVNC page of the URL) gets a short text; upgrades go on."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return None
    return conn.respond(HTTPStatus.OK, f"moldsim console proxy: open a websocket to /{WS_PATH}?token=...\n")

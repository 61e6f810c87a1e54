"""ISO uploads: the ticket getUploadParamsForIso hands out and the endpoint that takes the file.

Mold answers getUploadParamsForIso with a one-time URL on the secondary storage VM, signed
with a key only the management server and the SSVM share; the browser (or any client) posts
the file there as multipart/form-data. moldsim serves that URL itself, on its own host:port:
`POST /upload/<iso uuid>` (the path Apache on the SSVM proxies to the Netty upload server).

The ISO record keeps the upload in `upload` = {state, expires (when the URL stops being valid,
wall-clock seconds), maxgb (max.template.iso.size when the ticket was made), url, error,
bytes, sha256, path (the stored file), received (when it arrived)}. `state` follows
VirtualMachineTemplate.State: NotUploaded → UploadInProgress (the file is arriving) →
Uploaded (then the ISO installs like a download and becomes ready) or UploadError; a ticket
never used past `expires` reads UploadAbandoned (ImageStoreUploadMonitorImpl's timeout).

Sources (L = jeongda-young/ablestack-cloud, M = ablecloud-team/ablestack-cloud; notes item 16;
docs/moldsim.md, "ISO uploads"):
- api/.../user/iso/GetUploadParamsForIsoCmd.java (getCommandName "postuploadisoresponse",
  validateRequest: zoneid <= 0 → 431 "Invalid zoneid"), api/.../response/
  GetUploadParamsResponse.java (id, postURL, metadata, expires, signature; object name
  "getuploadparams", as the UI reads json.postuploadisoresponse.getuploadparams).
- server/.../template/TemplateManagerImpl.registerPostUploadInternal: expires = UTC now +
  upload.operation.timeout minutes (Joda DateTime.toString), signature =
  EncryptionUtil.generateSignature(metadata + postURL + expires, upload.post.secret.key):
  HmacSHA256, Base64; metadata is the encrypted TemplateOrVolumePostUploadCommand (moldsim's
  is opaque Base64 JSON of its own).
- services/secondary-storage/.../HttpUploadServerHandler.java: POST only (else 400 "only post
  requests are allowed"); headers x-signature, x-metadata, x-expires, x-forwarded-host (set by
  the SSVM's Apache from the client's Host) and content-length, names matched ignoring case;
  every InvalidParameterValueException → 400 with its message; the first multipart part that
  is a file is the upload (none: 422 "received entity is not a file"); success 200 "upload
  successful."; answers are text/plain; charset=UTF-8.
- services/secondary-storage/.../NfsPostUploadRequestValidationService.validatePostUploadRequest,
  in this order: "signature, metadata and expires are compulsory fields."; "content length is
  not set in the request or has invalid value."; the signature over
  metadata + "<http|https>://<host>/upload/<uuid>" + expires ("signature validation failed.");
  "request not valid anymore." (expires in the past). Each but the content length also marks
  the upload failed (updateStateMapWithError), so the ISO never becomes ready.
- NfsSecondaryStorageResource.createUploadEntity (L, per the notes): "unable decode and
  deserialize metadata."; the one-time URL ("The one time post url is already used", plus
  " and the upload is in <IN_PROGRESS|COMPLETED|ERROR> state." when the SSVM knows it);
  "Maximum file upload size exceeded. Content Length received: <n>GB. Maximum allowed size:
  <m>GB." (the request's content length rounded up to whole GiB against maxUploadSize).
Not emulated: the content check of the received file (ImageStoreUtil.checkTemplateFormat,
400 "File type mismatch ..."), secondary storage resource limits, `use.https.to.upload` (the
URL has moldsim's own scheme).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from moldsim import settings
from moldsim.context import Ctx

PATH_PREFIX = "/upload/"
GIB = 1024 ** 3
CHUNK = 1 << 20
DRAIN_LIMIT = 64 << 20  # a refused body up to this size is read and dropped, a larger one cut off
TEXT_TYPE = "text/plain; charset=UTF-8"

COMPULSORY = "signature, metadata and expires are compulsory fields."
NO_LENGTH = "content length is not set in the request or has invalid value."
BAD_SIGNATURE = "signature validation failed."
EXPIRED = "request not valid anymore."
BAD_METADATA = "unable decode and deserialize metadata."
USED = "The one time post url is already used"
TOO_LARGE = "Maximum file upload size exceeded. Content Length received: {got}GB. Maximum allowed size: {max}GB."
NOT_A_FILE = "received entity is not a file"
ONLY_POST = "only post requests are allowed"
PREMATURE = "file receive failed or connection closed prematurely."
SUCCESS = "upload successful."
# UploadEntity.Status as the one-time refusal names it
_ENTITY_STATUS = {"UploadInProgress": "IN_PROGRESS", "Uploaded": "COMPLETED", "UploadError": "ERROR"}
# template_store_ref.download_state while the ISO waits for its file (the first from the notes'
# reading of the upload monitor; moldsim's choice where the source was not read)
_STORE_STATE = {"NotUploaded": "NOT_UPLOADED", "UploadInProgress": "UPLOAD_IN_PROGRESS",
                "UploadError": "DOWNLOAD_ERROR", "UploadAbandoned": "ABANDONED"}


# ---------------------------------------------------------------- the ticket

def joda_utc(when: float) -> str:
    """Joda DateTime(UTC).toString(): 2026-09-20T10:15:30.123Z."""
    dt = datetime.fromtimestamp(when, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def sign(secret: str, data: str) -> str:
    """EncryptionUtil.generateSignature: HmacSHA256 of the UTF-8 data, Base64."""
    return base64.b64encode(hmac.new(secret.encode(), data.encode(), hashlib.sha256).digest()).decode()


def issue(ctx: Ctx, rec: dict[str, Any]) -> dict[str, Any]:
    """TemplateManagerImpl.registerPostUploadInternal for a new ISO record: its ticket
    (GetUploadParamsResponse) and its `upload` state."""
    minutes = settings.number(ctx.store, ctx.config, "upload.operation.timeout")
    max_gb = int(settings.number(ctx.store, ctx.config, "max.template.iso.size"))
    expires_at = ctx.now + minutes * 60
    expires = joda_utc(expires_at)
    post_url = f"{(ctx.base_url or 'http://127.0.0.1').rstrip('/')}{PATH_PREFIX}{rec['id']}"
    command = {"entityUUID": rec["id"], "entityId": rec["n"], "type": "TEMPLATE", "name": rec["name"],
               "format": "ISO", "maxUploadSize": str(max_gb), "accountId": rec["accountid"]}
    metadata = base64.b64encode(json.dumps(command, sort_keys=True).encode()).decode()
    rec["upload"] = {"state": "NotUploaded", "expires": expires_at, "maxgb": max_gb, "url": post_url,
                     "error": None, "bytes": None, "sha256": None, "path": None, "received": None}
    return {"id": rec["id"], "postURL": post_url, "metadata": metadata, "expires": expires,
            "signature": sign(str(ctx.store.data["upload_secret"]), metadata + post_url + expires)}


# ---------------------------------------------------------------- what lists show

def state(rec: dict[str, Any], now: float) -> str | None:
    """The ISO's upload state (VirtualMachineTemplate.State), None when it was registered."""
    up = rec.get("upload")
    if up is None:
        return None
    if up["state"] == "NotUploaded" and now > float(up["expires"]):
        return "UploadAbandoned"
    return str(up["state"])


def waiting(rec: dict[str, Any]) -> bool:
    """The ISO still waits for its file (it has no status and is not ready)."""
    up = rec.get("upload")
    return up is not None and up["state"] != "Uploaded"


def store_state(rec: dict[str, Any], now: float) -> str | None:
    """downloaddetails downloadState while the ISO waits for its file; None otherwise."""
    current = state(rec, now)
    return None if current in (None, "Uploaded") else _STORE_STATE[str(current)]


def info(rec: dict[str, Any], now: float) -> dict[str, Any]:
    """GET /moldsim/uploads/<id>: what moldsim holds of the upload."""
    up = rec["upload"]
    return {"id": rec["id"], "state": state(rec, now), "url": up["url"], "bytes": up["bytes"],
            "sha256": up["sha256"], "path": up["path"], "error": up["error"],
            "received": up["received"]}


def discard(rec: dict[str, Any]) -> None:
    """deleteIso: the stored file goes with the ISO."""
    path = (rec.get("upload") or {}).get("path")
    if path:
        Path(path).unlink(missing_ok=True)


# ---------------------------------------------------------------- the endpoint

class Refused(Exception):
    """An answer other than success; `mark`: the upload is failed for good
    (NfsPostUploadService.updateStateMapWithError)."""

    def __init__(self, status: int, text: str, mark: bool = True) -> None:
        super().__init__(text)
        self.status, self.text, self.mark = status, text, mark


class _Body:
    """The request body, at most `left` bytes of it; EOFError when the client stops early."""

    def __init__(self, rfile: IO[bytes], length: int) -> None:
        self.rfile, self.left = rfile, max(0, length)

    def read(self, size: int = CHUNK) -> bytes:
        if self.left <= 0:
            return b""
        data = self.rfile.read(min(size, self.left))
        if not data:
            raise EOFError
        self.left -= len(data)
        return data

    def drain(self) -> None:
        while self.read():
            pass


def _parse_expires(text: str) -> float:
    """DateTime.parse(expires, ISODateTimeFormat.dateTime()); ValueError when malformed."""
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()


def _entity_uuid(metadata: str) -> str:
    """The entity the metadata names; Refused when it cannot be read."""
    try:
        command = json.loads(base64.b64decode(metadata, validate=True))
        return str(command["entityUUID"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise Refused(400, BAD_METADATA) from None


def _mark(ctx: Ctx, uuid: str, text: str) -> None:
    rec = ctx.coll("isos").get(uuid)
    if rec is not None and rec.get("upload") and rec["upload"]["state"] != "Uploaded":
        rec["upload"].update(state="UploadError", error=text)


def accept(ctx: Ctx, uuid: str, headers: dict[str, str], length: int, scheme: str) -> dict[str, Any]:
    """validatePostUploadRequest and createUploadEntity, in Mold's order; the ISO record whose
    file may now be sent, or Refused."""
    signature, metadata, expires = (headers.get(h) for h in ("x-signature", "x-metadata", "x-expires"))
    if not signature or not metadata or not expires:
        raise Refused(400, COMPULSORY)
    if length <= 0:
        raise Refused(400, NO_LENGTH, mark=False)
    host = headers.get("x-forwarded-host") or headers.get("host") or ""
    expected = sign(str(ctx.store.data["upload_secret"]), f"{metadata}{scheme}://{host}{PATH_PREFIX}{uuid}{expires}")
    if not hmac.compare_digest(expected, signature):
        raise Refused(400, BAD_SIGNATURE)
    try:
        expires_at = _parse_expires(expires)
    except ValueError:  # Joda's IllegalArgumentException reaches exceptionCaught: 500
        raise Refused(500, f'\r\nException occurred: Invalid format: "{expires}"', mark=False) from None
    if expires_at < ctx.now:
        raise Refused(400, EXPIRED)
    rec = ctx.coll("isos").get(_entity_uuid(metadata))
    if rec is None or not rec.get("upload"):  # moldsim: the ISO is gone (deleted meanwhile)
        raise Refused(500, "Internal Server Error", mark=False)
    current = rec["upload"]["state"]
    if current != "NotUploaded":
        known = _ENTITY_STATUS.get(current)
        raise Refused(400, USED + (f" and the upload is in {known} state." if known else ""), mark=False)
    got = math.ceil(length / GIB)
    if got > int(rec["upload"]["maxgb"]):
        raise Refused(400, TOO_LARGE.format(got=got, max=int(rec["upload"]["maxgb"])))
    return rec


def _boundary(content_type: str) -> bytes | None:
    if not re.match(r"\s*multipart/form-data\s*(;|$)", content_type, re.IGNORECASE):
        return None
    m = re.search(r';\s*boundary=(?:"([^"]+)"|([^;\s]+))', content_type, re.IGNORECASE)
    return (m.group(1) or m.group(2)).encode("latin-1") if m else None


def _is_file(head: bytes) -> bool:
    """A part with a filename in its Content-Disposition (Netty's FileUpload)."""
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-disposition" and re.search(r";\s*filename\*?\s*=", value, re.I):
            return True
    return False


def receive(body: _Body, boundary: bytes, dest: Path) -> tuple[int, str] | None:
    """Stream the first file part of a multipart body to `dest` (never holding it whole):
    (bytes, sha256 hex), or None when the body holds no complete file part. The rest of the
    body is read and dropped. EOFError when the client stops sending."""
    delim = b"--" + boundary
    end = b"\r\n" + delim
    buf = b""
    while (i := buf.find(delim)) < 0:  # the preamble
        buf = buf[-len(delim):]
        chunk = body.read()
        if not chunk:
            return None
        buf += chunk
    buf = buf[i + len(delim):]
    saved: tuple[int, str] | None = None
    while True:
        while len(buf) < 2:
            chunk = body.read()
            if not chunk:
                return saved
            buf += chunk
        if buf.startswith(b"--"):  # the close delimiter
            body.drain()
            return saved
        buf = buf[2:] if buf.startswith(b"\r\n") else buf
        if buf.startswith(b"\r\n"):
            head, buf = b"", buf[2:]
        else:
            while (j := buf.find(b"\r\n\r\n")) < 0:
                chunk = body.read() if len(buf) <= 65536 else b""
                if not chunk:
                    return saved
                buf += chunk
            head, buf = buf[:j], buf[j + 4:]
        keep = saved is None and _is_file(head)
        part = dest.with_name(dest.name + ".part")
        sink = part.open("wb") if keep else None
        digest, size = hashlib.sha256(), 0
        try:
            while (k := buf.find(end)) < 0:
                cut = max(0, len(buf) - (len(end) - 1))
                if sink is not None and cut:
                    sink.write(buf[:cut])
                    digest.update(buf[:cut])
                    size += cut
                buf = buf[cut:]
                chunk = body.read()
                if not chunk:  # a part that never ends: no file
                    return saved
                buf += chunk
            if sink is not None:
                sink.write(buf[:k])
                digest.update(buf[:k])
                size += k
                sink.close()
                part.replace(dest)
                saved = (size, digest.hexdigest())
            buf = buf[k + len(end):]
        finally:
            if sink is not None and not sink.closed:
                sink.close()
            part.unlink(missing_ok=True)


def _reply(handler: Any, status: int, text: str) -> None:
    data = text.encode("utf-8")
    handler.close_connection = True
    handler.send_response(status)
    handler.send_header("Content-Type", TEXT_TYPE)
    handler.send_header("Content-Length", str(len(data)))
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(data)


def _drop_body(body: _Body) -> None:
    """Read a refused body when it is small, so the client gets to read the answer."""
    if body.left <= DRAIN_LIMIT:
        with contextlib.suppress(EOFError, OSError):
            body.drain()


def serve(api: Any, handler: Any, method: str, path: str, scheme: str) -> None:
    """One request to /upload/<uuid>: checks under the store lock, the file streamed to
    Store.files_dir() without it, the outcome recorded under it again."""
    uuid = path[len(PATH_PREFIX):].strip("/")
    headers = {k.lower(): v for k, v in handler.headers.items()}
    try:
        length = int(headers.get("content-length") or 0)
    except ValueError:
        length = 0
    body = _Body(handler.rfile, length)
    if method != "POST":
        _drop_body(body)
        _reply(handler, 400, ONLY_POST)
        return
    store = api.store
    with store.lock:
        api.tick()
        ctx = api.ctx("upload")
        try:
            rec = accept(ctx, uuid, headers, length, scheme)
        except Refused as refused:
            if refused.mark:
                _mark(ctx, uuid, refused.text)
            store.save()
            _drop_body(body)
            _reply(handler, refused.status, refused.text)
            return
        rec["upload"]["state"] = "UploadInProgress"
        store.save()
        dest = store.files_dir() / f"{rec['id']}.iso"
    boundary = _boundary(headers.get("content-type", ""))
    try:
        got = receive(body, boundary, dest) if boundary else None
        if boundary is None:
            _drop_body(body)
    except (EOFError, OSError):
        with store.lock:
            _mark(api.ctx("upload"), rec["id"], PREMATURE)
            store.save()
        handler.close_connection = True
        return
    with store.lock:
        ctx = api.ctx("upload")
        current = ctx.coll("isos").get(rec["id"])
        if got is None:
            _mark(ctx, rec["id"], NOT_A_FILE)
            store.save()
            _reply(handler, 422, NOT_A_FILE)
            return
        if current is None:  # deleted while the file arrived
            dest.unlink(missing_ok=True)
        else:
            current["upload"].update(state="Uploaded", bytes=got[0], sha256=got[1], path=str(dest),
                                     received=ctx.now, error=None)
            current.update(size=got[0], dl_start=ctx.now, dl_seconds=ctx.config.download_time())
        store.save()
    _reply(handler, 200, SUCCESS)

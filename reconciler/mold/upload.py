"""Uploading a local file to the URL Mold hands out for it (getUploadParamsForIso), the way
Mold's UI does: one multipart/form-data POST of the file, with the ticket's ``X-signature``,
``X-metadata``, ``X-expires`` and the post URL's host as ``X-Host``. The secondary storage
checks the signature (HMAC-SHA256 over metadata, URL and expiry with a key only Mold has),
the expiry and the size (NfsSecondaryStorageResource.validatePostUploadRequest).

The file is streamed in chunks, never read whole, and every chunk sent is reported
(``on_progress(sent, total)``). The post URL is the secondary storage VM's, with a
certificate of its own: the same TLS settings as the API apply.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import httpx

from reconciler.errors import MoldError, TransportError

__all__ = ["UploadTicket", "post_file", "UploadRefused"]

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class UploadTicket:
    """getUploadParamsForIso's answer: where to post, and what proves Mold allowed it."""

    id: str  # the new ISO's id
    post_url: str
    metadata: str
    signature: str
    expires: str


class UploadRefused(MoldError):
    """The upload endpoint answered, and not with success (a 4xx with its reason)."""

    def __init__(self, status: int, text: str) -> None:
        self.status = status
        self.text = text
        super().__init__(f"the upload was refused ({status}): {text}")


class _Counting:
    """A file object that reports what has been read of it (httpx reads it chunk by chunk)."""

    def __init__(self, handle: IO[bytes], total: int,
                 on_progress: Callable[[int, int], None]) -> None:
        self._handle = handle
        self._total = total
        self._sent = 0
        self._report = on_progress

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(CHUNK if size is None or size < 0 else min(size, CHUNK))
        self._sent += len(data)
        self._report(self._sent, self._total)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def fileno(self) -> int:
        return self._handle.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def post_file(http: httpx.Client, ticket: UploadTicket, path: Path,
              on_progress: Callable[[int, int], None]) -> None:
    """POST ``path`` to the ticket's URL; UploadRefused for a refusal, TransportError when
    the connection broke (the caller may start again while the ticket is valid)."""
    total = path.stat().st_size
    headers = {"X-signature": ticket.signature, "X-metadata": ticket.metadata,
               "X-expires": ticket.expires, "X-Host": urlsplit(ticket.post_url).netloc}
    with path.open("rb") as handle:
        counted = _Counting(handle, total, on_progress)
        files = {"file": (path.name, counted, "application/octet-stream")}
        try:
            answer = http.post(ticket.post_url, headers=headers, files=files)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            raise TransportError("upload", f"the upload to {ticket.post_url} broke off after "
                                 f"{counted._sent} of {total} bytes ({type(exc).__name__}: "
                                 f"{exc})") from None
    if answer.status_code >= 300:
        raise UploadRefused(answer.status_code, answer.text.strip()[:500])

"""Request signing for Mold's API-key authentication (reference/mold-api.md §2.3).

``canonical_query`` and ``sign`` are pure functions with fixed test vectors; ``MoldSigner`` is the
``httpx.Auth`` that applies them to a POST form request: it reads the form body back (so what is
signed is exactly what Mold will decode), adds ``apikey``, ``signatureversion=3``, ``expires`` and
``signature``, and re-encodes the body with the same encoder.

Imports nothing from mwin. Nothing here may log, and no repr may show a key or a signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Generator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qsl, quote

import httpx

__all__ = ["Algorithm", "MoldSigner", "canonical_query", "form_encode", "java_urlencode", "sign"]

Algorithm = Literal["sha256", "sha1"]

# Names the signer owns; a caller that sends one of them has a bug.
_SIGNER_PARAMS = frozenset({"apikey", "signature", "signatureversion", "expires"})


def java_urlencode(value: str) -> str:
    """Java ``URLEncoder.encode(value, "UTF-8")`` followed by ``+`` → ``%20``.

    Java leaves only ``A-Z a-z 0-9 . - * _`` unescaped; Python's ``quote`` also keeps ``~``,
    which Java escapes, hence the replace (uppercase hex, as Java writes it).
    """
    return quote(value, safe="*").replace("~", "%7E")


def canonical_query(params: Mapping[str, str]) -> str:
    """The string Mold signs: every parameter but ``signature``, names sorted as sent.

    Python's ``sorted`` on ``str`` is code-point order, which equals Java's ``String.compareTo``
    for every name below U+10000 (all of Mold's). Sorting happens before lower-casing, so
    ``details[0].UEFI`` comes before ``details[0].rootDiskController``.
    """
    pairs = (
        f"{name}={java_urlencode(params[name])}"
        for name in sorted(params)
        if name.lower() != "signature"
    )
    return "&".join(pairs).lower()


def sign(params: Mapping[str, str], secret: str, algorithm: Algorithm = "sha256") -> str:
    """Base64 (with padding) of HMAC-<algorithm>(secret, canonical_query(params))."""
    digest = hmac.new(
        secret.encode("utf-8"), canonical_query(params).encode("utf-8"), _digest(algorithm)
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def form_encode(params: Mapping[str, str]) -> bytes:
    """``application/x-www-form-urlencoded`` body using the signing encoder for names and values."""
    return "&".join(f"{java_urlencode(k)}={java_urlencode(v)}" for k, v in params.items()).encode(
        "ascii"
    )


def _digest(algorithm: str) -> Callable[[], Any]:
    if algorithm == "sha256":
        return hashlib.sha256
    if algorithm == "sha1":
        return hashlib.sha1
    raise ValueError(f"unknown signature algorithm {algorithm!r} (use sha256 or sha1)")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MoldSigner(httpx.Auth):
    """Signs each POST form request; a retried request is signed again with a fresh ``expires``."""

    requires_request_body = True

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        algorithm: Algorithm = "sha256",
        *,
        lifetime: timedelta = timedelta(minutes=10),
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        _digest(algorithm)  # fail early on an unknown algorithm
        self._api_key = api_key
        self._secret = secret_key
        self.algorithm = algorithm
        # How long a signed request stays valid; Mold allows at most 15 min when it enforces it.
        self.lifetime = lifetime
        self._now = now  # must return an aware datetime

    def __repr__(self) -> str:
        return f"MoldSigner(algorithm={self.algorithm!r})"

    def signed_params(self, params: Mapping[str, str]) -> dict[str, str]:
        """``params`` plus apikey, signatureversion, expires and the signature over all of them."""
        clash = sorted(n for n in params if n.lower() in _SIGNER_PARAMS)
        if clash:
            raise ValueError(f"parameters {clash} are added by the signer, do not pass them")
        expires = (self._now() + self.lifetime).isoformat(timespec="seconds")
        full = {**params, "apikey": self._api_key, "signatureversion": "3", "expires": expires}
        full["signature"] = sign(full, self._secret, self.algorithm)
        return full

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.method != "POST":
            raise ValueError("MoldSigner signs POST form requests only")
        pairs = parse_qsl(request.content.decode("utf-8"), keep_blank_values=True)
        params = dict(pairs)
        if len(params) != len(pairs):
            # Mold would use the first value of a duplicated name; never send ambiguity.
            raise ValueError("duplicate parameter names in request body")
        headers = httpx.Headers(request.headers)
        headers.pop("Content-Length", None)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        yield httpx.Request(
            "POST",
            request.url,
            headers=headers,
            content=form_encode(self.signed_params(params)),
            extensions=request.extensions,
        )

"""Mold's request signature written from the reference (§2.3: sorted pairs, Java-style URL
encoding, lower-cased, HMAC, base64), for the tests' outside clients. It shares no code with
mwin's client or moldsim's verifier, so a signing bug in either cannot hide behind it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote

__all__ = ["java_encode", "canonical", "signature"]


def java_encode(value: str) -> str:
    return quote(value, safe="*").replace("~", "%7E")


def canonical(params: list[tuple[str, str]]) -> str:
    parts = sorted((k, v) for k, v in params if k.lower() != "signature")
    return "&".join(f"{k}={java_encode(v)}" for k, v in parts).lower()


def signature(params: list[tuple[str, str]], secret: str, algo: str = "sha256") -> str:
    digest = hmac.new(secret.encode(), canonical(params).encode(), getattr(hashlib, algo)).digest()
    return base64.b64encode(digest).decode()

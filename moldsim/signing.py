"""Request signature verification, as Mold's `ApiServer.verifyRequest` does it (reference §2.3).

Canonical string: every parameter except `signature`, names sorted as sent (code-point order,
before any lowercasing), `name=encode(value)` with Java's URLEncoder rules and `+` → `%20`,
joined by `&`, then the whole string lowercased. Signature = Base64(HMAC(secret, string)) with
SHA-256 (Mold) or SHA-1 (upstream CloudStack / old Mold). Imports nothing from moldsim.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

ALGORITHMS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1}

# ISO_OFFSET_DATE_TIME, yyyy-MM-dd'T'HH:mm:ssZ (+0900), ISO_INSTANT (Z), with optional fractions.
_EXPIRES_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(Z|[+-]\d{2}:?\d{2})$"
)


def java_urlencode(value: str) -> str:
    """Java `URLEncoder.encode(v, "UTF-8")` with `+` → `%20`: only A-Z a-z 0-9 . - * _ stay."""
    return quote(value, safe="*").replace("~", "%7E")


def canonical_string(params: list[tuple[str, str]]) -> str:
    """The lowercased string that gets signed; the first value of each name wins."""
    first: dict[str, str] = {}
    for name, value in params:
        if name.lower() != "signature" and name not in first:
            first[name] = value
    joined = "&".join(f"{name}={java_urlencode(first[name])}" for name in sorted(first))
    return joined.lower()


def sign(params: list[tuple[str, str]], secret: str, algorithm: str = "sha256") -> str:
    """Base64 HMAC of the canonical string."""
    digest = hmac.new(
        secret.encode("utf-8"),
        canonical_string(params).encode("utf-8"),
        ALGORITHMS[algorithm],
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_expires(text: str) -> datetime | None:
    """Parse an `expires` value in one of the accepted formats; None if it is not one."""
    m = _EXPIRES_RE.match(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    micro = int((frac or "0").ljust(6, "0")[:6])
    if zone == "Z":
        tz = UTC
    else:
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tz = timezone(offset if zone[0] == "+" else -offset)
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute),
                        int(second), micro, tzinfo=tz)
    except ValueError:
        return None


def _lookup(params: list[tuple[str, str]], name: str) -> str | None:
    """First value of a parameter whose name matches case-insensitively."""
    for key, value in params:
        if key.lower() == name:
            return value
    return None


def verify(
    params: list[tuple[str, str]],
    secrets: dict[str, str],
    algorithm: str,
    now: datetime,
) -> bool:
    """True when the request is signed by a known api key, correctly, and not expired.

    `secrets` maps api key → secret key. `now` must be timezone-aware.
    """
    api_key = _lookup(params, "apikey")
    signature = _lookup(params, "signature")
    if not api_key or not signature or api_key not in secrets:
        return False
    if (_lookup(params, "signatureversion") or "") == "3":
        expires_text = _lookup(params, "expires")
        expires = parse_expires(expires_text) if expires_text else None
        if expires is None or expires < now:
            return False
    expected = sign(params, secrets[api_key], algorithm)
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace"))

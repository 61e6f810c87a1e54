"""Where mwin finds Mold: endpoint URL, API keys, signature algorithm, TLS verification and
trusted CAs, the per-request HTTP timeout.

Precedence, per field: explicit argument (CLI flag) > ``MOLD_*`` environment >
``CLOUDSTACK_*`` environment > a ``~/.cloudstack.ini`` profile. Empty values count as unset.
The ini file is only read when arguments and environment leave a field open, and an unreadable
one only matters when a required field is still missing.

TLS: Mold's certificate is always verified unless ``--insecure``/``MOLD_INSECURE=1`` (or
``verify = false`` in the ini profile) says otherwise. A CA bundle (``--ca-bundle``,
``MOLD_CA_BUNDLE``, ``ca_bundle =``; ``~`` expands) replaces the default trust, which is the
system's CA store (OpenSSL's ``SSL_CERT_FILE``/``SSL_CERT_DIR`` can point it elsewhere) plus
certifi's Mozilla bundle. ``REQUESTS_CA_BUNDLE`` is not read: it belongs to python-requests, and
a variable set for another tool should not quietly change whom mwin trusts. The bundle is
checked here (readable, holds PEM certificates) so a bad one fails before any request, naming
where it came from; turning verification off while naming a bundle is an error, not a guess.

Secrets are ``SecretStr`` from the moment they are read: no message, log line or repr built
here contains a key. Imports only ``reconciler.errors``.
"""

from __future__ import annotations

import configparser
import os
import re
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import pydantic

from reconciler.errors import SettingsError

__all__ = ["Settings", "load_settings", "shown_url"]

API_PATH = "/client/api"
# the userinfo of a URL (`user:password@` before the host), scheme or not: up to the last
# `@` that a host[:port] and then the path (or the end) follow, whatever the password holds
# (`#`, `/`, `?` unencoded too); when in doubt, more is masked, never less
_USERINFO = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?.*@(?=[^@/?#]*(?:[/?#]|$))")


def shown_url(url: str) -> str:
    """``url`` as mwin may print or log it: any userinfo (``user:password@``) as ``***@``."""
    return _USERINFO.sub(lambda m: f"{m.group(1) or ''}***@", url.strip(), count=1)


class Settings(pydantic.BaseModel, frozen=True):
    url: str  # always ends in /client/api (appended when missing)
    api_key: pydantic.SecretStr
    secret_key: pydantic.SecretStr
    signature: Literal["sha256", "sha1"] = "sha256"
    verify_tls: bool = True
    ca_bundle: str | None = None  # PEM file of CAs to trust instead of the system's
    timeout: float = pydantic.Field(default=30.0, gt=0)  # per HTTP request, seconds

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, shown_url(value) if name == "url" else value

    @pydantic.field_validator("url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s):// URL such as http://mold:8080/client/api")
        try:
            parts.port  # noqa: B018 - parsing the port raises for one that is not a number
        except ValueError:
            raise ValueError("the port must be a number from 0 to 65535, as in "
                             "http://mold:8080/client/api") from None
        if any(c.isspace() or not c.isprintable() for c in value.strip()):
            raise ValueError("contains a space or a control character")
        path = parts.path.rstrip("/")
        if not path.endswith(API_PATH):
            path += API_PATH
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass(frozen=True)
class _Field:
    """One setting and every way to provide it (used for lookup and for error messages)."""

    name: str  # Settings field
    what: str  # for humans
    flag: str
    env: tuple[str, ...]  # in precedence order
    ini_key: str | None


_FIELDS = (
    _Field("url", "Mold API URL", "--url", ("MOLD_URL", "CLOUDSTACK_ENDPOINT"), "endpoint"),
    _Field("api_key", "API key", "--api-key", ("MOLD_API_KEY", "CLOUDSTACK_KEY"), "key"),
    _Field(
        "secret_key", "secret key", "--secret-key", ("MOLD_SECRET_KEY", "CLOUDSTACK_SECRET"), "secret"
    ),
    _Field("signature", "signature algorithm", "--signature", ("MOLD_SIGNATURE",), "signature"),
    _Field("verify_tls", "TLS verification", "--insecure", ("MOLD_INSECURE",), "verify"),
    _Field("ca_bundle", "CA bundle", "--ca-bundle", ("MOLD_CA_BUNDLE",), "ca_bundle"),
    _Field("timeout", "HTTP timeout", "MOLD_HTTP_TIMEOUT", ("MOLD_HTTP_TIMEOUT",), "timeout"),
)
_REQUIRED = ("url", "api_key", "secret_key")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass
class _Ini:
    """The profile section consulted last; ``note`` explains why it gave nothing."""

    path: Path
    section: str
    values: Mapping[str, str] = field(default_factory=dict)
    note: str = ""


def load_settings(
    *,
    url: str | None = None,
    api_key: str | None = None,
    secret_key: str | None = None,
    signature: str | None = None,
    verify_tls: bool | None = None,
    ca_bundle: str | None = None,
    profile: str | None = None,
    env: Mapping[str, str] = os.environ,
    ini_path: Path | None = None,
) -> Settings:
    """Resolve each field by precedence; SettingsError names what is missing and how to set it."""
    explicit = {
        "url": url, "api_key": api_key, "secret_key": secret_key,
        "signature": signature, "verify_tls": verify_tls, "ca_bundle": ca_bundle, "timeout": None,
    }
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}  # field → where its value came from, for error messages
    for f in _FIELDS:
        if (found := _from_args_or_env(f, explicit, env)) is not None:
            values[f.name], sources[f.name] = found
    ini = _ini_location(profile, env, ini_path)
    if any(f.name not in values for f in _FIELDS):
        _read_ini(ini)
        for f in _FIELDS:
            raw = ini.values.get(f.ini_key or "", "").strip()
            if f.name not in values and raw:
                values[f.name] = _parse(f, raw, f"{ini.path} [{ini.section}]")
                sources[f.name] = f"`{f.ini_key} = {_shown(f, raw)}` in {ini.path} [{ini.section}]"
    missing = [f for f in _FIELDS if f.name in _REQUIRED and f.name not in values]
    if missing:
        raise SettingsError(_missing_message(missing, ini))
    if values.get("ca_bundle") and values.get("verify_tls") is False:
        raise SettingsError(
            f"{sources['verify_tls']} turns TLS verification off, but {sources['ca_bundle']} "
            "names a CA bundle to verify against: choose one (keep the CA bundle, or skip "
            "verification with --insecure)")
    try:
        return Settings(**values)
    except pydantic.ValidationError as exc:
        # Build the text from where each value came from and the messages only: inputs may
        # be secrets (_shown hides them).
        problems = "; ".join(_problem(e["loc"], e["msg"], sources) for e in exc.errors())
        raise SettingsError(f"invalid Mold settings: {problems}") from None


def _problem(loc: tuple[int | str, ...], message: str, sources: Mapping[str, str]) -> str:
    """One invalid field, named by where its value came from (``MOLD_URL=…``, ``--url …``)."""
    name = ".".join(map(str, loc))
    return f"{sources.get(name, name)}: {message.removeprefix('Value error, ')}"


def _from_args_or_env(f: _Field, explicit: Mapping[str, Any],
                      env: Mapping[str, str]) -> tuple[Any, str] | None:
    """(value, where it came from), or None when neither an argument nor the environment has it."""
    given = explicit[f.name]
    if isinstance(given, bool):
        return given, f.flag
    if given is not None and given.strip():
        return _parse(f, given, f.flag), f"{f.flag} {_shown(f, given)}"
    for var in f.env:
        raw = env.get(var, "").strip()
        if raw:
            return _parse(f, raw, var), f"{var}={_shown(f, raw)}"
    return None


def _shown(f: _Field, raw: str) -> str:
    """A value as it may appear in a message: keys never do, nor a URL's userinfo."""
    if f.name == "url":
        return shown_url(raw)
    return "***" if f.name in ("api_key", "secret_key") else raw.strip()


def _parse(f: _Field, raw: str, source: str) -> Any:
    """Text → field value; ``source`` names where it came from for the error message."""
    if f.name == "signature":
        algorithm = raw.strip().lower().replace("hmac-", "")
        if algorithm not in ("sha256", "sha1"):
            raise SettingsError(f"{source}: signature algorithm must be sha256 or sha1")
        return algorithm
    if f.name == "verify_tls":
        word = raw.strip().lower()
        if word not in _TRUE | _FALSE:
            raise SettingsError(f"{source}: expected true/false (or 1/0)")
        # MOLD_INSECURE=1 turns verification off; the ini key `verify` is the opposite sense.
        return (word in _FALSE) if source == "MOLD_INSECURE" else (word in _TRUE)
    if f.name == "ca_bundle":
        return _readable_file(raw.strip(), source)
    if f.name == "timeout":
        try:
            seconds = float(raw.strip().removesuffix("s"))
        except ValueError:
            seconds = 0.0
        if seconds <= 0:
            raise SettingsError(f"{source}: expected seconds greater than 0, e.g. 30 or 0.5")
        return seconds
    return raw.strip()


def _readable_file(path: str, source: str) -> str:
    """A CA bundle that exists, can be read and holds at least one PEM certificate."""
    path = str(Path(path).expanduser())
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise SettingsError(f"{source}: cannot read the CA bundle {path}: "
                            f"{exc.strerror or exc}") from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except (ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise SettingsError(f"{source}: the CA bundle {path} holds no usable PEM certificate "
                            f"({reason}); it should contain '-----BEGIN CERTIFICATE-----' "
                            "blocks of the CA(s) that signed Mold's certificate") from None
    return path


def _ini_location(profile: str | None, env: Mapping[str, str], ini_path: Path | None) -> _Ini:
    section = profile or env.get("MOLD_PROFILE") or env.get("CLOUDSTACK_REGION") or "cloudstack"
    if ini_path is None:
        home = Path(env["HOME"]) if env.get("HOME") else Path.home()
        ini_path = home / ".cloudstack.ini"
    return _Ini(path=ini_path, section=section)


def _read_ini(ini: _Ini) -> None:
    if not ini.path.is_file():
        ini.note = "file not found"
        return
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(ini.path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        # Only an error if something required is still missing (then the message says why).
        ini.note = f"cannot read it ({type(exc).__name__})"
        return
    if not parser.has_section(ini.section):
        ini.note = f"no section [{ini.section}]"
        return
    ini.values = dict(parser.items(ini.section))


def _missing_message(missing: list[_Field], ini: _Ini) -> str:
    names = ", ".join(f.what for f in missing)
    lines = [f"Mold connection settings incomplete: missing {names}. Provide each by one of:"]
    for f in missing:
        envs = " or ".join(f.env)
        ini_way = f"`{f.ini_key} =` in [{ini.section}] of {ini.path}"
        lines.append(f"  {f.what}: {f.flag}, {envs}, or {ini_way}")
    if ini.note:
        lines.append(f"  ({ini.path}: {ini.note}; choose the section with MOLD_PROFILE or CLOUDSTACK_REGION)")
    return "\n".join(lines)

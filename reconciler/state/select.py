"""Which backend and workspace a command uses, and moving a state between backends.

Backend, first found wins:

1. ``--backend URL``
2. ``MWIN_BACKEND``
3. ``backend:`` in ``.mwin/config.yaml`` (a string, or a mapping with ``url``); the file is
   meant to be committed, so a password in it is refused
4. the local file given by ``--state`` (``local`` names it explicitly)

Workspace, first found wins: ``--workspace``, ``MWIN_WORKSPACE``, the name in
``.mwin/workspace`` (written by ``mwin workspace select``), ``default``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import yaml

from reconciler.errors import StateError
from reconciler.state.base import DEFAULT_WORKSPACE, State, StateBackend, check_workspace
from reconciler.state.local import LocalState

__all__ = ["CONFIG_FILE", "WORKSPACE_FILE", "backend_url", "current_workspace", "open_backend",
           "mask_url", "push_state", "select_workspace"]

CONFIG_FILE = Path(".mwin/config.yaml")
WORKSPACE_FILE = Path(".mwin/workspace")
_SCHEMES = ("postgres://", "postgresql://")
_QUERY_PASSWORD = re.compile(r"(?i)((?:^|[?&\s])password\s*=\s*)[^&\s]*")


def mask_url(url: str) -> str:
    """The URL with any password (in the userinfo or a ``password=`` parameter) as ***."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _QUERY_PASSWORD.sub(r"\1***", url)
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        userinfo, _, hostport = authority.rpartition("@")
        if ":" in userinfo:
            authority = userinfo.split(":", 1)[0] + ":***@" + hostport
    return f"{scheme}://{authority}{slash}" + _QUERY_PASSWORD.sub(r"\1***", tail)


def backend_url(option: str | None, base: Path = Path()) -> str | None:
    """The backend URL in force, or None for the local file."""
    for value in (option, os.environ.get("MWIN_BACKEND")):
        if value:
            return None if value == "local" else value
    return _config_url(base / CONFIG_FILE)


def _config_url(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise StateError(f"{path} cannot be read: {exc}") from None
    block = doc.get("backend") if isinstance(doc, dict) else None
    url = block.get("url") if isinstance(block, dict) else block
    if url is None:
        return None
    if not isinstance(url, str):
        raise StateError(f"{path}: backend must be a URL or a mapping with url")
    if mask_url(url) != url:
        raise StateError(f"{path} holds a password in the backend URL; that file is not for "
                         "secrets: put the password in PGPASSWORD or a PGPASSFILE (~/.pgpass)")
    return None if url == "local" else url


def current_workspace(option: str | None = None, base: Path = Path()) -> str:
    name = option or os.environ.get("MWIN_WORKSPACE")
    if not name:
        try:
            name = (base / WORKSPACE_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            name = ""
    return check_workspace(name or DEFAULT_WORKSPACE)


def select_workspace(name: str, base: Path = Path()) -> Path:
    path = base / WORKSPACE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(check_workspace(name) + "\n", encoding="utf-8")
    return path


def open_backend(state: Path, backend: str | None = None, workspace: str | None = None, *,
                 on_wait: Callable[[str], None] | None = None,
                 base: Path = Path()) -> StateBackend:
    url = backend_url(backend, base)
    name = current_workspace(workspace, base)
    if url is None:
        return LocalState(state, name, on_wait=on_wait)
    if url.startswith(_SCHEMES):
        from reconciler.state.postgres import PostgresState  # psycopg only when used

        return PostgresState(url, name, on_wait=on_wait)
    raise StateError(f"unknown state backend {mask_url(url)!r}: use postgres://HOST/DB (or "
                     "postgresql://), or local for the --state file")


def push_state(dest: StateBackend, source: State, force: bool = False) -> State:
    """Write ``source`` into ``dest`` (whose lock the caller holds), keeping its lineage.

    Refused without ``force`` when ``dest`` holds another lineage, or a newer serial of the
    same one. The new serial is above both, so saved plans for either side are stale."""
    current = dest.read()
    if current.serial and not force:
        if current.lineage != source.lineage:
            raise StateError(f"{dest.describe()} already holds another state (lineage "
                             f"{current.lineage}, serial {current.serial}, "
                             f"{len(current.resources)} resource(s)); --force replaces it")
        if current.serial > source.serial:
            raise StateError(f"{dest.describe()} is newer than what is pushed (serial "
                             f"{current.serial} > {source.serial}); --force replaces it")
    base = source.model_copy(update={"serial": max(source.serial, current.serial)})
    return dest.write(base, force=True)

"""Getting the build's inputs at apply (never at plan): the secrets from their variable or
file, the ISOs from their path or URL.

Downloads go to ``<cache>/downloads/<sha256>.iso`` (the cache directory: ``MWIN_CACHE_DIR``,
else ``$XDG_CACHE_HOME/mwin``, else ``~/.cache/mwin``), streamed with progress and checked
against the declared sha256 before they are used; a file there is checked again on every use.
Local files are checked against their declared sha256 too. The digest of a local file without
one is kept in ``<cache>/digests.json`` by path, size and modification time, so it is computed
once per version of the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from reconciler.media.isofs import MediaError
from reconciler.media.recipe import SecretRef, Source

__all__ = ["cache_dir", "read_secret", "local_iso", "file_sha256", "known_sha256"]

CHUNK = 1024 * 1024
Progress = Callable[[str], None]
_DIGESTS = threading.Lock()


def cache_dir() -> Path:
    explicit = os.environ.get("MWIN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mwin"


def read_secret(ref: SecretRef, what: str) -> str:
    """The secret's value; a clear error when its variable is unset or empty, or its file is
    missing or empty. The value is never part of an error text."""
    if ref.env:
        value = os.environ.get(ref.env, "")
        if not value:
            raise MediaError(f"{what}: the environment variable {ref.env} is "
                             f"{'empty' if ref.env in os.environ else 'not set'}; set it to "
                             f"{what} before `mwin apply` (it is never stored)")
        return value
    path = Path(str(ref.file))
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise MediaError(f"{what}: {path} cannot be read ({exc.strerror or exc})") from None
    if not value:
        raise MediaError(f"{what}: {path} is empty")
    return value


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def known_sha256(path: Path) -> str:
    """``path``'s sha256, computed once per (path, size, mtime) and remembered in the cache."""
    stat = path.stat()
    key = str(path.resolve())
    stamp = [stat.st_size, stat.st_mtime_ns]
    store = cache_dir() / "digests.json"
    with _DIGESTS:
        known = _load(store)
        entry = known.get(key)
        if isinstance(entry, dict) and entry.get("stamp") == stamp and entry.get("sha256"):
            return str(entry["sha256"])
    digest = file_sha256(path)
    with _DIGESTS:
        known = _load(store)
        known[key] = {"stamp": stamp, "sha256": digest}
        _save(store, known)
    return digest


def _load(store: Path) -> dict[str, object]:
    try:
        data = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(store: Path, data: dict[str, object]) -> None:
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=store.parent, prefix=".digests.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
        os.replace(temp, store)
    except OSError:
        pass  # a cache: losing it costs a digest computed again


def local_iso(source: Source, what: str, progress: Progress,
              http: httpx.Client | None = None) -> Path:
    """The local file of ``source``: its path, checked against its sha256, or its download."""
    if source.url:
        return _downloaded(source, what, progress, http)
    path = Path(str(source.path))
    if not path.is_file():
        raise MediaError(f"{what}: {path} does not exist")
    if source.sha256:
        progress(f"checking the sha256 of {path.name}")
        actual = file_sha256(path)
        if actual != source.sha256.lower():
            raise MediaError(f"{what}: {path} has sha256 {actual}, the spec declares "
                             f"{source.sha256.lower()}")
    return path


def _downloaded(source: Source, what: str, progress: Progress,
                http: httpx.Client | None) -> Path:
    sha = str(source.sha256).lower()
    target = cache_dir() / "downloads" / f"{sha}.iso"
    if target.is_file():
        if file_sha256(target) == sha:
            progress(f"{what}: using the cached download of {source.shown}")
            return target
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    client = http or httpx.Client(follow_redirects=True, timeout=httpx.Timeout(60, read=300))
    try:
        _fetch(client, str(source.url), target, sha, what, progress)
    finally:
        if http is None:
            client.close()
    return target


def _fetch(client: httpx.Client, url: str, target: Path, sha: str, what: str,
           progress: Progress) -> None:
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".download.")
    digest, received = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as handle, client.stream("GET", url) as answer:
            if answer.status_code >= 300:
                raise MediaError(f"{what}: GET {url} answered HTTP {answer.status_code}")
            total = int(answer.headers.get("content-length") or 0)
            shown = 0
            for chunk in answer.iter_bytes(CHUNK):
                handle.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                if received - shown >= 256 * CHUNK or received == total:
                    shown = received
                    progress(f"downloading {url.rsplit('/', 1)[-1]}: {received >> 20} MiB"
                             + (f" of {total >> 20} MiB" if total else ""))
        if digest.hexdigest() != sha:
            raise MediaError(f"{what}: {url} has sha256 {digest.hexdigest()}, the spec "
                             f"declares {sha}")
        os.replace(temp, target)
    except httpx.HTTPError as exc:
        raise MediaError(f"{what}: downloading {url} failed after {received} bytes "
                         f"({type(exc).__name__}: {exc})") from None
    finally:
        Path(temp).unlink(missing_ok=True)

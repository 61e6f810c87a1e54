"""The in-memory model of one Mold installation, with optional JSON persistence.

`Store.data` is one JSON-serialisable document (see `seed.fresh_data` for its keys): each
kind is a dict `id → record`; records of static kinds (zones, offerings, OS types) are in their
API shape, records of managed kinds (isos, templates, networks, vms, volumes, vmsnapshots,
jobs) hold internal fields that `views`/command modules turn into API objects. Times inside
records are wall-clock Unix seconds, so a restart continues downloads and jobs where they were.

Invariant: every read or write of `data` happens with `lock` held (the server takes it for
the whole request). With a data directory, `save()` writes `moldsim.json` atomically
(temp file + fsync + rename) and is called after every mutating request.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from moldsim import clock, identity
from moldsim.seed import ensure_clusters, fresh_data

FILE_NAME = "moldsim.json"


class Store:
    """Holds `data`, its lock and where it is persisted (None = memory only)."""

    def __init__(self, data_dir: str | os.PathLike[str] | None = None,
                 now: Callable[[], float] = clock.now, zones: int = 1) -> None:
        self.lock = threading.RLock()
        self.now = now
        self._scratch: Path | None = None
        self.path = Path(data_dir) / FILE_NAME if data_dir is not None else None
        loaded = self._load()
        self.data: dict[str, Any] = loaded if loaded is not None else fresh_data(now(), zones)
        for kind, empty in fresh_data(now()).items():  # kinds added by newer moldsim versions
            if kind.endswith("s") and isinstance(empty, (dict, list)) and not empty:
                self.data.setdefault(kind, empty)
        migrated = identity.migrate(self.data, now())
        migrated = ensure_clusters(self.data) or migrated
        if loaded is None or migrated:
            self.save()

    def _load(self) -> dict[str, Any] | None:
        if self.path is None or not self.path.exists():
            return None
        with self.path.open(encoding="utf-8") as fh:
            data: dict[str, Any] = json.load(fh)
        return data

    def save(self) -> None:
        """Write the document atomically; no-op without a data directory."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.data, ensure_ascii=False, sort_keys=True)
        fd, tmp = tempfile.mkstemp(prefix=".moldsim-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def files_dir(self) -> Path:
        """Where uploaded files are written: DATA_DIR/uploads, or (memory-only store) a
        temporary directory of its own, removed when the store is collected or the process
        exits."""
        if self.path is not None:
            target = self.path.parent / "uploads"
        else:
            if self._scratch is None:
                self._scratch = Path(tempfile.mkdtemp(prefix="moldsim-uploads-"))
                weakref.finalize(self, shutil.rmtree, self._scratch, True)
            target = self._scratch
        target.mkdir(parents=True, exist_ok=True)
        return target

    def coll(self, name: str) -> dict[str, Any]:
        """The `id → record` dict of one kind."""
        result: dict[str, Any] = self.data[name]
        return result

    def next_seq(self, kind: str) -> int:
        """Next internal numeric id of a kind (1, 2, ...), never reused."""
        seq = self.data["seq"]
        seq[kind] = seq.get(kind, 0) + 1
        value: int = seq[kind]
        return value

    @property
    def admin_account(self) -> dict[str, Any]:
        """The root admin account of ROOT (the default caller)."""
        acct: dict[str, Any] = self.data["accounts"][self.data["admin"]["accountid"]]
        return acct

    def zone_ids(self) -> list[str]:
        return list(self.coll("zones"))

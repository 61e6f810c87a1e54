"""Reading an ISO image's tree and boot catalog with pycdlib (ISO 9660, Joliet, Rock Ridge,
UDF bridge; El Torito).

``IsoTree`` picks the namespace that carries the real names: UDF where the image has it (a
Windows installer's ISO 9660 side is a stub with a README), else Joliet, else Rock Ridge, else
ISO 9660 (version suffixes ";1" dropped). Paths are relative and "/"-separated, with the names
as that namespace spells them. The boot catalog's own file record is not part of the tree.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from reconciler.errors import MwinError

__all__ = ["MediaError", "IsoTree", "Entry", "BootEntry", "PLATFORMS"]

PLATFORMS = {0: "BIOS", 0xEF: "UEFI"}
_KEYWORD = {"udf": "udf_path", "joliet": "joliet_path", "rock_ridge": "rr_path",
            "iso9660": "iso_path"}


class MediaError(MwinError):
    """Media cannot be read or built as asked (the text says why and what to do)."""


@dataclass(frozen=True)
class Entry:
    path: str  # "sources/install.wim"
    size: int
    is_dir: bool


@dataclass(frozen=True)
class BootEntry:
    """One El Torito entry: its platform, how it loads, and the file it boots (None when
    no file of the tree holds its image)."""

    platform: str  # "BIOS", "UEFI" or "0x.."
    load_segment: int
    sector_count: int
    media_type: int  # 0: no emulation
    path: str | None


class IsoTree:
    """An open ISO image; ``close`` (or use it as a context manager) when done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._iso = pycdlib.PyCdlib()
        try:
            self._iso.open(str(path))
        except (PyCdlibException, OSError, ValueError) as exc:
            raise MediaError(f"{path} cannot be read as an ISO image: {exc}") from None
        self.namespace = self._pick_namespace()
        self._raw: dict[str, str] = {}  # path -> the namespace's own path
        self._records: dict[str, Any] = {}
        self.entries = self._read_tree()

    def __enter__(self) -> IsoTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(PyCdlibException):
            self._iso.close()

    @property
    def volume_id(self) -> str:
        pvd = getattr(self._iso, "pvd", None)
        raw = getattr(pvd, "volume_identifier", b"") or b""
        return raw.decode("ascii", "replace").strip() if isinstance(raw, bytes) else str(raw)

    def _pick_namespace(self) -> str:
        if self._iso.has_udf():
            return "udf"
        if self._iso.has_joliet():
            return "joliet"
        if self._iso.has_rock_ridge():
            return "rock_ridge"
        return "iso9660"

    def _clean(self, name: str) -> str:
        if self.namespace == "iso9660":
            name = name.split(";", 1)[0]
            return name[:-1] if name.endswith(".") else name
        return name

    def _read_tree(self) -> list[Entry]:
        keyword = _KEYWORD[self.namespace]
        catalog = self._catalog_records()
        entries: list[Entry] = []
        for dirpath, dirs, files in self._iso.walk(**{keyword: "/"}):
            here = self._relative(dirpath)
            for name in dirs:
                path = f"{here}/{self._clean(name)}".lstrip("/")
                self._raw[path] = f"{dirpath.rstrip('/')}/{name}"
                entries.append(Entry(path, 0, True))
            for name in files:
                raw = f"{dirpath.rstrip('/')}/{name}"
                record = self._iso.get_record(**{keyword: raw})
                if any(record is r for r in catalog):
                    continue
                path = f"{here}/{self._clean(name)}".lstrip("/")
                self._raw[path], self._records[path] = raw, record
                entries.append(Entry(path, int(record.get_data_length()), False))
        return sorted(entries, key=lambda e: e.path)

    def _relative(self, dirpath: str) -> str:
        parts = [self._clean(p) for p in dirpath.strip("/").split("/") if p]
        return "/".join(parts)

    def _catalog_records(self) -> list[Any]:
        catalog = getattr(self._iso, "eltorito_boot_catalog", None)
        return list(getattr(catalog, "dirrecords", []) or []) if catalog else []

    def files(self) -> dict[str, Entry]:
        """Files by path folded to lower case (Windows media is case-insensitive)."""
        return {e.path.lower(): e for e in self.entries if not e.is_dir}

    def find(self, path: str) -> Entry | None:
        return self.files().get(path.strip("/").lower())

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[IO[bytes]]:
        with self._iso.open_file_from_iso(**{_KEYWORD[self.namespace]: self._raw[path]}) as f:
            yield f

    def open_kept(self, path: str, stack: contextlib.ExitStack) -> IO[bytes]:
        """A file object that stays open until ``stack`` closes (pycdlib reads it while it
        writes another image)."""
        return stack.enter_context(self.open(path))

    def read(self, path: str, size: int = -1, offset: int = 0) -> bytes:
        with self.open(path) as handle:
            handle.seek(offset)
            return handle.read(size)

    def boot_entries(self) -> list[BootEntry]:
        catalog = getattr(self._iso, "eltorito_boot_catalog", None)
        if catalog is None:
            return []
        found = [(0, catalog.initial_entry)]
        for section in catalog.sections:
            found += [(int(section.platform_id), e) for e in section.section_entries]
        by_inode = {id(r.inode): p for p, r in self._records.items()
                    if getattr(r, "inode", None) is not None}
        entries = []
        for platform, entry in found:
            inode = getattr(entry, "inode", None)
            entries.append(BootEntry(PLATFORMS.get(platform, f"0x{platform:02x}"),
                                     int(entry.load_segment), int(entry.sector_count),
                                     int(entry.boot_media_type),
                                     by_inode.get(id(inode)) if inode is not None else None))
        return entries

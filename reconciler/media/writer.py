"""Writing the remastered image with pycdlib: the tree of the Windows ISO, the answer file,
the drivers and tools, and the El Torito entries, into a new ISO 9660 (level 3) + Joliet +
UDF 2.60 image.

Every original file is copied byte for byte (pycdlib streams it from the source image: no file
is read whole, files over 4 GiB take several ISO 9660 extents). The names are exact in UDF
(which Windows reads), kept in Joliet where they fit its rules (64 characters, no ``*/:;?\\``)
and made ISO 9660 level-3 names (A-Z, 0-9, _) there, unique per folder.

Where pycdlib stamps what it writes (so two builds of the same inputs differ in those bytes
only): the volume descriptors' creation and modification times, every directory record's and
UDF file entry's time (the time of the build), the UDF descriptors' recording times, and the
UDF volume set identifier (the time plus 26 random bits). The file data and the tree are the
same for the same inputs.

Blocks of zeros are not written but skipped (the output is sparse where the input was), so a
test image with a large sparse file costs no disk.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from reconciler.media.isofs import BootEntry, IsoTree, MediaError

__all__ = ["ImagePlan", "write_image", "SparseWriter"]

BLOCK = 1024 * 1024
CATALOG = ("/BOOT.CAT;1", "/boot.cat")
_NOT_D = re.compile(r"[^A-Z0-9_]")
_NOT_JOLIET = re.compile(r"[*/:;?\\\x00-\x1f]")


class SparseWriter:
    """A file opened for writing that seeks over blocks of zeros (the file must be new: its
    holes read as zeros). ``finish`` sets the size to the furthest byte written or skipped."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._end = 0

    def write(self, data: bytes) -> int:
        if data.count(0, 0, 1) and data == bytes(len(data)):
            self._handle.seek(len(data), os.SEEK_CUR)
        else:
            self._handle.write(data)
        self._end = max(self._end, self._handle.tell())
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def flush(self) -> None:
        self._handle.flush()

    def finish(self) -> None:
        self._handle.truncate(self._end)
        self._handle.flush()


class _Names:
    """ISO 9660 and Joliet paths for the tree's paths, unique per folder, stable per path."""

    def __init__(self) -> None:
        self._iso: dict[str, str] = {"": ""}
        self._joliet: dict[str, str] = {"": ""}
        self._taken: dict[tuple[str, str], set[str]] = {}

    def iso(self, path: str, is_dir: bool) -> str:
        return self._path(path, is_dir, self._iso, "iso") + ("" if is_dir else ";1")

    def joliet(self, path: str, is_dir: bool) -> str:
        return self._path(path, is_dir, self._joliet, "joliet")

    def _path(self, path: str, is_dir: bool, known: dict[str, str], kind: str) -> str:
        if path in known:
            return known[path]
        parent, _, name = path.rpartition("/")
        parent_path = self._path(parent, True, known, kind) if parent else ""
        taken = self._taken.setdefault((kind, parent_path), set())
        wanted = _iso_name(name, is_dir) if kind == "iso" else _joliet_name(name)
        unique, n = wanted, 1
        while unique.upper() in taken:
            unique, n = _numbered(wanted, n, kind), n + 1
        taken.add(unique.upper())
        known[path] = f"{parent_path}/{unique}"
        return known[path]


def _iso_name(name: str, is_dir: bool) -> str:
    upper = name.upper()
    if is_dir:
        return _NOT_D.sub("_", upper)[:31] or "_"
    stem, dot, ext = upper.rpartition(".")
    if not dot:
        stem, ext = upper, ""
    stem, ext = _NOT_D.sub("_", stem) or "_", _NOT_D.sub("_", ext)[:8]
    stem = stem[:30 - len(ext)]
    return f"{stem}.{ext}" if ext else stem


def _joliet_name(name: str) -> str:
    clean = _NOT_JOLIET.sub("_", name)
    if len(clean) <= 64:
        return clean
    stem, dot, ext = clean.rpartition(".")
    return (stem[:63 - len(ext)] + "." + ext) if dot and len(ext) < 16 else clean[:64]


def _numbered(name: str, n: int, kind: str) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    tag = f"_{n}"
    limit = (30 - len(ext) if ext else 31) if kind == "iso" else 64 - len(ext) - bool(ext)
    stem = stem[:max(limit - len(tag), 1)] + tag
    return f"{stem}.{ext}" if ext else stem


class ImagePlan:
    """What goes into the new image: files from the source trees and added bytes."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.dirs: set[str] = set()
        self.files: list[tuple[str, IsoTree | None, str, int, bytes | None]] = []
        self.boot: list[BootEntry] = []

    def add_dir(self, path: str) -> None:
        while path and path not in self.dirs:
            self.dirs.add(path)
            path = path.rpartition("/")[0]

    def add_copy(self, dest: str, tree: IsoTree, source: str, size: int) -> None:
        self.add_dir(dest.rpartition("/")[0])
        self.files.append((dest, tree, source, size, None))

    def add_bytes(self, dest: str, data: bytes) -> None:
        self.add_dir(dest.rpartition("/")[0])
        self.files.append((dest, None, "", len(data), data))


def write_image(plan: ImagePlan, out: Path, progress: Callable[[int, int], None]) -> None:
    """Master ``plan`` into ``out`` (a new file)."""
    iso = pycdlib.PyCdlib()
    names = _Names()
    try:
        iso.new(interchange_level=3, joliet=3, udf="2.60", vol_ident=plan.label[:16],
                app_ident_str="mwin")
        with contextlib.ExitStack() as stack:
            for path in sorted(plan.dirs, key=lambda p: (p.count("/"), p)):
                iso.add_directory(iso_path=names.iso(path, True),
                                  joliet_path=names.joliet(path, True), udf_path=f"/{path}")
            for dest, tree, source, size, data in plan.files:
                handle: Any = io.BytesIO(data) if data is not None else \
                    tree.open_kept(source, stack) if tree is not None else None
                iso.add_fp(handle, size, iso_path=names.iso(dest, False),
                           joliet_path=names.joliet(dest, False), udf_path=f"/{dest}")
            _add_boot(iso, plan.boot, names)
            with out.open("wb") as raw:
                writer = SparseWriter(raw)
                iso.write_fp(writer, blocksize=BLOCK,  # type: ignore[arg-type]
                             progress_cb=lambda done, total, _o: progress(done, total))
                writer.finish()
    except PyCdlibException as exc:
        raise MediaError(f"the image cannot be written: {exc}") from None
    finally:
        with contextlib.suppress(PyCdlibException):
            iso.close()


def _add_boot(iso: pycdlib.PyCdlib, entries: list[BootEntry], names: _Names) -> None:
    for entry in entries:
        assert entry.path is not None
        iso.add_eltorito(names.iso(entry.path, False), bootcatfile=CATALOG[0],
                         joliet_bootcatfile=CATALOG[1], udf_bootcatfile=CATALOG[1],
                         boot_load_size=entry.sector_count, boot_load_seg=entry.load_segment,
                         platform_id=0xEF if entry.platform == "UEFI" else 0,
                         efi=entry.platform == "UEFI", media_name="noemul")

"""What a firmware and Windows Setup see on an ISO image: its El Torito boot entries and its
file trees (UDF, Joliet, ISO 9660), read from the bytes with no ISO library.

moldsim's guest model judges the media mwin builds, so this reader is independent of the
library mwin writes with. It reads only metadata and small files; an image of any size (files
over 4 GiB included) costs a few dozen sector reads. Structures (docs/moldsim.md, "Guest
model"; all sectors are 2048 bytes):
- ECMA-119 (ISO 9660): volume descriptors from sector 16 (type 0 boot record, 1 primary,
  2 supplementary, 255 terminator; identifier "CD001"); the root directory record at byte 156
  of a primary/supplementary descriptor; directory records (length, extent LBA and data length
  both-endian, flags bit 1 directory and bit 7 "more extents follow", identifier) that never
  cross a sector. Joliet is a supplementary descriptor whose escape sequences (byte 88) are
  %/@, %/C or %/E; its names are UCS-2 big-endian.
- El Torito 1.0: the boot record names the boot catalog's sector (byte 71, little-endian);
  the catalog is 32-byte entries: a validation entry (header 1, platform id, key 55 AA), the
  initial/default entry (boot indicator 0x88 = bootable, media type, sector count of 512-byte
  virtual sectors, load RBA), then section headers (0x90, or 0x91 for the last; platform id;
  entry count) each followed by their entries (0x44 extension entries are skipped).
  Platform 0 is 80x86 BIOS, 0xEF is EFI.
- ECMA-167 / OSTA UDF: a volume recognition sequence with NSR02 or NSR03 after sector 16;
  the anchor (tag 2) at sector 256 points to the main volume descriptor sequence: partition
  descriptor (tag 5: partition number, starting sector), logical volume descriptor (tag 6:
  block size, the file set descriptor's long_ad, type 1 partition maps); the file set
  descriptor (tag 256) holds the root directory's ICB at byte 400; file entries (tag 261) and
  extended file entries (tag 266) hold the information length and allocation descriptors
  (short_ad, long_ad, or data embedded in the entry; type 3 extents continue the list in an
  allocation extent descriptor, tag 258); directories are file identifier descriptors
  (tag 257). Every tag's checksum and CRC (CRC-ITU-T) are checked. Names are OSTA CS0
  (compression id 8: one byte a character, 16: UTF-16 big-endian).
Not read: Rock Ridge, UDF metadata partitions (type 2 maps, UDF 2.50+: such a volume is
reported as unreadable and the Joliet/ISO 9660 trees are used), UDF streams and symlinks.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

SECTOR = 2048
MAX_NODES = 200_000  # a tree larger than this is refused (no Windows medium comes near)
MAX_DEPTH = 64
MAX_DIR_BYTES = 64 << 20
PLATFORM_BIOS, PLATFORM_EFI = 0x00, 0xEF


class IsoError(ValueError):
    """The bytes are not the ISO image (or file system) they should be; the text says why."""


@dataclass(frozen=True)
class Extent:
    """A run of the file's bytes: `length` bytes from absolute sector `lba`."""

    lba: int
    length: int


@dataclass(frozen=True)
class Node:
    """A file or directory. `path` is '/'-separated without a leading slash, in the case the
    medium spells it ("" is the root); `extents` hold the data, or `embedded` does (UDF)."""

    path: str
    is_dir: bool
    size: int
    extents: tuple[Extent, ...] = ()
    embedded: bytes | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass
class Tree:
    """One file system's view of the medium; paths are looked up ignoring case."""

    filesystem: str  # "udf", "joliet" or "iso9660"
    nodes: dict[str, Node] = field(default_factory=dict)  # lowercased path → node

    def get(self, path: str) -> Node | None:
        return self.nodes.get(path.strip("/").lower())

    def under(self, folder: str) -> list[Node]:
        """Every node below `folder` (any depth), in path order."""
        prefix = folder.strip("/").lower() + "/"
        return [n for key, n in sorted(self.nodes.items()) if key.startswith(prefix)]

    def starting_at(self, lba: int) -> Node | None:
        """The file whose data starts at sector `lba` (where a boot entry points)."""
        return next((n for _, n in sorted(self.nodes.items())
                     if not n.is_dir and n.extents and n.extents[0].lba == lba), None)


@dataclass(frozen=True)
class BootEntry:
    """One El Torito entry (the default entry or a section entry)."""

    platform: int
    bootable: bool
    media_type: int  # 0 = no emulation
    load_rba: int
    sector_count: int  # 512-byte virtual sectors

    @property
    def platform_name(self) -> str:
        return {PLATFORM_BIOS: "bios", PLATFORM_EFI: "efi"}.get(self.platform, f"0x{self.platform:02x}")


@dataclass
class Media:
    """What the medium offers: its file trees by file system, its boot entries, and the
    problems met reading any of them (a tree that could not be read is left out)."""

    volume_id: str
    trees: dict[str, Tree]
    boot: list[BootEntry]
    problems: list[str]

    @property
    def tree(self) -> Tree:
        """The tree Windows reads: UDF where there is one, else Joliet, else ISO 9660."""
        for name in ("udf", "joliet", "iso9660"):
            if name in self.trees:
                return self.trees[name]
        return Tree("none")

    def boot_image(self, entry: BootEntry) -> Node | None:
        """The file a boot entry loads, found by its first sector in any tree."""
        for name in ("udf", "joliet", "iso9660"):
            tree = self.trees.get(name)
            found = tree.starting_at(entry.load_rba) if tree else None
            if found is not None:
                return found
        return None


# ---------------------------------------------------------------- reading sectors

class _Image:
    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh, self.size = fh, size

    def read(self, lba: int, length: int) -> bytes:
        if lba < 0 or length < 0 or lba * SECTOR + length > self.size:
            raise IsoError(f"a structure points past the end of the image (sector {lba}, {length} bytes)")
        self.fh.seek(lba * SECTOR)
        data = self.fh.read(length)
        if len(data) != length:
            raise IsoError(f"short read at sector {lba}")
        return data

    def sector(self, lba: int) -> bytes:
        return self.read(lba, SECTOR)


def open_media(path: str | Path) -> Media:
    """Read the medium at `path` (IsoError when it is no ISO 9660 image at all)."""
    p = Path(path)
    with p.open("rb") as fh:
        return read_media(fh, p.stat().st_size)


def read_media(fh: BinaryIO, size: int) -> Media:
    image = _Image(fh, size)
    descriptors = _volume_descriptors(image)
    primary = descriptors.get(1)
    if primary is None:
        raise IsoError("no primary volume descriptor (not an ISO 9660 image: no CD001 at sector 16)")
    volume_id = primary[40:72].decode("ascii", "replace").strip()
    trees: dict[str, Tree] = {}
    problems: list[str] = []
    readers: list[tuple[str, Callable[[], Tree | None]]] = [
               ("udf", lambda: _udf_tree(image)),
               ("joliet", lambda: _iso_tree(image, descriptors[2], joliet=True) if 2 in descriptors else None),
               ("iso9660", lambda: _iso_tree(image, primary, joliet=False))]
    for name, read in readers:
        try:
            tree = read()
        except IsoError as exc:
            problems.append(f"{name}: {exc}")
            continue
        if tree is not None:
            trees[name] = tree
    boot: list[BootEntry] = []
    if 0 in descriptors:
        try:
            boot = _boot_catalog(image, descriptors[0])
        except IsoError as exc:
            problems.append(f"el torito: {exc}")
    return Media(volume_id, trees, boot, problems)


def read_node(path: str | Path, node: Node, limit: int) -> bytes:
    """The first `limit` bytes of a file (all of it when it is smaller)."""
    if node.embedded is not None:
        return node.embedded[:limit]
    out = bytearray()
    with Path(path).open("rb") as fh:
        for ext in node.extents:
            if len(out) >= limit:
                break
            fh.seek(ext.lba * SECTOR)
            out += fh.read(min(ext.length, limit - len(out)))
    return bytes(out[:min(limit, node.size)])


def _volume_descriptors(image: _Image) -> dict[int, bytes]:
    """Type → the first descriptor of that type (a Joliet one for type 2), from sector 16
    up to the terminator."""
    found: dict[int, bytes] = {}
    for lba in range(16, 16 + 64):
        if (lba + 1) * SECTOR > image.size:
            break
        sec = image.sector(lba)
        if sec[1:6] != b"CD001":
            break
        kind = sec[0]
        if kind == 255:
            break
        if kind == 2 and not _is_joliet(sec):
            continue
        found.setdefault(kind, sec)
    return found


def _is_joliet(sec: bytes) -> bool:
    escapes = sec[88:120]
    return any(seq in escapes for seq in (b"%/@", b"%/C", b"%/E"))


# ---------------------------------------------------------------- ISO 9660 / Joliet

def _both32(data: bytes, at: int) -> int:
    value: int = struct.unpack_from("<I", data, at)[0]
    return value


def _iso_tree(image: _Image, descriptor: bytes, joliet: bool) -> Tree:
    if struct.unpack_from("<H", descriptor, 128)[0] != SECTOR:
        raise IsoError("logical block size is not 2048")
    tree = Tree("joliet" if joliet else "iso9660")
    root = descriptor[156:190]
    pending = [("", _both32(root, 2), _both32(root, 10), 0)]
    seen: set[int] = set()
    while pending:
        path, lba, length, depth = pending.pop()
        if lba in seen or depth > MAX_DEPTH:
            continue
        seen.add(lba)
        tree.nodes[path.lower()] = Node(path, True, length, (Extent(lba, length),))
        for name, is_dir, extents in _iso_dir(image, lba, length, joliet):
            child = f"{path}/{name}" if path else name
            if is_dir:
                pending.append((child, extents[0].lba, extents[0].length, depth + 1))
            else:
                tree.nodes[child.lower()] = Node(child, False, sum(e.length for e in extents), extents)
            if len(tree.nodes) > MAX_NODES:
                raise IsoError(f"more than {MAX_NODES} files")
    return tree


def _iso_dir(image: _Image, lba: int, length: int, joliet: bool) -> Iterator[tuple[str, bool, tuple[Extent, ...]]]:
    """(name, is directory, extents) of each entry of a directory; the parts of a
    multi-extent file come back as one entry."""
    if length > MAX_DIR_BYTES:
        raise IsoError(f"a directory of {length} bytes")
    data = image.read(lba, -(-length // SECTOR) * SECTOR)[:length]
    parts: list[Extent] = []
    pos = 0
    while pos < len(data):
        size = data[pos]
        if size == 0:  # the rest of this sector is padding
            pos = (pos // SECTOR + 1) * SECTOR
            continue
        if size < 34 or pos + size > len(data):
            raise IsoError(f"a malformed directory record in sector {lba + pos // SECTOR}")
        rec = data[pos:pos + size]
        pos += size
        ident = rec[33:33 + rec[32]]
        if ident in (b"\x00", b"\x01"):
            continue
        flags = rec[25]
        parts.append(Extent(_both32(rec, 2), _both32(rec, 10)))
        if flags & 0x80:  # more extents of this file follow
            continue
        yield _iso_name(ident, joliet), bool(flags & 0x02), tuple(parts)
        parts = []


def _iso_name(ident: bytes, joliet: bool) -> str:
    name = ident.decode("utf-16-be", "replace") if joliet else ident.decode("latin-1")
    name = name.split(";", 1)[0]
    return name[:-1] if name.endswith(".") else name


# ---------------------------------------------------------------- El Torito

def _boot_catalog(image: _Image, record: bytes) -> list[BootEntry]:
    if not record[7:30].startswith(b"EL TORITO SPECIFICATION"):
        return []
    cat = image.sector(struct.unpack_from("<I", record, 71)[0])
    if cat[0] != 1 or cat[30:32] != b"\x55\xaa":
        raise IsoError("the boot catalog has no validation entry")
    words = struct.unpack_from("<16H", cat, 0)
    if sum(words) & 0xFFFF:
        raise IsoError("the boot catalog's validation entry has a bad checksum")
    entries = [_boot_entry(cat[32:64], cat[1])]
    pos, platform, left = 64, cat[1], 0
    while pos + 32 <= len(cat):
        raw = cat[pos:pos + 32]
        pos += 32
        if left == 0:
            if raw[0] not in (0x90, 0x91):
                break
            platform, left = raw[1], struct.unpack_from("<H", raw, 2)[0]
            if raw[0] == 0x91 and left == 0:
                break
            continue
        if raw[0] == 0x44:  # a section entry extension
            continue
        entries.append(_boot_entry(raw, platform))
        left -= 1
    return entries


def _boot_entry(raw: bytes, platform: int) -> BootEntry:
    return BootEntry(platform=platform, bootable=raw[0] == 0x88, media_type=raw[1] & 0x0F,
                     sector_count=struct.unpack_from("<H", raw, 6)[0],
                     load_rba=struct.unpack_from("<I", raw, 8)[0])


# ---------------------------------------------------------------- UDF

TAG_AVDP, TAG_PD, TAG_LVD, TAG_TD = 2, 5, 6, 8
TAG_FSD, TAG_FID, TAG_AED, TAG_FE, TAG_EFE = 256, 257, 258, 261, 266


def crc_itu(data: bytes) -> int:
    """CRC-ITU-T (x^16 + x^12 + x^5 + 1, initial 0), as ECMA-167 7.2.6 defines the tag CRC."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def _tag(data: bytes, expected: tuple[int, ...], where: str) -> int:
    """Check a descriptor tag (identifier, checksum, CRC); returns the identifier."""
    if len(data) < 16:
        raise IsoError(f"{where}: truncated descriptor")
    ident, _ver, checksum, _res, _serial, crc, crc_len, _loc = struct.unpack_from("<HHBBHHHI", data, 0)
    if ident not in expected:
        raise IsoError(f"{where}: descriptor tag {ident}, expected {'/'.join(map(str, expected))}")
    if (sum(data[0:4]) + sum(data[5:16])) & 0xFF != checksum:
        raise IsoError(f"{where}: descriptor tag checksum mismatch")
    if 16 + crc_len > len(data) or crc_itu(data[16:16 + crc_len]) != crc:
        raise IsoError(f"{where}: descriptor CRC mismatch")
    return int(ident)


def _has_nsr(image: _Image) -> bool:
    for lba in range(16, 16 + 64):
        if (lba + 1) * SECTOR > image.size:
            return False
        ident = image.sector(lba)[1:6]
        if ident in (b"NSR02", b"NSR03"):
            return True
        if ident == b"TEA01" or ident == b"\x00" * 5:
            return False
    return False


@dataclass
class _Udf:
    image: _Image
    partition_start: int
    partition_ref: int  # the type 1 partition map files live in

    def block(self, lbn: int, length: int = SECTOR) -> bytes:
        return self.image.read(self.partition_start + lbn, length)


def _udf_tree(image: _Image) -> Tree | None:
    if not _has_nsr(image):
        return None
    if image.size < 257 * SECTOR:
        raise IsoError("no anchor volume descriptor at sector 256")
    anchor = image.sector(256)
    _tag(anchor, (TAG_AVDP,), "anchor")
    vds_len, vds_loc = struct.unpack_from("<II", anchor, 16)
    pds: dict[int, int] = {}
    lvd: bytes | None = None
    for i in range(min(vds_len // SECTOR, 64)):
        sec = image.sector(vds_loc + i)
        ident = struct.unpack_from("<H", sec, 0)[0]
        if ident == TAG_PD:
            _tag(sec, (TAG_PD,), "partition descriptor")
            pds[struct.unpack_from("<H", sec, 22)[0]] = struct.unpack_from("<I", sec, 188)[0]
        elif ident == TAG_LVD:
            _tag(sec, (TAG_LVD,), "logical volume descriptor")
            lvd = sec
        elif ident in (TAG_TD, 0):
            break
    if lvd is None or not pds:
        raise IsoError("no logical volume or partition descriptor in the main sequence")
    return _udf_files(image, lvd, pds)


def _udf_files(image: _Image, lvd: bytes, pds: dict[int, int]) -> Tree:
    if struct.unpack_from("<I", lvd, 212)[0] != SECTOR:
        raise IsoError("UDF logical block size is not 2048")
    maps = _partition_maps(lvd)
    fsd_lbn, fsd_ref = struct.unpack_from("<IH", lvd, 252)
    if fsd_ref not in maps:
        raise IsoError(f"the file set lives in partition map {fsd_ref}, which is not a type 1 map")
    if maps[fsd_ref] not in pds:
        raise IsoError(f"no partition descriptor for partition {maps[fsd_ref]}")
    udf = _Udf(image, pds[maps[fsd_ref]], fsd_ref)
    fsd = udf.block(fsd_lbn)
    _tag(fsd, (TAG_FSD,), "file set descriptor")
    root_lbn, root_ref = struct.unpack_from("<IH", fsd, 404)
    tree = Tree("udf")
    pending = [("", root_lbn, root_ref, 0)]
    seen: set[int] = set()
    while pending:
        path, lbn, ref, depth = pending.pop()
        if ref != udf.partition_ref:
            raise IsoError(f"{path or '/'}: in another partition ({ref})")
        if lbn in seen or depth > MAX_DEPTH:
            continue
        seen.add(lbn)
        node = _udf_entry(udf, lbn, path)
        tree.nodes[path.lower()] = node
        if not node.is_dir:
            continue
        for name, is_dir, child_lbn, child_ref in _udf_dir(udf, node, path):
            child = f"{path}/{name}" if path else name
            if is_dir:
                pending.append((child, child_lbn, child_ref, depth + 1))
            else:
                if child_ref != udf.partition_ref:
                    raise IsoError(f"{child}: in another partition ({child_ref})")
                tree.nodes[child.lower()] = _udf_entry(udf, child_lbn, child)
            if len(tree.nodes) > MAX_NODES:
                raise IsoError(f"more than {MAX_NODES} files")
    return tree


def _partition_maps(lvd: bytes) -> dict[int, int]:
    """Partition reference number → partition number, for the type 1 maps."""
    count = struct.unpack_from("<I", lvd, 268)[0]
    maps: dict[int, int] = {}
    pos = 440
    for ref in range(min(count, 64)):
        if pos + 2 > len(lvd):
            break
        kind, size = lvd[pos], lvd[pos + 1]
        if kind == 1 and size == 6:
            maps[ref] = struct.unpack_from("<H", lvd, pos + 4)[0]
        if size == 0:
            break
        pos += size
    return maps


def _udf_entry(udf: _Udf, lbn: int, path: str) -> Node:
    """A (extended) file entry: its kind, size and extents."""
    data = udf.block(lbn)
    ident = _tag(data, (TAG_FE, TAG_EFE), path or "root directory")
    file_type = data[16 + 11]
    flags = struct.unpack_from("<H", data, 16 + 18)[0]
    size = struct.unpack_from("<Q", data, 56)[0]
    if ident == TAG_FE:
        l_ea, l_ad = struct.unpack_from("<II", data, 168)
        base = 176
    else:
        l_ea, l_ad = struct.unpack_from("<II", data, 208)
        base = 216
    ads = data[base + l_ea:base + l_ea + l_ad]
    if base + l_ea + l_ad > len(data):
        raise IsoError(f"{path}: allocation descriptors run past the entry")
    kind = flags & 0x07
    is_dir = file_type == 4
    if kind == 3:
        return Node(path, is_dir, size, (), ads[:size])
    return Node(path, is_dir, size, tuple(_extents(udf, ads, kind, path)))


def _extents(udf: _Udf, ads: bytes, kind: int, path: str) -> Iterator[Extent]:
    """Recorded extents of a short_ad (0) or long_ad (1) list, following continuations."""
    if kind not in (0, 1):
        raise IsoError(f"{path}: allocation descriptor type {kind} is not read")
    step = 8 if kind == 0 else 16
    hops = 0
    while ads:
        pos, follow = 0, None
        while pos + step <= len(ads):
            raw_len = struct.unpack_from("<I", ads, pos)[0]
            lbn = struct.unpack_from("<I", ads, pos + 4)[0]
            pos += step
            length, ext_type = raw_len & 0x3FFFFFFF, raw_len >> 30
            if length == 0:
                break
            if ext_type == 3:
                follow = lbn
                break
            if ext_type == 0:
                yield Extent(udf.partition_start + lbn, length)
        if follow is None or hops > 1024:
            return
        hops += 1
        aed = udf.block(follow)
        _tag(aed, (TAG_AED,), f"{path}: allocation extent")
        l_ad = struct.unpack_from("<I", aed, 20)[0]
        ads = aed[24:24 + l_ad]


def _udf_dir(udf: _Udf, node: Node, path: str) -> Iterator[tuple[str, bool, int, int]]:
    """(name, is directory, ICB lbn, ICB partition ref) of each entry of a directory."""
    if node.size > MAX_DIR_BYTES:
        raise IsoError(f"{path or '/'}: a directory of {node.size} bytes")
    if node.embedded is not None:
        data = node.embedded
    else:
        data = b"".join(udf.image.read(e.lba, e.length) for e in node.extents)[:node.size]
    pos = 0
    while pos + 38 <= len(data):
        chars, l_fi = data[pos + 18], data[pos + 19]
        icb_lbn, icb_ref = struct.unpack_from("<IH", data, pos + 24)
        l_iu = struct.unpack_from("<H", data, pos + 36)[0]
        ident = data[pos + 38 + l_iu:pos + 38 + l_iu + l_fi]
        size = (38 + l_iu + l_fi + 3) & ~3  # padded to 4 bytes; the CRC may cover the padding
        _tag(data[pos:pos + size], (TAG_FID,), f"{path or '/'}: directory entry")
        pos += size
        if chars & 0x08 or chars & 0x04:  # the parent entry, a deleted entry
            continue
        yield _cs0(ident), bool(chars & 0x02), icb_lbn, icb_ref


def _cs0(ident: bytes) -> str:
    """An OSTA CS0 name: compression id 8 (one byte a character) or 16 (UTF-16BE)."""
    if not ident:
        return ""
    if ident[0] == 16:
        return ident[1:].decode("utf-16-be", "replace")
    return ident[1:].decode("latin-1")

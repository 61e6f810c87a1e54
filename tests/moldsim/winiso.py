"""A small writer of Windows-like ISO images for the guest model's tests (no ISO library).

`build_iso(dest, files)` lays out an image the way Windows media are made: a UDF 1.02 file
system bridged with ISO 9660 and Joliet trees that share the files' data, and an El Torito
catalog with a BIOS default entry and an EFI section. `files` maps paths to bytes, or to an
int for a sparse file of that size (its data is never written; files over 4 GiB get several
extents in every tree). `windows_media()` gives the usual layout, `wim()` a minimal WIM whose
XML metadata names images. The reader under test is moldsim.isofs; this writer follows the
same standards independently (ECMA-119, El Torito, ECMA-167/UDF 1.02), and the xorriso tests
check the ISO 9660 side against an outside tool.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SECTOR = 2048
UDF_VDS = 224  # main volume descriptor sequence (16 sectors)
ANCHOR = 256
PARTITION = 257  # the UDF partition starts here and runs to the end
ISO_EXTENT_MAX = 0xFFFFF800
UDF_EXTENT_MAX = 0x3FFFF800

UNATTEND_NS = "urn:schemas-microsoft-com:unattend"


def crc_itu(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def tag(ident: int, location: int, body: bytes) -> bytes:
    """A descriptor: its 16-byte tag (checksum, CRC over `body`) followed by `body`."""
    head = bytearray(struct.pack("<HHBBHHHI", ident, 2, 0, 0, 1, crc_itu(body), len(body), location))
    head[4] = (sum(head[0:4]) + sum(head[5:16])) & 0xFF
    return bytes(head) + body


def pad(data: bytes, size: int = SECTOR) -> bytes:
    return data + b"\x00" * (-len(data) % size)


def both16(v: int) -> bytes:
    return struct.pack("<H", v) + struct.pack(">H", v)


def both32(v: int) -> bytes:
    return struct.pack("<I", v) + struct.pack(">I", v)


def chunks(size: int, limit: int) -> list[int]:
    out = []
    while size > limit:
        out.append(limit)
        size -= limit
    out.append(size)
    return out


@dataclass
class _Dir:
    path: str
    children: list[str] = field(default_factory=list)
    iso_lba: int = 0
    iso_size: int = 0
    joliet_lba: int = 0
    joliet_size: int = 0
    fe_lbn: int = 0
    data_lbn: int = 0
    fids: bytes = b""


@dataclass
class _File:
    path: str
    size: int
    data: bytes | None
    lba: int = 0
    fe_lbn: int = 0


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _iso_ident(name: str, is_dir: bool, joliet: bool) -> bytes:
    if joliet:
        return (name if is_dir else f"{name};1").encode("utf-16-be")
    upper = name.upper()
    if is_dir:
        return upper.encode("latin-1")
    return (upper if "." in upper else upper + ".").encode("latin-1") + b";1"


def _dir_record(ident: bytes, lba: int, size: int, is_dir: bool, multi: bool = False) -> bytes:
    length = 33 + len(ident) + (1 - len(ident) % 2)
    flags = (0x02 if is_dir else 0) | (0x80 if multi else 0)
    rec = struct.pack("<BB", length, 0) + both32(lba) + both32(size) + bytes([126, 1, 1, 0, 0, 0, 0])
    rec += bytes([flags, 0, 0]) + both16(1) + bytes([len(ident)]) + ident
    return pad(rec, 2) if len(rec) < length else rec


def _pack_records(records: list[bytes]) -> bytes:
    """Directory records never cross a sector."""
    out = bytearray()
    for rec in records:
        if len(out) % SECTOR + len(rec) > SECTOR:
            out += b"\x00" * (-len(out) % SECTOR)
        out += rec
    return bytes(pad(bytes(out)))


class _Layout:
    def __init__(self, files: dict[str, bytes | int], joliet: bool, udf: bool, extended: bool,
                 embed_dirs: bool) -> None:
        self.joliet, self.udf, self.extended, self.embed = joliet, udf, extended, embed_dirs
        self.dirs: dict[str, _Dir] = {"": _Dir("")}
        self.files: dict[str, _File] = {}
        for path, content in sorted(files.items()):
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                folder = "/".join(parts[:i])
                if folder not in self.dirs:
                    self.dirs[folder] = _Dir(folder)
                    self.dirs["/".join(parts[:i - 1])].children.append(folder)
            full = "/".join(parts)
            data = content if isinstance(content, bytes) else None
            self.files[full] = _File(full, len(content) if isinstance(content, bytes) else int(content), data)
            self.dirs["/".join(parts[:-1])].children.append(full)

    def records(self, folder: _Dir, joliet: bool) -> list[bytes]:
        lba = folder.joliet_lba if joliet else folder.iso_lba
        size = folder.joliet_size if joliet else folder.iso_size
        parent = self.dirs[folder.path.rsplit("/", 1)[0] if "/" in folder.path else ""]
        plba = parent.joliet_lba if joliet else parent.iso_lba
        psize = parent.joliet_size if joliet else parent.iso_size
        out = [_dir_record(b"\x00", lba, size, True), _dir_record(b"\x01", plba, psize, True)]
        for child in sorted(folder.children, key=lambda c: _name(c).upper()):
            ident = _iso_ident(_name(child), child in self.dirs, joliet)
            if child in self.dirs:
                d = self.dirs[child]
                out.append(_dir_record(ident, d.joliet_lba if joliet else d.iso_lba,
                                       d.joliet_size if joliet else d.iso_size, True))
                continue
            f = self.files[child]
            parts = chunks(f.size, ISO_EXTENT_MAX)
            start = f.lba
            for i, part in enumerate(parts):
                out.append(_dir_record(ident, start, part, False, multi=i < len(parts) - 1))
                start += -(-part // SECTOR)
        return out


def build_iso(dest: Path, files: dict[str, bytes | int], *, bios: str | None = "boot/etfsboot.com",
              efi: str | None = "efi/microsoft/boot/efisys.bin", hidden_efi: bytes | None = None,
              joliet: bool = True, udf: bool = True, extended: bool = False, embed_dirs: bool = False,
              volume_id: str = "CCCOMA_X64FRE_EN-US_DV9") -> Path:
    """Write the image; `hidden_efi` puts an EFI boot image that no tree names."""
    lay = _Layout(files, joliet, udf, extended, embed_dirs)
    dirs = sorted(lay.dirs.values(), key=lambda d: d.path)
    # ---- sector allocation: ISO 9660 side
    cursor = 16 + 1 + (1 if bios or efi or hidden_efi else 0) + (1 if joliet else 0) + 1
    if udf:
        cursor += 3  # BEA01 NSR02 TEA01
    catalog = cursor
    cursor += 1
    path_tables = cursor
    cursor += 4
    for d in dirs:  # record sizes do not depend on the sectors they name
        d.iso_size = len(_pack_records(lay.records(d, False)))
        d.iso_lba, cursor = cursor, cursor + d.iso_size // SECTOR
    if joliet:
        for d in dirs:
            d.joliet_size = len(_pack_records(lay.records(d, True)))
            d.joliet_lba, cursor = cursor, cursor + d.joliet_size // SECTOR
    assert cursor <= UDF_VDS, "too many directories for this small writer"
    # ---- UDF metadata in the partition
    lbn = 1  # lbn 0: the file set descriptor
    for d in dirs:
        d.fids = _fids(lay, d)
        d.fe_lbn, lbn = lbn, lbn + 1
        if not embed_dirs:
            d.data_lbn, lbn = lbn, lbn + -(-len(d.fids) // SECTOR)
    for f in lay.files.values():
        f.fe_lbn, lbn = lbn, lbn + 1
    cursor = max(cursor, PARTITION + lbn) if udf else cursor
    # ---- file data
    for f in sorted(lay.files.values(), key=lambda f: f.path):
        f.lba, cursor = cursor, cursor + max(1, sum(-(-p // SECTOR) for p in chunks(f.size, ISO_EXTENT_MAX)))
    hidden_lba = 0
    if hidden_efi is not None:
        hidden_lba, cursor = cursor, cursor + -(-len(hidden_efi) // SECTOR)
    total = cursor + (1 if udf else 0)  # UDF: a second anchor in the last sector
    if udf:  # FIDs name file entries: rebuild now that every lbn is known
        for d in dirs:
            d.fids = _fids(lay, d)
    out = dest.open("wb")
    try:
        def put(lba: int, data: bytes) -> None:
            out.seek(lba * SECTOR)
            out.write(data)

        root = lay.dirs[""]
        put(16, _volume(1, volume_id, total, _dir_record(b"\x00", root.iso_lba, root.iso_size, True),
                        path_tables, _path_table(dirs, False, False)))
        at = 17
        if bios or efi or hidden_efi:
            rec = bytearray(pad(b"\x00CD001\x01EL TORITO SPECIFICATION"))
            struct.pack_into("<I", rec, 71, catalog)
            put(at, bytes(rec))
            at += 1
        if joliet:
            put(at, _volume(2, volume_id, total, _dir_record(b"\x00", root.joliet_lba, root.joliet_size, True),
                            path_tables + 2, _path_table(dirs, True, False)))
            at += 1
        put(at, pad(b"\xffCD001\x01"))
        at += 1
        if udf:
            for ident in (b"BEA01", b"NSR02", b"TEA01"):
                put(at, pad(b"\x00" + ident + b"\x01"))
                at += 1
        put(catalog, _catalog(lay, bios, efi, hidden_efi, hidden_lba))
        for i, (jol, msb) in enumerate(((False, False), (False, True), (True, False), (True, True))):
            put(path_tables + i, pad(_path_table(dirs, jol, msb)))
        for d in dirs:
            put(d.iso_lba, _pack_records(lay.records(d, False)))
            if joliet:
                put(d.joliet_lba, _pack_records(lay.records(d, True)))
        if udf:
            _write_udf(lay, dirs, put, total, volume_id)
        for f in lay.files.values():
            if f.data is not None:
                put(f.lba, f.data)
        if hidden_efi is not None:
            put(hidden_lba, hidden_efi)
        out.truncate(total * SECTOR)
    finally:
        out.close()
    return dest


def _volume(kind: int, volume_id: str, total: int, root: bytes, path_lba: int, table: bytes) -> bytes:
    sec = bytearray(SECTOR)
    sec[0:7] = bytes([kind]) + b"CD001\x01"
    if kind == 2:
        sec[88:91] = b"%/E"
        sec[40:72] = volume_id[:16].encode("utf-16-be").ljust(32, b"\x00")
    else:
        sec[40:72] = volume_id.encode("ascii").ljust(32, b" ")
    sec[80:88] = both32(total)
    sec[120:124] = both16(1)
    sec[124:128] = both16(1)
    sec[128:132] = both16(SECTOR)
    sec[132:140] = both32(len(table))
    struct.pack_into("<I", sec, 140, path_lba)
    struct.pack_into(">I", sec, 148, path_lba + 1)
    sec[156:156 + len(root)] = root
    sec[881] = 1
    return bytes(sec)


def _path_table(dirs: list[_Dir], joliet: bool, msb: bool) -> bytes:
    order = sorted(dirs, key=lambda d: (d.path.count("/") if d.path else -1, d.path))
    number = {d.path: i + 1 for i, d in enumerate(order)}
    out = bytearray()
    for d in order:
        ident = _iso_ident(_name(d.path), True, joliet) if d.path else b"\x00"
        parent = number[d.path.rsplit("/", 1)[0] if "/" in d.path else ""]
        lba = d.joliet_lba if joliet else d.iso_lba
        fmt = ">IH" if msb else "<IH"
        out += bytes([len(ident), 0]) + struct.pack(fmt, lba, parent) + ident + (b"\x00" if len(ident) % 2 else b"")
    return bytes(out)


def _catalog(lay: _Layout, bios: str | None, efi: str | None, hidden: bytes | None, hidden_lba: int) -> bytes:
    validation = bytearray(32)
    validation[0], validation[1] = 1, 0
    validation[30:32] = b"\x55\xaa"
    struct.pack_into("<H", validation, 28, (-sum(struct.unpack("<16H", bytes(validation)))) & 0xFFFF)
    out = bytes(validation)

    def entry(lba: int, count: int) -> bytes:
        return struct.pack("<BBHBBHI", 0x88, 0, 0, 0, 0, count, lba).ljust(32, b"\x00")

    out += entry(lay.files[bios].lba, 4) if bios else bytes(32)
    efi_target = (lay.files[efi].lba, -(-lay.files[efi].size // 512)) if efi else None
    if hidden is not None:
        efi_target = (hidden_lba, -(-len(hidden) // 512))
    if efi_target:
        out += struct.pack("<BBH", 0x91, 0xEF, 1).ljust(32, b"\x00") + entry(*efi_target)
    return pad(out)


# ---------------------------------------------------------------- UDF

def _cs0(name: str) -> bytes:
    try:
        return b"\x08" + name.encode("latin-1")
    except UnicodeEncodeError:
        return b"\x10" + name.encode("utf-16-be")


def _long_ad(length: int, lbn: int) -> bytes:
    return struct.pack("<IIH6x", length, lbn, 0)


def _fid(name: bytes, is_dir: bool, parent: bool, icb_lbn: int) -> bytes:
    chars = (0x02 if is_dir else 0) | (0x08 if parent else 0)
    body = struct.pack("<HBB", 1, chars, len(name)) + _long_ad(SECTOR, icb_lbn) + struct.pack("<H", 0) + name
    return tag(257, 0, body + b"\x00" * (-(16 + len(body)) % 4))  # the CRC covers the padding


def _fids(lay: _Layout, d: _Dir) -> bytes:
    parent = lay.dirs[d.path.rsplit("/", 1)[0] if "/" in d.path else ""]
    out = _fid(b"", True, True, parent.fe_lbn)
    for child in sorted(d.children):
        target = lay.dirs[child].fe_lbn if child in lay.dirs else lay.files[child].fe_lbn
        out += _fid(_cs0(_name(child)), child in lay.dirs, False, target)
    return out


def _file_entry(lay: _Layout, lbn: int, file_type: int, size: int, ads: bytes, ad_kind: int) -> bytes:
    icb = struct.pack("<IHHHBB", 0, 4, 0, 1, 0, file_type) + b"\x00" * 6 + struct.pack("<H", ad_kind)
    common = icb + struct.pack("<IIIHBBI", 0, 0, 0x7FFF, 1, 0, 0, 0) + struct.pack("<Q", size)
    if lay.extended:
        body = common + struct.pack("<QQ", size, -(-size // SECTOR)) + b"\x00" * 48 + struct.pack("<II", 1, 0)
        body += b"\x00" * 32 + b"\x00" * 32 + struct.pack("<Q", lbn) + struct.pack("<II", 0, len(ads)) + ads
        return tag(266, lbn, body)
    body = common + struct.pack("<Q", -(-size // SECTOR)) + b"\x00" * 36 + struct.pack("<I", 1)
    body += b"\x00" * 16 + b"\x00" * 32 + struct.pack("<Q", lbn) + struct.pack("<II", 0, len(ads)) + ads
    return tag(261, lbn, body)


def _short_ads(start_lbn: int, size: int) -> bytes:
    out, lbn = b"", start_lbn
    for part in chunks(size, UDF_EXTENT_MAX):
        out += struct.pack("<II", part, lbn)
        lbn += -(-part // SECTOR)
    return out


def _write_udf(lay: _Layout, dirs: list[_Dir], write: Callable[[int, bytes], None], total: int,
               volume_id: str) -> None:
    length = total - 1 - PARTITION
    pvd = struct.pack("<II", 1, 0) + _dstring(volume_id, 32) + b"\x00" * 440
    write(UDF_VDS, pad(tag(1, UDF_VDS, pvd[:496])))
    pd = struct.pack("<IHH", 1, 1, 0) + b"\x00+NSR02".ljust(32, b"\x00") + b"\x00" * 128
    pd += struct.pack("<III", 1, PARTITION, length) + b"\x00" * 32 + b"\x00" * 128 + b"\x00" * 156
    write(UDF_VDS + 1, pad(tag(5, UDF_VDS + 1, pd)))
    lvd = struct.pack("<I", 2) + b"\x00" * 64 + _dstring(volume_id, 128) + struct.pack("<I", SECTOR)
    lvd += b"\x00*OSTA UDF Compliant".ljust(32, b"\x00") + _long_ad(SECTOR, 0) + struct.pack("<II", 6, 1)
    lvd += b"\x00" * 32 + b"\x00" * 128 + struct.pack("<II", 0, 0) + bytes([1, 6]) + struct.pack("<HH", 1, 0)
    write(UDF_VDS + 2, pad(tag(6, UDF_VDS + 2, lvd)))
    write(UDF_VDS + 3, pad(tag(8, UDF_VDS + 3, b"\x00" * 496)))
    anchor = struct.pack("<II", 16 * SECTOR, UDF_VDS) + struct.pack("<II", 0, 0) + b"\x00" * 480
    write(ANCHOR, pad(tag(2, ANCHOR, anchor)))
    write(total - 1, pad(tag(2, total - 1, anchor)))
    root = lay.dirs[""]
    fsd = b"\x00" * 12 + struct.pack("<HHIIII", 3, 3, 1, 1, 0, 0) + b"\x00" * 64 + _dstring(volume_id, 128)
    fsd += b"\x00" * 64 + _dstring(volume_id, 32) + b"\x00" * 64 + _long_ad(SECTOR, root.fe_lbn)
    fsd += b"\x00*OSTA UDF Compliant".ljust(32, b"\x00") + b"\x00" * 16 + b"\x00" * 16 + b"\x00" * 32
    write(PARTITION, pad(tag(256, 0, fsd)))
    for d in dirs:
        if lay.embed:
            fe = _file_entry(lay, d.fe_lbn, 4, len(d.fids), d.fids, 3)
        else:
            fe = _file_entry(lay, d.fe_lbn, 4, len(d.fids), struct.pack("<II", len(d.fids), d.data_lbn), 0)
            write(PARTITION + d.data_lbn, pad(d.fids))
        write(PARTITION + d.fe_lbn, pad(fe))
    for f in lay.files.values():
        fe = _file_entry(lay, f.fe_lbn, 5, f.size, _short_ads(f.lba - PARTITION, f.size), 0)
        write(PARTITION + f.fe_lbn, pad(fe))


def _dstring(text: str, size: int) -> bytes:
    raw = _cs0(text)[: size - 1]
    return raw.ljust(size - 1, b"\x00") + bytes([len(raw)])


# ---------------------------------------------------------------- contents

def wim(images: list[dict[str, str]]) -> bytes:
    """A minimal WIM: its header and XML metadata naming `images` (NAME, DISPLAYNAME,
    INSTALLATIONTYPE, BUILD); no image data."""
    parts = ["<WIM>"]
    for i, img in enumerate(images, 1):
        parts.append(f'<IMAGE INDEX="{i}"><NAME>{img["name"]}</NAME>'
                     f'<DISPLAYNAME>{img.get("display", img["name"])}</DISPLAYNAME>'
                     f'<WINDOWS><INSTALLATIONTYPE>{img.get("type", "Client")}</INSTALLATIONTYPE>'
                     f'<VERSION><MAJOR>10</MAJOR><BUILD>{img.get("build", "22631")}</BUILD></VERSION>'
                     f"</WINDOWS></IMAGE>")
    parts.append("</WIM>")
    xml = "\ufeff".encode("utf-16-le") + "".join(parts).encode("utf-16-le")
    head = bytearray(208)
    head[0:8] = b"MSWIM\x00\x00\x00"
    struct.pack_into("<IIII", head, 8, 208, 0x10D00, 0, 32768)
    struct.pack_into("<HHI", head, 40, 1, 1, len(images))
    head[72:79] = len(xml).to_bytes(7, "little")
    struct.pack_into("<QQ", head, 80, 208, len(xml))
    return bytes(head) + xml


def driver(name: str, folder: str) -> dict[str, bytes]:
    """A driver package: <name>.inf, .sys and .cat in `folder`."""
    return {f"{folder}/{name}.{ext}": f"{name} {ext}\r\n".encode() for ext in ("inf", "sys", "cat")}


def answer_file(firmware: str = "UEFI", image: str = "Windows 11 Pro", eula: bool = True,
                shutdown: bool = True, autologon: bool = True, accounts: bool = True,
                password: str = "S3cret-Pa55!", driver_paths: tuple[str, ...] = ()) -> bytes:
    """An answer file shaped like Microsoft's reference: windowsPE (disk layout for the
    firmware, image, EULA, driver paths), oobeSystem (password, auto-logon, first logon)."""
    comp = ('processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" '
            'versionScope="nonSxS" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State"')
    if firmware == "UEFI":
        parts = ('<CreatePartition wcm:action="add"><Order>1</Order><Type>EFI</Type><Size>100</Size></CreatePartition>'
                 '<CreatePartition wcm:action="add"><Order>2</Order><Type>MSR</Type><Size>16</Size></CreatePartition>'
                 '<CreatePartition wcm:action="add"><Order>3</Order><Type>Primary</Type><Extend>true</Extend></CreatePartition>')
        target = 3
    else:
        parts = '<CreatePartition wcm:action="add"><Order>1</Order><Type>Primary</Type><Extend>true</Extend></CreatePartition>'
        target = 1
    paths = "".join(f'<PathAndCredentials wcm:action="add" wcm:keyValue="{i}"><Path>{p}</Path></PathAndCredentials>'
                    for i, p in enumerate(driver_paths, 1))
    pnp = (f'<component name="Microsoft-Windows-PnpCustomizationsWinPE" {comp}><DriverPaths>{paths}</DriverPaths>'
           "</component>") if driver_paths else ""
    user = (f"<UserAccounts><AdministratorPassword><Value>{password}</Value><PlainText>true</PlainText>"
            "</AdministratorPassword></UserAccounts>") if accounts else ""
    logon = (f"<AutoLogon><Enabled>true</Enabled><Username>Administrator</Username><Password><Value>{password}"
             "</Value><PlainText>true</PlainText></Password><LogonCount>1</LogonCount></AutoLogon>") if autologon else ""
    final = "C:\\Windows\\System32\\Sysprep\\sysprep.exe /generalize /oobe /shutdown" if shutdown else "cmd /c echo done"
    xml = f"""<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="{UNATTEND_NS}">
  <settings pass="windowsPE">
    {pnp}
    <component name="Microsoft-Windows-Setup" {comp}>
      <DiskConfiguration><Disk wcm:action="add"><DiskID>0</DiskID><WillWipeDisk>true</WillWipeDisk>
        <CreatePartitions>{parts}</CreatePartitions></Disk></DiskConfiguration>
      <ImageInstall><OSImage><InstallFrom><MetaData wcm:action="add"><Key>/IMAGE/NAME</Key><Value>{image}</Value>
        </MetaData></InstallFrom><InstallTo><DiskID>0</DiskID><PartitionID>{target}</PartitionID></InstallTo></OSImage></ImageInstall>
      <UserData><AcceptEula>{"true" if eula else "false"}</AcceptEula></UserData>
    </component>
  </settings>
  <settings pass="oobeSystem">
    <component name="Microsoft-Windows-Shell-Setup" {comp}>
      {user}{logon}
      <FirstLogonCommands><SynchronousCommand wcm:action="add"><Order>1</Order>
        <CommandLine>{final}</CommandLine></SynchronousCommand></FirstLogonCommands>
    </component>
  </settings>
</unattend>
"""
    return xml.encode("utf-8")


def windows_media(answer: bytes | None = None, drivers: tuple[str, ...] = ("vioscsi", "viostor", "netkvm"),
                  install: bytes | int = b"placeholder install.wim", extra: dict[str, bytes | int] | None = None
                  ) -> dict[str, bytes | int]:
    """The files of a Windows-like install medium: bootmgr, both boot images, the install
    image, and optionally autounattend.xml and drivers in $WinPEDriver$."""
    files: dict[str, bytes | int] = {
        "bootmgr": b"bootmgr", "bootmgr.efi": b"bootmgr.efi",
        "boot/etfsboot.com": b"\xeb\x3c" + b"etfsboot" * 100,
        "efi/microsoft/boot/efisys.bin": b"EFISYS-PROMPT" + b"\x00" * 3000,
        "efi/microsoft/boot/efisys_noprompt.bin": b"EFISYS-NOPROMPT" + b"\x00" * 3000,
        "efi/boot/bootx64.efi": b"MZ bootx64",
        "sources/boot.wim": b"boot.wim placeholder",
        "sources/install.wim": install,
        "setup.exe": b"MZ setup",
    }
    if answer is not None:
        files["autounattend.xml"] = answer
    for name in drivers:
        files.update(driver(name, f"$WinPEDriver$/{name}/w11/amd64"))
    files.update(extra or {})
    return files

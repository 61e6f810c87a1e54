"""Small synthetic ISOs with the layouts of the real ones, made with pycdlib for the tests.

``windows_iso``: a Windows installer as Microsoft ships it: the full tree in UDF, the ISO 9660
and Joliet sides a stub with a README (plus the two boot images, which pycdlib's El Torito
needs in ISO 9660), El Torito BIOS (boot/etfsboot.com, load segment 0x07C0, 8 sectors) and
UEFI (efi/microsoft/boot/efisys.bin, 1 sector); sources/install.wim with a real WIM header and
XML metadata (optionally sparse and over 4 GiB, its metadata at the end).

``virtio_iso``: a virtio-win disc: ISO 9660 + Joliet, viostor/vioscsi/NetKVM folders per
Windows version, the guest installers at the root.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Iterable
from pathlib import Path

import pycdlib

IMAGES = (("Windows 11 Home", 22631, "Client", "WinNT"), ("Windows 11 Pro", 22631, "Client",
                                                           "WinNT"))
SERVER_IMAGES = (("Windows Server 2022 SERVERSTANDARDCORE", 20348, "Server Core", "ServerNT"),
                 ("Windows Server 2022 SERVERSTANDARD", 20348, "Server", "ServerNT"))
BOOT_FILES = {
    "bootmgr": b"BOOTMGR" * 64,
    "bootmgr.efi": b"MZ-bootmgr-efi" * 32,
    "boot/etfsboot.com": b"\xeb\x3c\x90ETFSBOOT" + bytes(range(256)) * 15,
    "boot/bcd": b"regf-bcd" * 100,
    "efi/microsoft/boot/efisys.bin": b"\xeb\x3c\x90MSDOS5.0PROMPT" + b"P" * 4000,
    "efi/microsoft/boot/efisys_noprompt.bin": b"\xeb\x3c\x90MSDOS5.0NOPROMPT" + b"N" * 4000,
    "efi/boot/bootx64.efi": b"MZ-bootx64" * 50,
    "sources/boot.wim": b"MSWIM\x00\x00\x00boot" * 40,
    "sources/ko-kr/setup.exe.mui": "한국어 리소스".encode() * 10,
    "setup.exe": b"MZ-setup" * 80,
}
WIM_MAGIC = b"MSWIM\x00\x00\x00"


def wim_xml(images: Iterable[tuple[str, int, str, str]]) -> bytes:
    body = "".join(
        f'<IMAGE INDEX="{n}"><NAME>{name}</NAME><WINDOWS><ARCH>9</ARCH>'
        f"<PRODUCTTYPE>{product}</PRODUCTTYPE><INSTALLATIONTYPE>{kind}</INSTALLATIONTYPE>"
        f"<VERSION><MAJOR>10</MAJOR><MINOR>0</MINOR><BUILD>{build}</BUILD></VERSION>"
        "</WINDOWS></IMAGE>"
        for n, (name, build, kind, product) in enumerate(images, start=1))
    return ("\ufeff<WIM><TOTALBYTES>0</TOTALBYTES>" + body + "</WIM>").encode("utf-16-le")


def wim_header(xml_offset: int, xml_size: int, images: int) -> bytes:
    header = bytearray(208)
    header[:8] = WIM_MAGIC
    struct.pack_into("<IIII", header, 8, 208, 0x10D00, 0x00020000, 32768)
    struct.pack_into("<HHI", header, 40, 1, 1, images)
    header[72:79] = xml_size.to_bytes(7, "little")
    header[79] = 0x02  # metadata, not compressed
    struct.pack_into("<QQ", header, 80, xml_offset, xml_size)
    return bytes(header)


def write_wim(path: Path, images: Iterable[tuple[str, int, str, str]] = IMAGES,
              size: int | None = None) -> Path:
    """An install.wim: header, some bytes, the XML metadata (at ``size``'s end when given,
    the rest a hole)."""
    xml = wim_xml(images)
    count = len(list(images))
    with path.open("wb") as handle:
        body = b"compressed-resources" * 100
        offset = 208 + len(body) if size is None else size - len(xml)
        handle.write(wim_header(offset, len(xml), count) + body)
        handle.seek(offset)
        handle.write(xml)
    return path


def _iso_path(path: str, is_dir: bool) -> str:
    return "/" + path.upper().replace("-", "_") + ("" if is_dir else ";1")


def windows_iso(path: Path, install_wim: Path, *, extra: dict[str, bytes] | None = None,
                boot: bool = True, label: str = "CCCOMA_X64FRE") -> Path:
    files = {**BOOT_FILES, **(extra or {})}
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, udf="2.60", vol_ident=label)
    readme = b"This disc contains a \"UDF\" file system.\r\n"
    iso.add_fp(io.BytesIO(readme), len(readme), iso_path="/README.TXT;1",
               joliet_path="/README.TXT")
    dirs = sorted({p.rsplit("/", 1)[0] for p in [*files, "sources/install.wim"] if "/" in p}
                  | {"efi", "efi/microsoft"}, key=lambda d: (d.count("/"), d))
    in_iso = {"boot", "efi", "efi/microsoft", "efi/microsoft/boot"}
    for d in dirs:
        iso.add_directory(udf_path=f"/{d}", iso_path=_iso_path(d, True) if d in in_iso else None)
    for name, data in files.items():
        iso9660 = _iso_path(name, False) if name.startswith(("boot/", "efi/microsoft/")) else None
        iso.add_fp(io.BytesIO(data), len(data), udf_path=f"/{name}", iso_path=iso9660)
    handle = install_wim.open("rb")
    iso.add_fp(handle, install_wim.stat().st_size, udf_path="/sources/install.wim")
    if boot:
        iso.add_eltorito("/BOOT/ETFSBOOT.COM;1", bootcatfile="/BOOT/BOOT.CAT;1",
                         udf_bootcatfile="/boot/boot.cat", joliet_bootcatfile="/boot.cat",
                         boot_load_size=8, boot_load_seg=0x07C0)
        iso.add_eltorito("/EFI/MICROSOFT/BOOT/EFISYS.BIN;1", efi=True, platform_id=0xEF,
                         boot_load_size=1)
    with path.open("wb") as out:
        iso.write_fp(_Sparse(out), blocksize=1 << 20)
    iso.close()
    handle.close()
    return path


class _Sparse:
    def __init__(self, handle: io.BufferedWriter) -> None:
        self.handle = handle

    def write(self, data: bytes) -> int:
        if data == bytes(len(data)):
            self.handle.seek(len(data), 1)
        else:
            self.handle.write(data)
        return len(data)

    def seek(self, *args: int) -> int:
        return self.handle.seek(*args)

    def tell(self) -> int:
        return self.handle.tell()


VERSIONS = ("w10", "w11", "2k19", "2k22")


def virtio_files(versions: Iterable[str] = VERSIONS) -> dict[str, bytes]:
    files = {"virtio-win-gt-x64.msi": b"MSI-guest-tools" * 300,
             "virtio-win-guest-tools.exe": b"MZ-guest-tools" * 300,
             "virtio-win_license.txt": b"license"}
    for driver in ("viostor", "vioscsi", "NetKVM", "Balloon"):
        for version in versions:
            for ext in ("inf", "sys", "cat"):
                name = f"{driver.lower()}.{ext}"
                files[f"{driver}/{version}/amd64/{name}"] = f"{driver}-{version}-{ext}".encode() * 9
    return files


def virtio_iso(path: Path, files: dict[str, bytes] | None = None) -> Path:
    files = virtio_files() if files is None else files
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, vol_ident="virtio-win-0.1")
    dirs: set[str] = set()
    for name in files:
        parts = name.split("/")[:-1]
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    for d in sorted(dirs, key=lambda d: (d.count("/"), d)):
        iso.add_directory(_iso_path(d, True), joliet_path=f"/{d}")
    for name, data in files.items():
        iso.add_fp(io.BytesIO(data), len(data), iso_path=_iso_path(name, False),
                   joliet_path=f"/{name}")
    iso.write(str(path))
    iso.close()
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

"""What install.wim (or install.esd) says about its images, from the XML metadata resource
its header points at (Microsoft's WIM format: a 208-byte header; ``rhXmlData`` at byte 72 is a
short resource header: 7 bytes of stored size, a flags byte, the 8-byte offset, the 8-byte
original size; the XML is UTF-16LE and stored uncompressed).

Only a few KiB are read, never the images. Unreadable metadata (a compressed resource, a
placeholder file) gives None: the caller then cannot check the image name, and needs
``windows:`` declared.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass

__all__ = ["WimImage", "parse_header", "parse_xml", "driver_folder"]

MAGIC = b"MSWIM\x00\x00\x00"
HEADER_SIZE = 208
XML_RESHDR_AT = 72
COMPRESSED = 0x04
MAX_XML = 16 * 1024 * 1024


@dataclass(frozen=True)
class WimImage:
    index: int
    name: str
    build: int | None
    installation_type: str | None  # "Client", "Server", "Server Core"
    product_type: str | None  # "WinNT" (client), "ServerNT", "LanmanNT"


def parse_header(header: bytes) -> tuple[int, int] | None:
    """(offset, size) of the XML metadata, or None when the header is not a WIM's or the
    XML is compressed."""
    if len(header) < HEADER_SIZE or not header.startswith(MAGIC):
        return None
    raw = header[XML_RESHDR_AT:XML_RESHDR_AT + 24]
    size = int.from_bytes(raw[:7], "little")
    flags = raw[7]
    offset, = struct.unpack_from("<Q", raw, 8)
    if flags & COMPRESSED or not 0 < size <= MAX_XML:
        return None
    return int(offset), size


def parse_xml(data: bytes) -> list[WimImage] | None:
    try:
        text = data.decode("utf-16-le").lstrip("\ufeff").rstrip("\x00")
        root = ET.fromstring(text)
    except (UnicodeDecodeError, ET.ParseError):
        return None
    images = []
    for node in root.findall("IMAGE"):
        build = node.findtext("WINDOWS/VERSION/BUILD")
        images.append(WimImage(
            int(node.get("INDEX", "0") or 0), (node.findtext("NAME") or "").strip(),
            int(build) if build and build.strip().isdigit() else None,
            (node.findtext("WINDOWS/INSTALLATIONTYPE") or "").strip() or None,
            (node.findtext("WINDOWS/PRODUCTTYPE") or "").strip() or None))
    return images


_SERVER_BUILDS = ((26100, "2k25"), (20348, "2k22"), (17763, "2k19"), (14393, "2k16"))


def driver_folder(image: WimImage) -> str | None:
    """The virtio-win folder of the image's Windows version (w10, w11, 2k16 … 2k25)."""
    if image.build is None:
        return None
    server = "server" in (image.installation_type or "").lower() or \
        (image.product_type or "") in ("ServerNT", "LanmanNT")
    if server:
        return next((folder for build, folder in _SERVER_BUILDS if image.build >= build), None)
    if image.build >= 22000:
        return "w11"
    return "w10" if image.build >= 10240 else None

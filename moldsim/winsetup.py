"""What Windows Setup reads from its media, as facts the guest model judges (moldsim.guest).

From one ISO (read with moldsim.isofs): whether it is Setup media at all (`sources/install.wim`
or `install.esd`), its boot entries and which Microsoft boot image each loads (the prompting
`efisys.bin` or `efisys_noprompt.bin`), `autounattend.xml` at its root, the images named in
the WIM metadata, and the storage/network drivers it offers. Nothing here keeps a value of the
answer file: only whether the settings Setup needs are there (the answer file holds the
Administrator password; reasons and logs must never show it).

Sources: Microsoft's unattend reference (namespace urn:schemas-microsoft-com:unattend;
windowsPE Microsoft-Windows-Setup: DiskConfiguration, ImageInstall/OSImage (InstallFrom
MetaData /IMAGE/NAME|/IMAGE/INDEX|/IMAGE/DESCRIPTION, InstallTo, InstallToAvailablePartition),
UserData/AcceptEula; Microsoft-Windows-PnpCustomizationsWinPE DriverPaths; oobeSystem
Microsoft-Windows-Shell-Setup: UserAccounts, AutoLogon, FirstLogonCommands), "Add device
drivers to Windows during Setup" ($WinPEDriver$ on any media root), and the WIM header layout
(wimlib's documentation of the format: magic "MSWIM\\0\\0\\0", the XML resource header at byte 72,
UTF-16LE XML `<WIM><IMAGE INDEX=...><NAME>`, `<WINDOWS><INSTALLATIONTYPE>`, `<VERSION><BUILD>`).
"""

from __future__ import annotations

import re
import struct
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from moldsim import isofs

UNATTEND_NS = "urn:schemas-microsoft-com:unattend"
ANSWER_FILE = "autounattend.xml"
DRIVER_FOLDER = "$winpedriver$"
WIM_MAGIC = b"MSWIM\x00\x00\x00"
MAX_ANSWER_BYTES = 1 << 20
MAX_WIM_XML = 8 << 20
OTHER_ARCHES = ("x86", "arm64", "i386", "ia64")
# the storage driver Setup needs per libvirt disk bus (None: Windows has one inbox)
BUS_DRIVER = {"scsi": "vioscsi", "virtio": "viostor"}


@dataclass(frozen=True)
class BootImage:
    """One bootable El Torito entry as the firmware sees it."""

    platform: str  # "bios" | "efi" | "0x.."
    image: str | None  # the file it loads, when a tree names it
    prompts: bool  # "Press any key to boot from CD or DVD" (etfsboot: only with a bootable disk)

    def view(self) -> dict[str, object]:
        return {"platform": self.platform, "image": self.image, "prompts": self.prompts}


@dataclass(frozen=True)
class WimImage:
    index: int
    name: str
    display_name: str
    installation_type: str
    build: int
    description: str

    def windows(self) -> str | None:
        """"11", "10", "server" or None (unknown)."""
        names = f"{self.name} {self.display_name}".lower()
        if "server" in self.installation_type.lower() or "windows server" in names:
            return "server"
        if "windows 11" in names or (self.build >= 22000 and "client" in self.installation_type.lower()):
            return "11"
        if "windows 10" in names or (10240 <= self.build < 22000):
            return "10"
        return None


@dataclass(frozen=True)
class AnswerFile:
    """What Setup needs from autounattend.xml, as booleans and non-secret names."""

    error: str | None = None  # why Setup cannot read it (then nothing else is set)
    setup: bool = False  # windowsPE Microsoft-Windows-Setup
    eula: bool = False
    os_image: bool = False
    install_to: bool = False
    image_key: tuple[str, str] | None = None  # ("/IMAGE/NAME", "Windows 11 Pro")
    disk_config: bool = False
    partition_types: tuple[str, ...] = ()
    driver_paths: tuple[str, ...] = ()
    accounts: bool = False
    autologon: bool = False
    shutdown: bool = False


@dataclass
class SetupMedia:
    """One medium as Setup sees it. `media` is None when the bytes are no ISO image
    (`problem` says why)."""

    path: str
    sha256: str
    media: isofs.Media | None
    problem: str | None = None
    boot: list[BootImage] = field(default_factory=list)
    answer: AnswerFile | None = None  # None: no autounattend.xml at the root
    wim: list[WimImage] | None = None  # None: no readable WIM metadata

    @property
    def tree(self) -> isofs.Tree:
        return self.media.tree if self.media is not None else isofs.Tree("none")

    @property
    def setup(self) -> bool:
        """Windows Setup media: sources/install.wim or sources/install.esd."""
        return any(self.tree.get(p) is not None for p in ("sources/install.wim", "sources/install.esd"))

    def boot_for(self, platform: str) -> BootImage | None:
        return next((b for b in self.boot if b.platform == platform), None)


_CACHE: dict[tuple[str, str], SetupMedia] = {}
_CACHE_LOCK = threading.Lock()


def load(path: str, sha256: str) -> SetupMedia:
    """The medium stored at `path` (its bytes' sha256 keys a cache: uploads never change)."""
    key = (path, sha256)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    found = _read(path, sha256)
    with _CACHE_LOCK:
        _CACHE[key] = found
    return found


def _read(path: str, sha256: str) -> SetupMedia:
    try:
        media = isofs.open_media(path)
    except (isofs.IsoError, OSError) as exc:
        return SetupMedia(path, sha256, None, f"not an ISO image: {exc}")
    out = SetupMedia(path, sha256, media)
    out.boot = _boot_images(path, media)
    answer = out.tree.get(ANSWER_FILE)
    if answer is not None and not answer.is_dir:
        out.answer = parse_answer(_read_node(path, answer, MAX_ANSWER_BYTES + 1))
    wim = out.tree.get("sources/install.wim") or out.tree.get("sources/install.esd")
    if wim is not None and not wim.is_dir:
        out.wim = wim_images(path, wim)
    return out


def _read_node(path: str, node: isofs.Node, limit: int) -> bytes:
    try:
        return isofs.read_node(path, node, limit)
    except OSError:
        return b""


# ---------------------------------------------------------------- boot images

def _boot_images(path: str, media: isofs.Media) -> list[BootImage]:
    out = []
    for entry in media.boot:
        if not entry.bootable:
            continue
        node = media.boot_image(entry)
        prompts = True
        if entry.platform == isofs.PLATFORM_EFI:
            prompts = _efi_prompts(path, media, entry, node)
        out.append(BootImage(entry.platform_name, node.path if node else None, prompts))
    return out


def _efi_prompts(path: str, media: isofs.Media, entry: isofs.BootEntry, node: isofs.Node | None) -> bool:
    """efisys_noprompt.bin does not prompt; efisys.bin, and an image the model cannot tell,
    does (Microsoft's default)."""
    if node is not None and node.name.lower() in ("efisys.bin", "efisys_noprompt.bin"):
        return node.name.lower() == "efisys.bin"
    # the entry points at no file of the tree: compare its first sector with the two images
    size = max(512, entry.sector_count * 512)
    head = isofs.read_node(path, isofs.Node("", False, size, (isofs.Extent(entry.load_rba, size),)), 2048)
    for name, prompts in (("efisys_noprompt.bin", False), ("efisys.bin", True)):
        known = media.tree.get(f"efi/microsoft/boot/{name}")
        if known is not None and head and _read_node(path, known, len(head)) == head:
            return prompts
    return True


# ---------------------------------------------------------------- the answer file

def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(elem: ET.Element, *names: str) -> list[ET.Element]:
    """Descendants of `elem` along a path of local names (any namespace)."""
    level = [elem]
    for name in names:
        level = [c for e in level for c in e if _local(c.tag) == name]
    return level


def _text(elem: ET.Element | None) -> str:
    return (elem.text or "").strip() if elem is not None else ""


def _flag(elem: ET.Element, name: str) -> bool:
    """A child setting whose text is "true"."""
    return any(_text(e).lower() == "true" for e in _find(elem, name))


def _component(root: ET.Element, pass_name: str, component: str) -> list[ET.Element]:
    return [c for s in root if _local(s.tag) == "settings" and s.get("pass") == pass_name
            for c in s if _local(c.tag) == "component" and c.get("name") == component]


def parse_answer(data: bytes) -> AnswerFile:
    """The settings Setup needs, read from autounattend.xml (values are not kept)."""
    if len(data) > MAX_ANSWER_BYTES:
        return AnswerFile(error=f"autounattend.xml is larger than {MAX_ANSWER_BYTES} bytes")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line, col = exc.position
        return AnswerFile(error=f"autounattend.xml is not well-formed XML (line {line}, column {col})")
    if root.tag != f"{{{UNATTEND_NS}}}unattend":
        return AnswerFile(error=f"autounattend.xml's root element is {root.tag}, not unattend in "
                                f"the namespace {UNATTEND_NS}")
    setup = _component(root, "windowsPE", "Microsoft-Windows-Setup")
    pnp = _component(root, "windowsPE", "Microsoft-Windows-PnpCustomizationsWinPE")
    shell = _component(root, "oobeSystem", "Microsoft-Windows-Shell-Setup")
    images = [i for c in setup for i in _find(c, "ImageInstall", "OSImage")]
    metadata = [m for i in images for m in _find(i, "InstallFrom", "MetaData")]
    key = next(((_text(_find(m, "Key")[0] if _find(m, "Key") else None).upper(),
                 _text(_find(m, "Value")[0] if _find(m, "Value") else None)) for m in metadata), None)
    commands = [_text(c) for s in shell for c in _find(s, "FirstLogonCommands", "SynchronousCommand",
                                                      "CommandLine")]
    return AnswerFile(
        setup=bool(setup),
        eula=any(_text(e).lower() == "true" for c in setup for e in _find(c, "UserData", "AcceptEula")),
        os_image=bool(images),
        install_to=any(_find(i, "InstallTo") or _flag(i, "InstallToAvailablePartition") for i in images),
        image_key=key if key and key[0] else None,
        disk_config=any(_find(c, "DiskConfiguration", "Disk") for c in setup),
        partition_types=tuple(_text(t).upper() for c in setup for t in _find(
            c, "DiskConfiguration", "Disk", "CreatePartitions", "CreatePartition", "Type")),
        driver_paths=tuple(_text(p) for c in pnp for p in _find(c, "DriverPaths", "PathAndCredentials", "Path")),
        accounts=any(_find(s, "UserAccounts", "AdministratorPassword")
                     or _find(s, "UserAccounts", "LocalAccounts", "LocalAccount") for s in shell),
        autologon=any(_text(e).lower() == "true" for s in shell for e in _find(s, "AutoLogon", "Enabled")),
        shutdown=any(re.search(r"shutdown|stop-computer", c, re.IGNORECASE) for c in commands),
    )


# ---------------------------------------------------------------- WIM metadata

def wim_images(path: str, node: isofs.Node) -> list[WimImage] | None:
    """The images the WIM's XML metadata names; None when the file is no WIM (a
    placeholder) or its metadata cannot be read."""
    head = _read_node(path, node, 208)
    if len(head) < 208 or head[:8] != WIM_MAGIC:
        return None
    size = int.from_bytes(head[72:79], "little")
    flags = head[79]
    offset, _original = struct.unpack_from("<QQ", head, 80)
    if flags & 0x04 or not 0 < size <= MAX_WIM_XML or offset + size > node.size:
        return None  # compressed or implausible metadata
    data = _read_at(path, node, offset, size)
    try:
        root = ET.fromstring(data.decode("utf-16"))
    except (UnicodeDecodeError, ET.ParseError):
        return None
    out = []
    for img in root.iter("IMAGE"):
        build = _text(img.find("WINDOWS/VERSION/BUILD"))
        out.append(WimImage(index=int(img.get("INDEX") or 0), name=_text(img.find("NAME")),
                            display_name=_text(img.find("DISPLAYNAME")),
                            installation_type=_text(img.find("WINDOWS/INSTALLATIONTYPE")),
                            build=int(build) if build.isdigit() else 0,
                            description=_text(img.find("DESCRIPTION"))))
    return out


def _read_at(path: str, node: isofs.Node, offset: int, length: int) -> bytes:
    """`length` bytes of a file from `offset`, across its extents."""
    out = bytearray()
    pos = 0
    with Path(path).open("rb") as fh:
        for ext in node.extents:
            lo, hi = max(offset, pos), min(offset + length, pos + ext.length)
            if lo < hi:
                fh.seek(ext.lba * isofs.SECTOR + (lo - pos))
                out += fh.read(hi - lo)
            pos += ext.length
    return bytes(out)


def selected_image(images: list[WimImage], key: tuple[str, str] | None) -> WimImage | None | str:
    """The image the answer file selects; a text when the key names none of them."""
    if key is None:
        return images[0] if len(images) == 1 else None
    kind, value = key
    if kind == "/IMAGE/INDEX":
        found = next((i for i in images if str(i.index) == value), None)
    elif kind == "/IMAGE/DESCRIPTION":
        found = next((i for i in images if i.description == value), None)
    else:
        found = next((i for i in images if i.name == value), None)
    if found is None:
        names = ", ".join(f"{i.index}: {i.name}" for i in images) or "none"
        return f"{kind} {value!r} names no image of install.wim (images: {names})"
    return found


# ---------------------------------------------------------------- drivers

def drivers(trees: list[isofs.Tree], driver_paths: tuple[str, ...]) -> dict[str, str]:
    """Driver name (lowercase inf stem) → the folder it was found in, for every complete
    driver package (.inf, .sys and .cat side by side) in $WinPEDriver$ at the root of a
    medium or below a DriverPaths path (drive letter ignored), not built for another
    architecture."""
    found: dict[str, str] = {}
    for tree in trees:
        roots = [DRIVER_FOLDER] + [_strip_drive(p) for p in driver_paths]
        for root in roots:
            if not root:
                continue
            for node in tree.under(root):
                if node.is_dir or not node.name.lower().endswith(".inf"):
                    continue
                folder, stem = node.path.rsplit("/", 1)[0], node.name[:-4]
                parts = [p.lower() for p in folder.split("/")]
                if any(arch in parts for arch in OTHER_ARCHES):
                    continue
                if all(tree.get(f"{folder}/{stem}.{ext}") is not None for ext in ("sys", "cat")):
                    found.setdefault(stem.lower(), folder)
    return dict(sorted(found.items()))


def _strip_drive(path: str) -> str:
    """`E:\\viostor\\w11\\amd64` → `viostor/w11/amd64`."""
    text = path.replace("\\", "/")
    text = re.sub(r"^[A-Za-z]:", "", text)
    return text.strip("/")

"""What the two input ISOs must hold, checked before anything is built or uploaded.

The Windows ISO: ``sources/install.wim`` or ``sources/install.esd`` (else it is not a Windows
installer); the image the answer file names, where install.wim's metadata is readable; the
virtio-win folder of its Windows version (``windows:``, else read from that metadata).

The driver ISO (virtio-win's layout): ``viostor/<win>/amd64`` (VirtIO BLK), ``vioscsi/<win>/
amd64`` (VirtIO SCSI, Mold's default bus for Windows) and ``NetKVM/<win>/amd64``, each with an
.inf; ``virtio-win-gt-x64.msi`` and ``virtio-win-guest-tools.exe`` at its root.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.media.answer import DRIVER_DIR, GUEST_AGENT_MSI, GUEST_TOOLS_EXE, TOOLS_DIR
from reconciler.media.isofs import IsoTree, MediaError
from reconciler.media.wim import HEADER_SIZE, WimImage, driver_folder, parse_header, parse_xml

__all__ = ["WindowsInfo", "DriverSet", "check_windows", "check_drivers", "DRIVERS"]

DRIVERS = ("viostor", "vioscsi", "NetKVM")  # storage for either bus, and the network
INSTALL_IMAGES = ("sources/install.wim", "sources/install.esd")


@dataclass(frozen=True)
class WindowsInfo:
    install_image: str  # its path on the ISO
    images: list[WimImage] | None  # None: the metadata cannot be read
    folder: str  # the virtio-win folder of its Windows version


@dataclass(frozen=True)
class DriverSet:
    folder: str
    files: list[tuple[str, str]]  # (path on the driver ISO, path on the media)
    tools: list[tuple[str, str]]


def read_images(tree: IsoTree, install_image: str) -> list[WimImage] | None:
    header = tree.read(install_image, HEADER_SIZE)
    where = parse_header(header)
    if where is None:
        return None
    offset, size = where
    return parse_xml(tree.read(install_image, size, offset))


def check_windows(tree: IsoTree, image_name: str | None, image_index: int | None,
                  declared_folder: str | None) -> WindowsInfo:
    found = next((tree.find(p) for p in INSTALL_IMAGES if tree.find(p)), None)
    if found is None:
        raise MediaError(f"{tree.path} is not a Windows installer ISO: it has no "
                         "sources/install.wim or sources/install.esd")
    images = read_images(tree, found.path)
    chosen = _chosen_image(tree, images, image_name, image_index)
    folder = declared_folder or (driver_folder(chosen) if chosen else None)
    if folder is None:
        raise MediaError(f"the Windows version of {tree.path} cannot be read from "
                         f"{found.path}: declare `build.windows` (w10, w11, 2k16, 2k19, 2k22 "
                         "or 2k25)")
    return WindowsInfo(found.path, images, folder)


def _chosen_image(tree: IsoTree, images: list[WimImage] | None, name: str | None,
                  index: int | None) -> WimImage | None:
    if not images:
        return None
    for image in images:
        if (name is not None and image.name == name) or (index is not None
                                                          and image.index == index):
            return image
    listed = ", ".join(f"{i.index}: {i.name!r}" for i in images)
    wanted = f"image {name!r}" if name is not None else f"image index {index}"
    raise MediaError(f"{tree.path}: install image has no {wanted}; it has {listed}")


def check_drivers(tree: IsoTree, folder: str) -> DriverSet:
    files = tree.files()
    chosen: list[tuple[str, str]] = []
    missing = []
    for driver in DRIVERS:
        prefix = f"{driver}/{folder}/amd64/".lower()
        mine = sorted(e.path for key, e in files.items() if key.startswith(prefix))
        if not any(p.lower().endswith(".inf") for p in mine):
            missing.append(f"{driver}/{folder}/amd64")
        chosen += [(p, f"{DRIVER_DIR}/{p}") for p in mine]
    if missing:
        have = sorted({e.path.split("/")[1] for key, e in files.items()
                       if key.startswith(f"{DRIVERS[0].lower()}/") and key.count("/") >= 2})
        raise MediaError(f"{tree.path} has no drivers for Windows {folder!r} (missing "
                         f"{', '.join(missing)}); its viostor folders: "
                         f"{', '.join(have) or '(none)'}")
    tools = []
    for name in (GUEST_AGENT_MSI, GUEST_TOOLS_EXE):
        entry = tree.find(name)
        if entry is None:
            raise MediaError(f"{tree.path} has no {name} at its root (the guest tools the "
                             "first logon installs): use a virtio-win ISO from 0.1.190 on")
        tools.append((entry.path, f"{TOOLS_DIR}/{name}"))
    return DriverSet(folder, chosen, tools)

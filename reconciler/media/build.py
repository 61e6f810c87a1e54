"""Building one medium from its recipe, and describing a built one.

``build`` reads the secrets first, then gets the two ISOs (path or download, checked against
their sha256), checks what they must hold (``layout``), and writes the new image: every file
of the Windows ISO byte for byte (but an ``autounattend.xml``, ``$WinPEDriver$`` or ``mwin``
folder it has at its root, which the media's own replace), the answer file at the root, the
VirtIO storage and network drivers of the Windows version in ``$WinPEDriver$``, the guest
installers in ``mwin/``, and the El Torito entries of the Windows ISO: BIOS
(``boot/etfsboot.com``) and UEFI (``efi/microsoft/boot/efisys.bin``, or its no-prompt sibling
``efisys_noprompt.bin`` with ``first_boot: disk_first``).

``describe`` lists what a built image holds (for `mwin media show`), passwords masked.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.media.answer import DRIVER_DIR, TOOLS_DIR, AnswerFile, mask, render
from reconciler.media.inputs import cache_dir, known_sha256, local_iso, read_secret
from reconciler.media.isofs import BootEntry, IsoTree, MediaError
from reconciler.media.layout import check_drivers, check_windows
from reconciler.media.recipe import Recipe, Source
from reconciler.media.writer import ImagePlan, write_image

__all__ = ["Built", "MediaReport", "build", "describe", "with_digests", "ANSWER_FILE"]

ANSWER_FILE = "autounattend.xml"
FALLBACK_IMAGES = {"BIOS": "boot/etfsboot.com", "UEFI": "efi/microsoft/boot/efisys.bin"}
NO_PROMPT = "efisys_noprompt.bin"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Built:
    path: Path
    identity: str
    windows: str  # the virtio-win folder used
    boot: list[BootEntry]
    drivers: list[str]  # paths on the media


def build(recipe: Recipe, progress: Progress, out: Path | None = None) -> Built:
    """Build the medium into ``out`` (default: a new private file in the cache directory,
    which the caller deletes after use: it holds the password)."""
    answer = _answer(recipe)  # secrets first: a missing one fails before any download
    windows_path = local_iso(recipe.windows_iso, "build.from", progress)
    drivers_path = local_iso(recipe.drivers_iso, "build.drivers", progress)
    recipe = with_digests(recipe)
    with IsoTree(windows_path) as windows, IsoTree(drivers_path) as drivers:
        info = check_windows(windows, recipe.image, recipe.index, recipe.windows)
        driver_set = check_drivers(drivers, info.folder)
        plan = ImagePlan(windows.volume_id or "WINDOWS")
        _copy_windows(plan, windows)
        plan.add_bytes(ANSWER_FILE, render(dataclasses.replace(answer, firmware=recipe.firmware))
                       .encode("utf-8"))
        for source, dest in [*driver_set.files, *driver_set.tools]:
            entry = drivers.find(source)
            assert entry is not None
            plan.add_copy(dest, drivers, entry.path, entry.size)
        plan.boot = _boot_entries(windows, recipe)
        target = out or _private_file()
        progress(f"writing the unattended media ({info.folder}, {recipe.firmware}, "
                 f"{len(driver_set.files)} driver files)")
        write_image(plan, target, _byte_progress(progress, target.name))
    return Built(target, recipe.identity(), info.folder, plan.boot,
                 [dest for _s, dest in driver_set.files])


def with_digests(recipe: Recipe) -> Recipe:
    """``recipe`` with the sha256 of each local input that declares none (computed once per
    version of the file: ``inputs.known_sha256``)."""
    changes = {}
    for name in ("windows_iso", "drivers_iso"):
        source: Source = getattr(recipe, name)
        if source.sha256 is None and source.path:
            changes[name] = source.model_copy(update={"sha256": known_sha256(Path(source.path))})
    return recipe.model_copy(update=changes) if changes else recipe


def _answer(recipe: Recipe) -> AnswerFile:
    password = read_secret(recipe.admin_password, "the Administrator password")
    key = read_secret(recipe.product_key, "the product key") if recipe.product_key else None
    return AnswerFile(recipe.firmware, recipe.image, recipe.index, recipe.locale,
                      recipe.input_locale or recipe.locale, recipe.timezone,
                      recipe.computer_name, password, key, list(recipe.first_logon),
                      recipe.generalize)


def _replaced(path: str) -> bool:
    top = path.split("/", 1)[0].lower()
    return path.lower() == ANSWER_FILE or top in (DRIVER_DIR.lower(), TOOLS_DIR)


def _copy_windows(plan: ImagePlan, windows: IsoTree) -> None:
    for entry in windows.entries:
        if _replaced(entry.path):
            continue
        if entry.is_dir:
            plan.add_dir(entry.path)
        else:
            plan.add_copy(entry.path, windows, entry.path, entry.size)


def _boot_entries(windows: IsoTree, recipe: Recipe) -> list[BootEntry]:
    entries = windows.boot_entries()
    if not entries:
        raise MediaError(f"{windows.path} has no El Torito boot catalog: it cannot boot")
    chosen = []
    for entry in entries:
        path = entry.path
        if path is None and entry.platform in FALLBACK_IMAGES:
            found = windows.find(FALLBACK_IMAGES[entry.platform])
            path = found.path if found else None
        if path is None:
            raise MediaError(f"{windows.path}: the {entry.platform} boot image is not a file "
                             "of the ISO's tree, so it cannot be carried over")
        if entry.platform == "UEFI" and recipe.firmware == "UEFI" \
                and recipe.first_boot == "disk_first":
            path = _no_prompt(windows, path)
        chosen.append(dataclasses.replace(entry, path=path))
    return sorted(chosen, key=lambda e: e.platform != "BIOS")


def _no_prompt(windows: IsoTree, prompting: str) -> str:
    folder = prompting.rpartition("/")[0]
    found = windows.find(f"{folder}/{NO_PROMPT}" if folder else NO_PROMPT)
    if found is None:
        raise MediaError(f"{windows.path} has no {folder}/{NO_PROMPT} (the UEFI boot image "
                         "without the key prompt): use `first_boot: keypress`")
    return found.path


def _private_file() -> Path:
    where = cache_dir() / "media"
    where.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=where, prefix="unattended-", suffix=".iso")
    os.close(fd)
    os.chmod(name, 0o600)
    return Path(name)


def _byte_progress(progress: Progress, name: str) -> Callable[[int, int], None]:
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last[0] >= 1.0:
            last[0] = now
            progress(f"writing {name}: {_amount(done, total)} "
                     f"({done * 100 // max(total, 1)}%)")
    return report


def _amount(done: int, total: int) -> str:
    """"12 of 5,120 MiB"; in KiB for media under 1 MiB (never "0 of 0 MiB")."""
    shift, unit = (20, "MiB") if total >= 1 << 20 else (10, "KiB")
    return f"{done >> shift:,} of {total >> shift:,} {unit}"


@dataclass(frozen=True)
class MediaReport:
    label: str
    boot: list[BootEntry]
    answer: str | None  # masked
    drivers: list[str]
    tools: list[str]


def describe(path: Path) -> MediaReport:
    with IsoTree(path) as tree:
        found = tree.find(ANSWER_FILE)
        answer = mask(tree.read(found.path).decode("utf-8", "replace")) if found else None
        prefix = f"{DRIVER_DIR}/".lower()
        files = [e.path for e in tree.entries if not e.is_dir]
        drivers = [p for p in files if p.lower().startswith(prefix)]
        tools = [p for p in files if p.lower().startswith(f"{TOOLS_DIR}/")]
        return MediaReport(tree.volume_id, tree.boot_entries(), answer, drivers, tools)


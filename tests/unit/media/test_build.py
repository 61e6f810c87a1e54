"""Building media from synthetic Windows-like ISOs, judged by pycdlib (through mwin's own
reader) and by outside tools: xorriso's El Torito report and 7-Zip's UDF reading."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pycdlib
import pytest

from reconciler.media import MediaError, build, describe
from reconciler.media.answer import AnswerFile, render
from reconciler.media.isofs import IsoTree
from tests.unit.media import synthetic
from tests.unit.media.conftest import Kit, tool

W11_DRIVERS = sorted(f"$WinPEDriver$/{d}/w11/amd64/{d.lower()}.{ext}"
                     for d in ("viostor", "vioscsi", "NetKVM") for ext in ("cat", "inf", "sys"))


def built(kit: Kit, tmp_path: Path, **changes: object) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "unattended.iso"
    build(kit.recipe(**changes), lambda _line: None, out)
    return out


def hashes(tree: IsoTree) -> dict[str, str]:
    return {e.path: hashlib.sha256(tree.read(e.path)).hexdigest()
            for e in tree.entries if not e.is_dir}


def el_torito(path: Path) -> list[str]:
    report = subprocess.run([tool("xorriso"), "-indev", str(path), "-report_el_torito", "plain"],
                            capture_output=True, text=True, check=True).stdout
    return [re.sub(r"\s+", " ", line.strip()) for line in report.splitlines()
            if line.startswith(("El Torito boot img", "El Torito img path"))]


def test_both_boot_entries_are_kept(kit: Kit, tmp_path: Path, password: str) -> None:
    out = built(kit, tmp_path)
    rows = el_torito(out)
    assert rows[0].startswith("El Torito boot img : 1 BIOS y none 0x07c0 0x00 8 ")
    assert rows[1].startswith("El Torito boot img : 2 UEFI y none 0x0000 0x00 1 ")
    assert rows[2:] == ["El Torito img path : 1 /boot/etfsboot.com",
                        "El Torito img path : 2 /efi/microsoft/boot/efisys.bin"]
    report = describe(out)
    assert [(b.platform, b.load_segment, b.sector_count, b.path) for b in report.boot] == [
        ("BIOS", 0x07C0, 8, "boot/etfsboot.com"),
        ("UEFI", 0, 1, "efi/microsoft/boot/efisys.bin")]


def test_disk_first_boots_the_no_prompt_image(kit: Kit, tmp_path: Path, password: str) -> None:
    out = built(kit, tmp_path, first_boot="disk_first")
    assert el_torito(out)[2:] == ["El Torito img path : 1 /boot/etfsboot.com",
                                  "El Torito img path : 2 /efi/microsoft/boot/efisys_noprompt.bin"]
    iso = pycdlib.PyCdlib()
    iso.open(str(out))
    entry = iso.eltorito_boot_catalog.sections[0].section_entries[0]
    with out.open("rb") as handle:
        handle.seek(entry.load_rba * 2048)
        image = handle.read(len(synthetic.BOOT_FILES["efi/microsoft/boot/efisys_noprompt.bin"]))
    iso.close()
    assert image == synthetic.BOOT_FILES["efi/microsoft/boot/efisys_noprompt.bin"]


def test_bios_media_keeps_the_prompting_uefi_image(kit: Kit, tmp_path: Path,
                                                   password: str) -> None:
    out = built(kit, tmp_path, firmware="BIOS", first_boot="disk_first")
    assert el_torito(out)[3] == "El Torito img path : 2 /efi/microsoft/boot/efisys.bin"


@pytest.mark.parametrize("firmware", ["UEFI", "BIOS"])
def test_the_answer_file_is_at_the_root(kit: Kit, tmp_path: Path, password: str,
                                        firmware: str) -> None:
    out = built(kit, tmp_path, firmware=firmware)
    expected = render(AnswerFile(firmware, "Windows 11 Pro", None, "ko-KR", "ko-KR",
                                 "Korea Standard Time", "*", password))
    with IsoTree(out) as tree:
        assert tree.read("autounattend.xml").decode() == expected
    assert password.encode("utf-8") not in out.read_bytes()
    assert password.encode("utf-16-le") not in out.read_bytes()
    shown = describe(out).answer or ""
    assert shown.count("<Value>********</Value>") == 2
    assert ("<Type>EFI</Type>" in shown) is (firmware == "UEFI")


def test_drivers_and_tools_come_from_the_driver_iso(kit: Kit, tmp_path: Path,
                                                    password: str) -> None:
    report = describe(built(kit, tmp_path))
    assert sorted(report.drivers) == W11_DRIVERS
    assert report.tools == ["mwin/virtio-win-gt-x64.msi", "mwin/virtio-win-guest-tools.exe"]
    with IsoTree(kit.virtio) as source, IsoTree(built(kit, tmp_path / "again")) as media:
        for path in W11_DRIVERS:
            assert media.read(path) == source.read(path.split("/", 1)[1])


def test_server_2022_gets_its_drivers_by_its_metadata(kit: Kit, tmp_path: Path,
                                                      password: str) -> None:
    from reconciler.media import SecretRef, Source
    out = built(kit, tmp_path, windows_iso=Source(path=str(kit.server)), image=None, index=2,
                admin_password=SecretRef(env="MWIN_TEST_PASSWORD"), firmware="BIOS")
    assert {p.split("/")[2] for p in describe(out).drivers} == {"2k22"}


def test_every_original_file_is_byte_exact(kit: Kit, tmp_path: Path, password: str) -> None:
    out = built(kit, tmp_path)
    with IsoTree(kit.windows) as source, IsoTree(out) as media:
        want = hashes(source)
        have = hashes(media)
    assert {p: have[p] for p in want} == want
    # the outside judge: 7-Zip extracts the UDF tree
    target = tmp_path / "x"
    subprocess.run([tool("7zz"), "x", "-tudf", f"-o{target}", str(out)], check=True,
                   capture_output=True)
    extracted = {str(p.relative_to(target)): hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in target.rglob("*") if p.is_file()}
    assert {p: extracted[p] for p in want} == want
    assert "autounattend.xml" in extracted and "$WinPEDriver$/viostor/w11/amd64/viostor.inf" \
        in extracted


def test_every_namespace_has_the_tree(kit: Kit, tmp_path: Path, password: str) -> None:
    out = built(kit, tmp_path)
    iso = pycdlib.PyCdlib()
    iso.open(str(out))
    joliet = {f"{d}/{f}".lstrip("/") for d, _s, files in iso.walk(joliet_path="/") for f in files}
    iso9660 = {f"{d}/{f}" for d, _s, files in iso.walk(iso_path="/") for f in files}
    udf = {f"{d}/{f}".lstrip("/") for d, _s, files in iso.walk(udf_path="/") for f in files}
    iso.close()
    assert "$WinPEDriver$/NetKVM/w11/amd64/netkvm.inf" in joliet
    assert "$WinPEDriver$/NetKVM/w11/amd64/netkvm.inf" in udf
    assert "/_WINPEDRIVER_/NETKVM/W11/AMD64/NETKVM.INF;1" in iso9660
    assert "efi/microsoft/boot/efisys_noprompt.bin" in joliet and len(joliet) == len(udf)


def test_a_source_without_install_wim_is_not_windows(kit: Kit, tmp_path: Path,
                                                     password: str) -> None:
    from reconciler.media import Source
    with pytest.raises(MediaError, match=r"is not a Windows installer ISO: it has no "
                                         r"sources/install\.wim or sources/install\.esd"):
        built(kit, tmp_path, windows_iso=Source(path=str(kit.virtio)))


def test_no_drivers_for_the_windows_version(kit: Kit, tmp_path: Path, password: str) -> None:
    from reconciler.media import Source
    old = synthetic.virtio_iso(tmp_path / "old-virtio.iso", synthetic.virtio_files(["w10"]))
    with pytest.raises(MediaError, match=r"has no drivers for Windows 'w11' \(missing "
                                         r"viostor/w11/amd64, vioscsi/w11/amd64, "
                                         r"NetKVM/w11/amd64\); its viostor folders: w10"):
        built(kit, tmp_path, drivers_iso=Source(path=str(old)))


def test_an_image_the_wim_lacks(kit: Kit, tmp_path: Path, password: str) -> None:
    with pytest.raises(MediaError, match=r"install image has no image 'Windows 11 Enterprise'; "
                                         r"it has 1: 'Windows 11 Home', 2: 'Windows 11 Pro'"):
        built(kit, tmp_path, image="Windows 11 Enterprise")


@pytest.mark.parametrize("value, word", [(None, "not set"), ("", "empty")])
def test_a_password_variable_unset_or_empty(kit: Kit, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            value: str | None, word: str) -> None:
    if value is None:
        monkeypatch.delenv("MWIN_TEST_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("MWIN_TEST_PASSWORD", value)
    with pytest.raises(MediaError, match=f"the environment variable MWIN_TEST_PASSWORD is {word}"):
        built(kit, tmp_path)
    assert not (tmp_path / "unattended.iso").exists()


def test_a_declared_sha256_that_does_not_match(kit: Kit, tmp_path: Path, password: str) -> None:
    from reconciler.media import Source
    with pytest.raises(MediaError, match="has sha256 .*, the spec declares 0{64}"):
        built(kit, tmp_path, windows_iso=Source(path=str(kit.windows), sha256="0" * 64))


def test_small_media_report_their_progress_in_kib(kit: Kit, tmp_path: Path,
                                                  password: str) -> None:
    lines: list[str] = []
    build(kit.recipe(), lines.append, tmp_path / "unattended.iso")
    written = [line for line in lines if line.startswith("writing ")]
    assert written and re.fullmatch(r"writing \S+: [\d,]+ of [\d,]+ KiB \(100%\)", written[-1])
    assert not any(" of 0 MiB" in line for line in lines)

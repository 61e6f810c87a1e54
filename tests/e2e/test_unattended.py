"""A Windows template with no hands: one `mwin apply` from an empty moldsim to a generalized
template, for Windows 11 (UEFI, Secure Boot, TPM 2.0: the key at the installer's prompt through
the console) and Windows Server 2022 (BIOS), with moldsim's guest model reading the uploaded
media; the disk-first guard; a guest that never powers off; and the password in no output,
plan, state, moldsim log, moldsim data or crash file. The real CLI against moldsim over HTTP."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from moldsim.server import MoldSim
from tests.helpers.checks import ok, ops, tags_of
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi
from tests.unit.media import synthetic

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Unattended-P@ss-7731"
W11 = "windows-11-unattended"
W2022 = "windows-server-2022-unattended"
STEPS = ["create", "create", "create", "await_install", "detach_iso", "create_snapshot",
         "create_template", "retire"]


def spec_dir(tmp_path: Path, example: str, edit: dict[str, str] | None = None) -> Path:
    """The example with synthetic ISOs of the names it expects beside it."""
    where = tmp_path / example
    shutil.copytree(ROOT / "specs" / example, where)
    spec = next(where.glob("*.yaml"))
    text = spec.read_text(encoding="utf-8")
    for old, new in (edit or {}).items():
        assert old in text
        text = text.replace(old, new)
    spec.write_text(text, encoding="utf-8")
    wim = tmp_path / "install.wim"
    if example == W11:
        synthetic.windows_iso(where / "Win11_24H2_Korean_x64.iso", synthetic.write_wim(wim))
    else:
        synthetic.windows_iso(where / "SERVER_EVAL_x64FRE_en-us.iso",
                              synthetic.write_wim(wim, synthetic.SERVER_IMAGES),
                              label="SSS_X64FREE_EN")
    synthetic.virtio_iso(where / "virtio-win.iso")
    return where


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[MoldSim]:
    with MoldSim(job_seconds=0.02, install_seconds=0.3, data_dir=tmp_path / "moldsim",
                 verbose=True) as server:
        yield server


def mwin_for(sim: MoldSim, tmp_path: Path) -> Mwin:
    mwin = Mwin(sim.url, tmp_path)
    mwin.env.update(MWIN_ADMIN_PASSWORD=PASSWORD, MWIN_CACHE_DIR=str(tmp_path / "cache"),
                    MWIN_BOOT_KEY_INTERVAL="50ms")
    return mwin


def crash_files() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("mwin-crash-*"))


def password_nowhere(tmp_path: Path, texts: list[str]) -> None:
    for text in texts:
        assert PASSWORD not in text
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix != ".iso":  # the inputs are synthetic
            data = path.read_bytes()
            assert PASSWORD.encode() not in data, path
            assert PASSWORD.encode("utf-16-le") not in data, path


def test_windows_11_from_an_empty_mold(sim: MoldSim, tmp_path: Path,
                                       caplog: pytest.LogCaptureFixture,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    before = crash_files()
    mwin, mold = mwin_for(sim, tmp_path), MoldApi(sim.url)
    spec = spec_dir(tmp_path, W11)
    plan = mwin.plan_json(spec)
    assert ops(plan) == list(zip(
        ["iso.win11-auto", "network.prep-net", "vm.win11-master", "vm.win11-master",
         "vm.win11-master", "vm.win11-master", "template.win11-base", "iso.win11-auto"],
        STEPS, strict=True))
    iso = plan["actions"][0]
    assert iso["after"]["public"] is False and iso["after"]["extractable"] is False
    assert len(iso["after"]["build"]) == 64
    applied = ok(mwin("apply", str(spec), "--auto-approve"))
    assert "pressed a key at the UEFI installer's prompt through the console" in applied.err
    assert "installing: VM running" in applied.err
    assert "Apply complete! 8 action(s) done." in applied.out

    [vm] = mold.items("listVirtualMachines", "virtualmachine", name="win11-master")
    assert vm["state"] == "Stopped" and not vm.get("isoid")
    assert sim.guest(vm["id"])["disk"] == "installed"
    [template] = mold.items("listTemplates", "template", templatefilter="self")
    assert template["isready"] is True and template["name"] == "Windows 11 기본 이미지 템플릿"
    assert re.fullmatch(r"[0-9a-f]{64}", tags_of(template)["mwin:iso:win11-auto"])  # not unknown
    assert mold.items("listIsos", "iso", isofilter="self") == []  # the media were retired
    [snapshot] = mold.items("listVMSnapshot", "vmSnapshot", virtualmachineid=vm["id"])
    assert snapshot["displayname"] == "after-sysprep"
    again = ok(mwin("plan", str(spec)))
    assert "No changes." in again.out

    captured = capsys.readouterr()
    password_nowhere(tmp_path, [applied.out, applied.err, again.out, str(plan), caplog.text,
                                captured.out, captured.err])
    assert crash_files() == before
    mold.close()


def test_windows_server_2022_on_bios(sim: MoldSim, tmp_path: Path) -> None:
    mwin, mold = mwin_for(sim, tmp_path), MoldApi(sim.url)
    spec = spec_dir(tmp_path, W2022)
    plan = mwin.plan_json(spec)
    assert [op for _a, op in ops(plan)] == STEPS
    applied = ok(mwin("apply", str(spec), "--auto-approve"))
    assert "pressed a key" not in applied.err  # etfsboot asks only once the disk boots
    [vm] = mold.items("listVirtualMachines", "virtualmachine", name="win2022-master")
    assert vm["state"] == "Stopped"
    [template] = mold.items("listTemplates", "template", templatefilter="self")
    assert template["isready"] is True
    assert "No changes." in ok(mwin("plan", str(spec))).out
    password_nowhere(tmp_path, [applied.out, applied.err])
    mold.close()


def test_disk_first_boots_the_no_prompt_image_without_a_key(sim: MoldSim,
                                                            tmp_path: Path) -> None:
    mwin, mold = mwin_for(sim, tmp_path), MoldApi(sim.url)
    spec = spec_dir(tmp_path, W11, {"      windows: w11\n": "      windows: w11\n"
                                                            "      first_boot: disk_first\n"})
    applied = ok(mwin("apply", str(spec), "--auto-approve"))
    assert "pressed a key" not in applied.err
    [vm] = mold.items("listVirtualMachines", "virtualmachine", name="win11-master")
    assert vm["details"]["bootOrder"] == "hd"
    assert vm["state"] == "Stopped" and sim.guest(vm["id"])["disk"] == "installed"
    mold.close()


def test_a_guest_that_never_powers_off_fails_at_the_deadline(tmp_path: Path) -> None:
    with MoldSim(job_seconds=0.02, install_seconds=3600) as slow:
        mwin, mold = mwin_for(slow, tmp_path), MoldApi(slow.url)
        spec = spec_dir(tmp_path, W11)
        failed = mwin("apply", str(spec), "--auto-approve", "--install-timeout", "300ms")
        assert failed.code == 1
        text = " ".join(failed.err.split())
        [vm] = mold.items("listVirtualMachines", "virtualmachine", name="win11-master")
        assert (f"vm.win11-master (VM win11-master, {vm['id']}) did not power itself off "
                "within 0.3s: Windows Setup has not finished. Open its console: http") in text
        assert "raise --install-timeout" in text
        assert vm["state"] == "Running"  # never stopped by mwin
        assert mold.items("listTemplates", "template", templatefilter="self") == []
        [iso] = mold.items("listIsos", "iso", isofilter="self")  # kept until the template
        resumed = mwin.plan_json(spec)
        assert [op for a, op in ops(resumed) if a == "vm.win11-master"][0] == "await_install"
        assert resumed["drift"] == []  # Setup still runs: nothing was changed outside mwin
        assert iso["isready"] is True
        mold.close()


def test_other_inputs_replace_kept_media_and_not_the_installed_vm(sim: MoldSim,
                                                                  tmp_path: Path) -> None:
    mwin, mold = mwin_for(sim, tmp_path), MoldApi(sim.url)
    spec = spec_dir(tmp_path, W11, {"        generalize: true\n":
                                    "        generalize: true\n      keep: true\n"})
    ok(mwin("apply", str(spec), "--auto-approve"))
    [old] = mold.items("listIsos", "iso", isofilter="self")
    # provenance: the kept media's sha256, of the bytes moldsim received
    [template] = mold.items("listTemplates", "template", templatefilter="self")
    assert tags_of(template)["mwin:iso:win11-auto"] == sim.upload_info(old["id"])["sha256"]
    yaml_file = next(spec.glob("*.yaml"))
    yaml_file.write_text(yaml_file.read_text(encoding="utf-8").replace(
        "timezone: Korea Standard Time", "timezone: UTC"), encoding="utf-8")
    plan = mwin.plan_json(spec)
    assert ops(plan) == [("iso.win11-auto", "replace"), ("iso.win11-auto", "delete")]
    ok(mwin("apply", str(spec), "--auto-approve"))
    [new] = mold.items("listIsos", "iso", isofilter="self")
    assert new["id"] != old["id"]
    [vm] = mold.items("listVirtualMachines", "virtualmachine", name="win11-master")
    assert vm["state"] == "Stopped"
    assert "No changes." in ok(mwin("plan", str(spec))).out
    # --replace rebuilds them, and the media replaced (with their password) are deleted too
    forced = mwin.plan_json(spec, "--replace", "iso.win11-auto")
    assert ops(forced) == [("iso.win11-auto", "replace"), ("iso.win11-auto", "delete")]
    ok(mwin("apply", str(spec), "--auto-approve", "--replace", "iso.win11-auto"))
    [rebuilt] = mold.items("listIsos", "iso", isofilter="self")
    assert rebuilt["id"] != new["id"]
    assert "No changes." in ok(mwin("plan", str(spec))).out
    mold.close()


def test_a_plan_downloads_and_builds_nothing(sim: MoldSim, tmp_path: Path) -> None:
    """URLs with their sha256: a pull request's plan needs neither the ISOs nor the secret."""
    mwin = mwin_for(sim, tmp_path)
    del mwin.env["MWIN_ADMIN_PASSWORD"]
    spec = spec_dir(tmp_path, W11, {
        "      from: ./Win11_24H2_Korean_x64.iso\n":
            "      from: https://downloads.invalid/Win11_24H2_Korean_x64.iso\n"
            f"      sha256: \"{'a' * 64}\"\n",
        "      drivers: ./virtio-win.iso\n":
            "      drivers: https://downloads.invalid/virtio-win.iso\n"
            f"      drivers_sha256: \"{'b' * 64}\"\n"})
    for iso in spec.glob("*.iso"):
        iso.unlink()
    plan = mwin.plan_json(spec)
    assert [op for _a, op in ops(plan)] == STEPS
    assert plan["actions"][0]["after"]["built_from"].startswith(
        "Win11_24H2_Korean_x64.iso (sha256 aaaaaaaaaaaa…) image 'Windows 11 Pro'")
    assert not (tmp_path / "cache" / "downloads").exists()


def test_media_build_and_show_without_mold(tmp_path: Path) -> None:
    mwin = mwin_for_url("http://127.0.0.1:9/client/api", tmp_path)  # never reached
    spec = spec_dir(tmp_path, W11)
    out = tmp_path / "out" / "win11-auto.iso"
    built = ok(mwin("media", "build", str(spec), "iso.win11-auto", "--out", str(out)))
    assert f"Built {out}: media " in built.out and "drivers for w11" in built.out
    shown = ok(mwin("media", "show", str(out)))
    assert "BIOS  boot/etfsboot.com  load segment 0x07c0, 8 sector(s)" in shown.out
    assert "UEFI  efi/microsoft/boot/efisys.bin" in shown.out
    assert "$WinPEDriver$/vioscsi/w11/amd64/vioscsi.inf" in shown.out
    assert shown.out.count("<Value>********</Value>") == 2
    password_nowhere(tmp_path, [built.out, built.err, shown.out])
    wrong = mwin("media", "build", str(spec), "vm.win11-master", "--out", str(out))
    assert wrong.code == 1 and "vm.win11-master is not an ISO of the spec; ISOs with " \
        "`build:`: iso.win11-auto" in wrong.err


def mwin_for_url(url: str, tmp_path: Path) -> Mwin:
    mwin = Mwin(url, tmp_path)
    mwin.env.update(MWIN_ADMIN_PASSWORD=PASSWORD, MWIN_CACHE_DIR=str(tmp_path / "cache"))
    return mwin


def test_drivers_from_an_iso_of_the_spec_with_a_url(tmp_path: Path) -> None:
    """`build.drivers` may name an ISO of this spec that Mold downloads from a URL: mwin
    downloads the same bytes, checked against that ISO's sha256 checksum (here already in
    mwin's download cache, so no network is needed)."""
    mwin = mwin_for_url("http://127.0.0.1:9/client/api", tmp_path)  # never reached
    spec = spec_dir(tmp_path, W11)
    driver_iso = spec / "virtio-win.iso"
    sha = hashlib.sha256(driver_iso.read_bytes()).hexdigest()
    cached = tmp_path / "cache" / "downloads" / f"{sha}.iso"
    cached.parent.mkdir(parents=True)
    driver_iso.rename(cached)
    yaml_file = next(spec.glob("*.yaml"))
    text = yaml_file.read_text(encoding="utf-8").replace(
        "      drivers: ./virtio-win.iso\n", "      drivers: virtio-win\n").replace(
        "isos:\n", "isos:\n  virtio-win: {url: \"https://downloads.invalid/virtio-win.iso\", "
                   f"bootable: false, checksum: \"{{SHA-256}}{sha}\"}}\n", 1)
    yaml_file.write_text(text, encoding="utf-8")
    out = tmp_path / "out.iso"
    built = ok(mwin("media", "build", str(spec), "iso.win11-auto", "--out", str(out)))
    assert "drivers for w11" in built.out
    assert "$WinPEDriver$/viostor/w11/amd64/viostor.inf" in ok(mwin("media", "show", str(out))).out

    yaml_file.write_text(text.replace(f", checksum: \"{{SHA-256}}{sha}\"", ""), encoding="utf-8")
    unchecked = mwin("validate", str(spec))
    assert unchecked.code == 1
    assert ("`build.drivers` names iso.virtio-win, whose bytes mwin downloads from its `url:`: "
            "declare `build.drivers_sha256`") in unchecked.err

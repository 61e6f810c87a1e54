"""moldsim's guest model: a VM that starts from uploaded Windows Setup media plays what the
firmware and Windows Setup would do with it (docs/moldsim.md, "Guest model").

Media are built in the test by tests/moldsim/winiso.py (UDF + Joliet + ISO 9660 + El Torito,
no ISO library) or by Debian's xorriso, uploaded through getUploadParamsForIso and deployed;
every outcome is read over HTTP (GET /moldsim/guests/<vm id>, listVirtualMachines). The key
press goes through createConsoleEndpoint (asked with the PyPI client `cs`) and the console
proxy's websocket, with a tiny RFB client written here.
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cs import CloudStack
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from moldsim import isofs
from moldsim.server import MoldSim
from tests.moldsim import winiso

from simclient import API_KEY, SECRET_KEY, Workflow

PASSWORD = "S3cret-Pa55!"
WIN11 = [{"name": "Windows 11 Pro", "build": "22631"}]
SERVER = [{"name": "Windows Server 2022 SERVERSTANDARD", "type": "Server", "build": "20348"}]


# ---------------------------------------------------------------- helpers

def make_sim(**params: Any) -> MoldSim:
    base: dict[str, Any] = {"job_seconds": 0.0, "download_seconds": 0.0, "install_seconds": 0.2,
                            "boot_prompt_seconds": 0.2}
    base.update(params)
    return MoldSim(**base)


@pytest.fixture
def sim() -> Iterator[MoldSim]:
    with make_sim() as s:
        yield s


@pytest.fixture
def wf(sim: MoldSim) -> Iterator[Workflow]:
    with Workflow(sim.url) as client:
        yield client


def upload(wf: Workflow, path: Path, name: str = "win-media", os_type: str = "Windows 11 (64-bit)",
           bootable: bool = True) -> str:
    """getUploadParamsForIso, the multipart POST of the file, and its readiness."""
    ticket = wf.ok("getUploadParamsForIso", name=name, displaytext=name, format="ISO", zoneid=wf.zone_id(),
                   ostypeid=wf.os_type_id(os_type), bootable=bootable)["getuploadparams"]
    headers = {"X-signature": ticket["signature"], "X-metadata": ticket["metadata"], "X-expires": ticket["expires"]}
    with path.open("rb") as fh, httpx.Client(timeout=30) as http:
        resp = http.post(ticket["postURL"], headers=headers, files={"files[]": (path.name, fh, "application/octet-stream")})
    assert (resp.status_code, resp.text) == (200, "upload successful.")
    deadline = time.monotonic() + 5
    while not wf.first("listIsos", "iso", isofilter="self", id=ticket["id"])["isready"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return str(ticket["id"])


def media(tmp_path: Path, name: str = "media.iso", **files: Any) -> Path:
    """A Windows 11-like medium (the answer file for UEFI unless told)."""
    answer = files.pop("answer", winiso.answer_file())
    wim = files.pop("wim", WIN11)
    options = {k: files.pop(k) for k in ("efi", "bios", "joliet", "udf") if k in files}
    content = winiso.windows_media(answer, install=winiso.wim(wim) if wim else b"placeholder", **files)
    return winiso.build_iso(tmp_path / name, content, **options)


def deploy(wf: Workflow, iso_id: str, **params: Any) -> str:
    net = wf.first("listNetworks", "network", name="prep-net") if wf.ok("listNetworks", name="prep-net") \
        else wf.network("prep-net")
    answer, job = wf.deploy(iso_id, net["id"], **params)
    assert job["jobstatus"] == 1, job
    return str(answer["id"])


def guest(sim: MoldSim, vm_id: str) -> dict[str, Any]:
    resp = httpx.get(f"{sim.base_url}/moldsim/guests/{vm_id}", timeout=10)
    assert resp.status_code == 200, resp.text
    doc: dict[str, Any] = resp.json()
    return doc


def wait_state(sim: MoldSim, vm_id: str, *states: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        g = guest(sim, vm_id)
        if g["state"] in states:
            return g
        assert time.monotonic() < deadline, f"guest stays {g['state']}: {g['reason']}"
        time.sleep(0.02)


def wait_vm(wf: Workflow, vm_id: str, state: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while wf.vm(vm_id)["state"] != state:
        assert time.monotonic() < deadline, wf.vm(vm_id)["state"]
        time.sleep(0.02)


def states(g: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["state"], e["phase"]) for e in g["events"]]


INSTALLED = [("installing", "copying"), ("installing", "specializing"), ("installing", "oobe"),
             ("powered_off", None)]


# ---------------------------------------------------------------- the reader

@pytest.mark.parametrize("extended, embed_dirs", [(False, False), (True, False), (False, True), (True, True)])
def test_isofs_reads_the_udf_joliet_and_iso9660_trees_and_the_boot_catalog(
        tmp_path: Path, extended: bool, embed_dirs: bool) -> None:
    path = winiso.build_iso(tmp_path / "w.iso", winiso.windows_media(winiso.answer_file()),
                            extended=extended, embed_dirs=embed_dirs)
    found = isofs.open_media(path)
    assert (found.volume_id, sorted(found.trees), found.problems) == \
        ("CCCOMA_X64FRE_EN-US_DV9", ["iso9660", "joliet", "udf"], [])
    assert found.tree.filesystem == "udf"
    udf, joliet, iso = (found.trees[k] for k in ("udf", "joliet", "iso9660"))
    inf = udf.get("$winpedriver$/VIOSCSI/w11/AMD64/vioscsi.inf")
    assert inf is not None and inf.path == "$WinPEDriver$/vioscsi/w11/amd64/vioscsi.inf" and inf.size == 13
    assert joliet.get("$WinPEDriver$/vioscsi/w11/amd64/vioscsi.inf") is not None
    assert iso.get("$WINPEDRIVER$/VIOSCSI/W11/AMD64/VIOSCSI.INF") is not None
    assert isofs.read_node(path, udf.get("autounattend.xml"), 10_000) == winiso.answer_file()  # type: ignore[arg-type]
    assert {n.path for n in udf.nodes.values()} == {n.path for n in joliet.nodes.values()}
    assert [(b.platform_name, b.bootable, found.boot_image(b).path) for b in found.boot] == [  # type: ignore[union-attr]
        ("bios", True, "boot/etfsboot.com"), ("efi", True, "efi/microsoft/boot/efisys.bin")]


def test_isofs_carries_a_file_over_4_gib_in_several_extents(tmp_path: Path) -> None:
    big = 5 * 1024 ** 3 + 12345
    path = winiso.build_iso(tmp_path / "big.iso", winiso.windows_media(None, install=big))
    assert path.stat().st_blocks * 512 < 10 * 1024 ** 2  # sparse: the data is never written
    found = isofs.open_media(path)
    for tree in found.trees.values():
        wim = tree.get("sources/install.wim")
        assert wim is not None and wim.size == big
        assert len(wim.extents) == (6 if tree.filesystem == "udf" else 2)
        assert sum(e.length for e in wim.extents) == big


def test_isofs_reads_what_xorriso_writes(tmp_path: Path) -> None:
    xorriso = shutil.which("xorriso")
    if xorriso is None:
        pytest.skip("Debian's xorriso is not installed (apt install xorriso)")
    root = tmp_path / "tree"
    for rel, content in winiso.windows_media(winiso.answer_file()).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content if isinstance(content, bytes) else b"")
    out = tmp_path / "x.iso"
    subprocess.run([xorriso, "-as", "mkisofs", "-quiet", "-J", "-joliet-long", "-V", "XORRISO_WIN",
                    "-b", "boot/etfsboot.com", "-no-emul-boot", "-boot-load-size", "4",
                    "-eltorito-alt-boot", "-e", "efi/microsoft/boot/efisys_noprompt.bin", "-no-emul-boot",
                    "-o", str(out), str(root)], check=True, capture_output=True)
    found = isofs.open_media(out)
    assert (found.volume_id, sorted(found.trees), found.tree.filesystem) == \
        ("XORRISO_WIN", ["iso9660", "joliet"], "joliet")
    assert found.tree.get("$WinPEDriver$/viostor/w11/amd64/viostor.sys") is not None
    assert found.tree.get("sources/install.wim") is not None
    assert [(b.platform_name, found.boot_image(b).path) for b in found.boot] == [  # type: ignore[union-attr]
        ("bios", "boot/etfsboot.com"), ("efi", "efi/microsoft/boot/efisys_noprompt.bin")]


def test_7zip_reads_the_udf_side_of_the_test_media(tmp_path: Path) -> None:
    """An outside judge of the writer (and so of what the reader is tested with): 7-Zip lists
    the same UDF tree, sizes included, a file over 4 GiB among them."""
    seven = shutil.which("7zz") or shutil.which("7z")
    if seven is None:
        pytest.skip("7-Zip is not installed (apt install 7zip)")
    path = winiso.build_iso(tmp_path / "w.iso", winiso.windows_media(winiso.answer_file(), install=6 * 1024 ** 3))
    out = subprocess.run([seven, "l", "-tUdf", "-slt", str(path)], check=True, capture_output=True, text=True).stdout
    assert "Error" not in out
    listed: dict[str, int] = {}
    for block in out.split("\n\n"):
        fields = dict(line.split(" = ", 1) for line in block.splitlines() if " = " in line)
        if "Path" in fields and fields.get("Folder") == "-":
            listed[fields["Path"]] = int(fields["Size"])
    udf = isofs.open_media(path).trees["udf"]
    assert listed == {n.path: n.size for n in udf.nodes.values() if not n.is_dir}
    assert listed["sources/install.wim"] == 6 * 1024 ** 3


def test_isofs_refuses_what_is_no_iso(tmp_path: Path) -> None:
    junk = tmp_path / "junk.iso"
    junk.write_bytes(b"not an image" * 5000)
    with pytest.raises(isofs.IsoError, match="no primary volume descriptor"):
        isofs.open_media(junk)


# ---------------------------------------------------------------- outcomes

def test_media_that_is_not_windows_setup_is_left_alone(sim: MoldSim, wf: Workflow, tmp_path: Path) -> None:
    linux = winiso.build_iso(tmp_path / "linux.iso", {"boot/etfsboot.com": b"x" * 2048,
                                                      "efi/microsoft/boot/efisys.bin": b"y" * 2048,
                                                      "casper/vmlinuz": b"kernel"})
    vm_id = deploy(wf, upload(wf, linux, os_type="Ubuntu 22.04 LTS"), boottype="BIOS", bootmode="LEGACY")
    resp = httpx.get(f"{sim.base_url}/moldsim/guests/{vm_id}", timeout=10)
    assert resp.status_code == 404 and "never started from Windows Setup media" in resp.json()["error"]
    time.sleep(0.3)  # longer than a whole install
    assert wf.vm(vm_id)["state"] == "Running"


def test_without_an_answer_file_setup_waits_for_ever(sim: MoldSim, wf: Workflow, tmp_path: Path) -> None:
    vm_id = deploy(wf, upload(wf, media(tmp_path, answer=None, efi="efi/microsoft/boot/efisys_noprompt.bin")))
    g = wait_state(sim, vm_id, "waiting_at_setup")
    assert "no autounattend.xml" in g["reason"] and g["media"]["answer_file"] is False
    time.sleep(0.3)
    assert (guest(sim, vm_id)["state"], wf.vm(vm_id)["state"]) == ("waiting_at_setup", "Running")


@pytest.mark.parametrize("profile, order", [("mold-4.21", ["hd", "cdrom"]), ("cloudstack-4.17", ["cdrom", "hd"])])
def test_uefi_prompting_image_without_a_key_never_starts_setup(tmp_path: Path, profile: str, order: list[str]) -> None:
    # a prompt long enough that the first look surely finds it, even on a loaded machine
    with make_sim(profile=profile, boot_prompt_seconds=1.0) as sim, \
            Workflow(sim.url, algo=sim.config.signature) as wf:
        params = {} if profile.startswith("mold") else {"tpmversion": None}
        vm_id = deploy(wf, upload(wf, media(tmp_path, wim=SERVER), os_type="Windows Server 2022 (64-bit)"), **params)
        first = guest(sim, vm_id)
        assert (first["state"], first["boot_order"], first["firmware"]) == ("prompt", order, "UEFI")
        assert first["prompt_until"] is not None
        g = wait_state(sim, vm_id, "no_bootable_device")
        assert "prompt got no key" in g["reason"] and g["keys"] == 0
        assert g["media"]["boot_entries"][1] == {"platform": "efi", "image": "efi/microsoft/boot/efisys.bin",
                                                 "prompts": True}
        assert wf.vm(vm_id)["state"] == "Running"


def test_no_prompt_image_with_the_cd_first_starts_setup_over_at_every_reboot(
        sim: MoldSim, wf: Workflow, tmp_path: Path) -> None:
    iso = upload(wf, media(tmp_path, efi="efi/microsoft/boot/efisys_noprompt.bin"))
    vm_id = deploy(wf, iso, **{"details[0].bootOrder": "cdrom"})
    g = wait_state(sim, vm_id, "setup_loop")
    assert g["boot_order"] == ["cdrom", "hd"] and g["phase"] == "copying" and g["restarts"] >= 1
    assert "never gets past copying files" in g["reason"]
    time.sleep(0.25)
    later = guest(sim, vm_id)
    assert later["state"] == "setup_loop" and later["restarts"] > g["restarts"]
    assert wf.vm(vm_id)["state"] == "Running"


def test_no_prompt_image_with_the_disk_first_installs_and_the_guest_powers_off(
        sim: MoldSim, wf: Workflow, tmp_path: Path) -> None:
    vm_id = deploy(wf, upload(wf, media(tmp_path, efi="efi/microsoft/boot/efisys_noprompt.bin")))
    g = wait_state(sim, vm_id, "powered_off")
    assert states(g) == INSTALLED and g["boot_order"] == ["hd", "cdrom"] and g["disk"] == "installed"
    assert (g["disk_bus"], g["media"]["windows"], g["media"]["windows_from"]) == ("scsi", "11", "wim")
    assert g["media"]["drivers"] == ["netkvm", "vioscsi", "viostor"] and g["media"]["filesystem"] == "udf"
    assert wf.vm(vm_id)["state"] == "Stopped"
    assert wf.run_job("stopVirtualMachine", id=vm_id)["jobstatus"] == 1  # already off: at once


def test_mold_notices_the_power_off_after_the_detect_delay(tmp_path: Path) -> None:
    with make_sim(guest_poweroff_detect_seconds=0.4) as sim, Workflow(sim.url) as wf:
        vm_id = deploy(wf, upload(wf, media(tmp_path, efi="efi/microsoft/boot/efisys_noprompt.bin")))
        wait_state(sim, vm_id, "powered_off")
        assert wf.vm(vm_id)["state"] == "Running"
        wait_vm(wf, vm_id, "Stopped")


@pytest.mark.parametrize("drivers, controller, bus, outcome", [
    (("viostor",), None, "scsi", "no_disk"),
    (("vioscsi",), "virtio", "virtio", "no_disk"),
    (("viostor",), "virtio", "virtio", "powered_off"),
    ((), "sata", "sata", "powered_off"),
])
def test_setup_needs_a_storage_driver_for_the_root_disk_bus(
        sim: MoldSim, wf: Workflow, tmp_path: Path, drivers: tuple[str, ...], controller: str | None,
        bus: str, outcome: str) -> None:
    iso = upload(wf, media(tmp_path, drivers=drivers, efi="efi/microsoft/boot/efisys_noprompt.bin"))
    extra = {"details[0].rootDiskController": controller} if controller else {}
    vm_id = deploy(wf, iso, **extra)
    g = wait_state(sim, vm_id, outcome)
    assert g["disk_bus"] == bus
    if outcome == "no_disk":
        needed = "vioscsi" if bus == "scsi" else "viostor"
        assert f"on the {bus} bus and no attached medium has a {needed} driver" in g["reason"]
        assert wf.vm(vm_id)["state"] == "Running"


def test_a_driver_package_needs_its_sys_and_cat_and_the_right_architecture(
        sim: MoldSim, wf: Workflow, tmp_path: Path) -> None:
    extra = {"$WinPEDriver$/vioscsi/w11/x86/vioscsi." + ext: b"x" for ext in ("inf", "sys", "cat")}
    extra["$WinPEDriver$/viostor/w11/amd64/viostor.inf"] = b"inf only"
    vm_id = deploy(wf, upload(wf, media(tmp_path, drivers=(), extra=extra,
                                        efi="efi/microsoft/boot/efisys_noprompt.bin")))
    g = wait_state(sim, vm_id, "no_disk")
    assert g["media"]["drivers"] == []


def test_drivers_from_the_second_drive_through_driver_paths(tmp_path: Path) -> None:
    """Mold 4.23: the install ISO with the VirtIO ISO in the second drive (additionalisoids)
    boots the CD first; the detail bootOrder=hd turns the disk first."""
    with make_sim(profile="mold-4.23") as sim, Workflow(sim.url) as wf:
        answer = winiso.answer_file(driver_paths=("E:\\vioscsi\\w11\\amd64",))
        iso = upload(wf, media(tmp_path, answer=answer, drivers=(), efi="efi/microsoft/boot/efisys_noprompt.bin"))
        virtio = winiso.build_iso(tmp_path / "virtio.iso", {**winiso.driver("vioscsi", "vioscsi/w11/amd64"),
                                                            **winiso.driver("viostor", "viostor/w11/amd64")},
                                  bios=None, efi=None)
        extra = upload(wf, virtio, name="virtio-win", bootable=False)
        looping = deploy(wf, iso, additionalisoids=extra, name="cd-first")
        assert wait_state(sim, looping, "setup_loop")["boot_order"] == ["cdrom", "hd"]
        vm_id = deploy(wf, iso, additionalisoids=extra, name="disk-first", **{"details[0].bootOrder": "hd"})
        g = wait_state(sim, vm_id, "powered_off")
        assert g["boot_order"] == ["hd", "cdrom"] and g["media"]["drivers"] == ["vioscsi"]  # only DriverPaths


@pytest.mark.parametrize("params, unmet", [
    ({"boottype": "BIOS", "bootmode": "LEGACY", "tpmversion": None}, ["BIOS firmware (UEFI needed)", "no TPM 2.0 (tpmversion NONE)"]),
    ({"bootmode": "LEGACY"}, ["Secure Boot off (boot mode LEGACY)"]),
    ({"tpmversion": None}, ["no TPM 2.0 (tpmversion NONE)"]),
    ({"diskofferingid": "50GB"}, ["a 50 GiB disk (64 GiB needed)"]),
])
def test_windows_11_setup_refuses_without_uefi_secure_boot_tpm_and_room(
        sim: MoldSim, wf: Workflow, tmp_path: Path, params: dict[str, Any], unmet: list[str]) -> None:
    if params.get("diskofferingid"):
        params["diskofferingid"] = wf.offering("listDiskOfferings", "diskoffering", params["diskofferingid"])
    firmware = "BIOS" if params.get("boottype") == "BIOS" else "UEFI"
    iso = upload(wf, media(tmp_path, answer=winiso.answer_file(firmware),
                           efi="efi/microsoft/boot/efisys_noprompt.bin"))
    vm_id = deploy(wf, iso, **params)
    g = wait_state(sim, vm_id, "refused")
    assert g["reason"] == "This PC doesn't currently meet Windows 11 system requirements: " + "; ".join(unmet)


def test_the_model_knows_windows_11_from_the_answer_file_or_the_os_type(
        sim: MoldSim, wf: Workflow, tmp_path: Path) -> None:
    by_answer = upload(wf, media(tmp_path, name="a.iso", wim=None, efi="efi/microsoft/boot/efisys_noprompt.bin"),
                       name="by-answer", os_type="Windows PV")
    vm_id = deploy(wf, by_answer, name="by-answer", bootmode="LEGACY")
    g = wait_state(sim, vm_id, "refused")
    assert (g["media"]["windows"], g["media"]["windows_from"]) == ("11", "answer_file")
    unnamed = winiso.answer_file(image="Pro")
    by_os = upload(wf, media(tmp_path, name="o.iso", wim=None, answer=unnamed,
                             efi="efi/microsoft/boot/efisys_noprompt.bin"), name="by-os")
    vm_id = deploy(wf, by_os, name="by-os", tpmversion=None)
    g = wait_state(sim, vm_id, "refused")
    assert (g["media"]["windows"], g["media"]["windows_from"]) == ("11", "os_type")


def test_bios_server_installs_with_an_mbr_layout_and_not_with_an_efi_one(
        sim: MoldSim, wf: Workflow, tmp_path: Path) -> None:
    bios = {"boottype": "BIOS", "bootmode": "LEGACY", "tpmversion": None}
    good = upload(wf, media(tmp_path, name="mbr.iso", wim=SERVER, answer=winiso.answer_file(
        "BIOS", image=SERVER[0]["name"])), name="mbr", os_type="Windows Server 2022 (64-bit)")
    vm_id = deploy(wf, good, name="mbr", **bios)
    g = wait_state(sim, vm_id, "powered_off")
    assert (states(g), g["firmware"], g["media"]["windows"]) == (INSTALLED, "BIOS", "server")
    wrong = upload(wf, media(tmp_path, name="gpt.iso", wim=SERVER, answer=winiso.answer_file(
        "UEFI", image=SERVER[0]["name"])), name="gpt", os_type="Windows Server 2022 (64-bit)")
    vm_id = deploy(wf, wrong, name="gpt", **bios)
    g = wait_state(sim, vm_id, "answer_file_error")
    assert "creates EFI/MSR partitions" in g["reason"]


@pytest.mark.parametrize("answer, state, text", [
    (b"<unattend>not closed", "answer_file_error", "not well-formed XML (line 1, column 20)"),
    (b"<unattend/>", "answer_file_error", "not unattend in the namespace urn:schemas-microsoft-com:unattend"),
    (winiso.answer_file(image="Windows 11 Home"), "answer_file_error",
     "/IMAGE/NAME 'Windows 11 Home' names no image of install.wim (images: 1: Windows 11 Pro)"),
    (winiso.answer_file(eula=False), "waiting_at_setup", "does not accept the EULA"),
    (winiso.answer_file("BIOS"), "answer_file_error", "creates no partition of Type EFI"),
    (winiso.answer_file(accounts=False), "installed_waiting", "OOBE waits for an account"),
    (winiso.answer_file(autologon=False), "installed_waiting", "the logon screen waits"),
    (winiso.answer_file(shutdown=False), "installed_running", "never powers off"),
])
def test_what_the_answer_file_lacks_stops_setup_where_windows_would(
        sim: MoldSim, wf: Workflow, tmp_path: Path, answer: bytes, state: str, text: str) -> None:
    vm_id = deploy(wf, upload(wf, media(tmp_path, answer=answer, efi="efi/microsoft/boot/efisys_noprompt.bin")))
    g = wait_state(sim, vm_id, state)
    assert text in g["reason"]
    assert wf.vm(vm_id)["state"] == "Running"


def test_ejecting_the_iso_while_setup_copies_files_fails_it(tmp_path: Path) -> None:
    with make_sim(install_seconds=5.0) as sim, Workflow(sim.url) as wf:
        vm_id = deploy(wf, upload(wf, media(tmp_path, efi="efi/microsoft/boot/efisys_noprompt.bin")))
        assert guest(sim, vm_id)["phase"] == "copying"
        assert wf.run_job("detachIso", virtualmachineid=vm_id)["jobstatus"] == 1
        g = guest(sim, vm_id)
        assert g["state"] == "setup_error" and "media was removed" in g["reason"]


def test_stopping_the_vm_ends_the_guest_and_a_new_start_boots_the_disk(tmp_path: Path) -> None:
    with make_sim(install_seconds=0.6) as sim, Workflow(sim.url) as wf:
        vm_id = deploy(wf, upload(wf, media(tmp_path, efi="efi/microsoft/boot/efisys_noprompt.bin")))
        g = wait_state(sim, vm_id, "installing")
        while g["phase"] == "copying":
            g = guest(sim, vm_id)
        assert wf.run_job("stopVirtualMachine", id=vm_id)["jobstatus"] == 1
        stopped = guest(sim, vm_id)
        assert stopped["state"] == "stopped" and stopped["reason"].startswith("stopVirtualMachine ended the guest")
        assert stopped["disk"] == "setup" and stopped["phase"] in ("specializing", "oobe")
        assert wf.run_job("startVirtualMachine", id=vm_id)["jobstatus"] == 1
        g = wait_state(sim, vm_id, "powered_off")
        resumed = g["events"][len(stopped["events"])]
        assert resumed["reason"] == f"the disk boots; Setup goes on ({stopped['phase']})"


def test_the_guest_goes_on_after_a_restart_of_moldsim(tmp_path: Path) -> None:
    with make_sim(data_dir=tmp_path / "data", install_seconds=1.0) as sim, Workflow(sim.url) as wf:
        vm_id = deploy(wf, upload(wf, media(tmp_path, efi="efi/microsoft/boot/efisys_noprompt.bin")))
        assert guest(sim, vm_id)["phase"] == "copying"
    with make_sim(data_dir=tmp_path / "data") as again, Workflow(again.url) as wf:
        g = wait_state(again, vm_id, "powered_off")
        assert states(g) == INSTALLED
        wait_vm(wf, vm_id, "Stopped")


# ---------------------------------------------------------------- console and key press

def rfb_key(ws_url: str, keysym: int = 0xFF0D) -> tuple[bytes, bytes, str]:
    """Connect, go through the console proxy's RFB handshake, press (and release) a key.
    Returns (server version, security types, the ServerInit name)."""
    with connect(ws_url, subprotocols=["binary"], open_timeout=5) as ws:  # type: ignore[list-item]
        buf = bytearray()

        def take(n: int) -> bytes:
            while len(buf) < n:
                msg = ws.recv(timeout=5)
                buf.extend(msg if isinstance(msg, bytes) else msg.encode())
            out = bytes(buf[:n])
            del buf[:n]
            return out

        version = take(12)
        ws.send(b"RFB 003.008\n")
        types = take(2)
        ws.send(bytes([types[1]]))
        assert take(4) == b"\x00\x00\x00\x00"
        ws.send(b"\x01")
        head = take(24)
        name = take(struct.unpack(">I", head[20:24])[0]).decode()
        ws.send(struct.pack(">BxHI", 2, 1, 0))  # SetEncodings: raw
        ws.send(struct.pack(">BBHHHH", 3, 0, 0, 0, 1024, 768))  # FramebufferUpdateRequest
        ws.send(struct.pack(">BBxxI", 4, 1, keysym) + struct.pack(">BBxxI", 4, 0, keysym))
        time.sleep(0.05)  # let the proxy read the key before the socket closes
        return version, types, name


def ws_url(endpoint: dict[str, Any], **query: str) -> str:
    socket = endpoint["websocket"]
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return f"ws://{socket['host']}:{socket['port']}/{socket['path']}?token={socket['token']}{extra}"


def test_a_key_on_the_console_boots_the_prompting_image(tmp_path: Path) -> None:
    """createConsoleEndpoint asked with the outside client `cs`; the key goes over RFB."""
    with make_sim(signature="sha1", boot_prompt_seconds=3.0) as sim, Workflow(sim.url, algo="sha1") as wf:
        vm_id = deploy(wf, upload(wf, media(tmp_path)))  # efisys.bin, disk first (mold-4.21)
        assert guest(sim, vm_id)["state"] == "prompt"
        cs = CloudStack(endpoint=sim.url, key=API_KEY, secret=SECRET_KEY)
        endpoint = cs.createConsoleEndpoint(virtualmachineid=vm_id)["consoleendpoint"]
        port = sim.config.console_bound_port
        socket = endpoint["websocket"]
        assert endpoint["result"] is True and endpoint["url"] == (
            f"http://127.0.0.1:{port}/resource/noVNC/vnc.html?autoconnect=true&port={port}"
            f"&token={socket['token']}&guest=windows")
        assert (socket["host"], socket["port"], socket["path"]) == ("127.0.0.1", str(port), "websockify")
        version, types, name = rfb_key(ws_url(endpoint))
        assert (version, types, name) == (b"RFB 003.008\n", b"\x01\x02", "win-master ")
        g = wait_state(sim, vm_id, "installing", "powered_off")
        assert g["keys"] == 1 and "a key at the prompt booted the CD" in g["events"][1]["reason"]
        g = wait_state(sim, vm_id, "powered_off")
        assert states(g) == [("prompt", None), *INSTALLED]  # the disk first: reboots boot the disk
        page = httpx.get(endpoint["url"], timeout=5)
        assert page.status_code == 200 and "websockify" in page.text


def test_console_refusals(sim: MoldSim, wf: Workflow, tmp_path: Path, users: Any) -> None:
    vm_id = deploy(wf, upload(wf, media(tmp_path, answer=None, efi="efi/microsoft/boot/efisys_noprompt.bin")))
    endpoint = wf.ok("createConsoleEndpoint", virtualmachineid=vm_id, token="extra-1")["consoleendpoint"]
    assert endpoint["websocket"]["extra"] == "extra-1" and "&extra=extra-1&guest=windows" in endpoint["url"]
    with pytest.raises(ConnectionClosed) as wrong:
        rfb_key(ws_url(endpoint, extra="other"))
    assert wrong.value.rcvd is not None and wrong.value.rcvd.code == 1008
    rfb_key(ws_url(endpoint, extra="extra-1"))
    with pytest.raises(ConnectionClosed) as used:
        rfb_key(ws_url(endpoint, extra="extra-1"))
    assert used.value.rcvd is not None and "has already been used" in used.value.rcvd.reason
    alice, _ = users(wf, "alice")
    assert alice.ok("createConsoleEndpoint", virtualmachineid=vm_id)["consoleendpoint"] == \
        {"result": False, "details": "Permission denied", "websocket": {}}
    assert wf.run_job("stopVirtualMachine", id=vm_id)["jobstatus"] == 1
    assert wf.ok("createConsoleEndpoint", virtualmachineid=vm_id)["consoleendpoint"] == {
        "result": False, "websocket": {},
        "details": f"Server Internal Error: VM {vm_id} must be running to connect console, sending blank "
                   "response for console access request"}
    assert guest(sim, vm_id)["state"] == "waiting_at_setup"  # keys outside a prompt change nothing


def test_console_ticket_expires_after_its_minute_and_the_next(tmp_path: Path) -> None:
    with make_sim() as sim, Workflow(sim.url) as wf:
        sim.config.console_ticket_seconds = 0.05
        vm_id = deploy(wf, upload(wf, media(tmp_path, answer=None)))
        endpoint = wf.ok("createConsoleEndpoint", virtualmachineid=vm_id)["consoleendpoint"]
        time.sleep(0.12)
        with pytest.raises(ConnectionClosed) as late:
            rfb_key(ws_url(endpoint))
        assert late.value.rcvd is not None and "expired" in late.value.rcvd.reason


def test_without_a_console_proxy_the_endpoint_says_so(sim: MoldSim, wf: Workflow, tmp_path: Path) -> None:
    vm_id = deploy(wf, upload(wf, media(tmp_path, answer=None)))
    sim.config.console_bound_port = None  # what an Api served without MoldSim.start() sees
    assert wf.ok("createConsoleEndpoint", virtualmachineid=vm_id)["consoleendpoint"] == {
        "result": False, "websocket": {}, "details": "Server Internal Error: Console access will be ready in "
                                                     "a few minutes. Please try it again later."}


def test_with_the_cd_first_every_reboot_prompts_and_no_key_boots_the_disk(
        sim: MoldSim, wf: Workflow, tmp_path: Path) -> None:
    """The prompting image is the guard for a CD-first boot order: one key at first boot (here
    through the control endpoint, the same as an RFB KeyEvent)."""
    sim.config.boot_prompt_seconds = 1.0  # the key surely comes in time, even under load
    vm_id = deploy(wf, upload(wf, media(tmp_path)), **{"details[0].bootOrder": "CDROM"})
    resp = httpx.post(f"{sim.base_url}/moldsim/guests/{vm_id}/key", json={}, timeout=5)
    assert resp.status_code == 200 and resp.json()["booted"] is True and resp.json()["state"] == "installing"
    g = wait_state(sim, vm_id, "powered_off")
    assert g["boot_order"] == ["cdrom", "hd"]
    assert states(g) == [("prompt", None), ("installing", "copying"), ("prompt", None), ("installing", "specializing"),
                         ("prompt", None), ("installing", "oobe"), ("powered_off", None)]
    listed = httpx.get(f"{sim.base_url}/moldsim/guests", timeout=5).json()["guests"]
    assert [g["id"] for g in listed] == [vm_id]
    assert httpx.get(f"{sim.base_url}/moldsim/guests/nope", timeout=5).status_code == 404


# ---------------------------------------------------------------- log, secrets, settings

def test_each_state_is_a_log_line_and_no_answer_file_value_shows(
        sim: MoldSim, wf: Workflow, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="moldsim.guest")
    vm_id = deploy(wf, upload(wf, media(tmp_path, efi="efi/microsoft/boot/efisys_noprompt.bin")))
    g = wait_state(sim, vm_id, "powered_off")
    lines = [r.getMessage() for r in caplog.records if r.name == "moldsim.guest"]
    assert [line.split(": ")[1] for line in lines] == \
        ["installing (copying)", "installing (specializing)", "installing (oobe)", "powered_off"]
    assert all(line.startswith(f"guest {vm_id} win-master: ") for line in lines)
    everything = json.dumps(g) + "\n".join(lines) + json.dumps(httpx.get(f"{sim.base_url}/moldsim/guests").json())
    assert PASSWORD not in everything


def test_install_and_prompt_seconds_are_settings(sim: MoldSim) -> None:
    resp = httpx.post(f"{sim.base_url}/moldsim/config", json={"install_seconds": 1.5, "boot_prompt_seconds": 0.5})
    assert resp.status_code == 200
    shown = resp.json()
    assert (shown["install_seconds"], shown["boot_prompt_seconds"], shown["console_port"]) == \
        (1.5, 0.5, sim.config.console_bound_port)
    bad = httpx.post(f"{sim.base_url}/moldsim/config", json={"install_seconds": "soon"})
    assert bad.status_code == 400


def test_serve_flags_and_the_guest_lines_on_stderr(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "moldsim", "serve", "--port", "0", "--job-seconds", "0",
                             "--install-seconds", "0.1", "--boot-prompt-seconds", "0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(" ")[-1].strip()
        base = url.rsplit("/client/api", 1)[0]
        config = httpx.get(f"{base}/moldsim/config", timeout=5).json()
        assert (config["install_seconds"], config["boot_prompt_seconds"]) == (0.1, 0.1)
        assert isinstance(config["console_port"], int)
        with Workflow(url) as wf:
            vm_id = deploy(wf, upload(wf, media(tmp_path, efi="efi/microsoft/boot/efisys_noprompt.bin")))
            deadline = time.monotonic() + 5
            while httpx.get(f"{base}/moldsim/guests/{vm_id}", timeout=5).json()["state"] != "powered_off":
                assert time.monotonic() < deadline
                time.sleep(0.02)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and out == ""
    assert f"moldsim: guest {vm_id} win-master: powered_off: Setup finished" in err
    assert PASSWORD not in err

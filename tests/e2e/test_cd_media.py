"""CD media: Mold 4.23's second CD drive (the Windows 11 flow without swapping ISOs), `cdrom`
list changes, the error on a one-drive Mold; ISOs uploaded from local files. The real CLI
against moldsim over HTTP."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from moldsim.server import MoldSim
from tests.helpers.checks import ok, ops
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

ROOT = Path(__file__).resolve().parents[2]
TWO = ROOT / "specs" / "windows-11-two-drives"




@pytest.fixture
def europa() -> Iterator[MoldSim]:
    with MoldSim(job_seconds=0.05, profile="mold-4.23") as sim:
        yield sim


def drives(mold: MoldApi, name: str) -> list[tuple[int, str]]:
    [vm] = mold.items("listVirtualMachines", "virtualmachine", name=name, listall=True)
    return sorted((int(i["deviceseq"]), i["name"]) for i in vm.get("isos") or [])


def test_windows_11_with_two_drives_from_an_empty_mold(europa: MoldSim, tmp_path: Path) -> None:
    mwin, mold = Mwin(europa.url, tmp_path), MoldApi(europa.url)
    deploy = mwin.plan_json(TWO / "01-deploy.yaml")
    assert sorted(ops(deploy)) == sorted([("iso.win11", "create"), ("iso.virtio-win", "create"),
                                          ("network.prep-net", "create"),
                                          ("vm.win11-master", "create")])  # no swap steps
    index = {a["address"]: i for i, a in enumerate(deploy["actions"])}
    assert {index["iso.win11"], index["iso.virtio-win"]} <= set(
        deploy["actions"][index["vm.win11-master"]]["depends_on"])  # both drives' ISOs
    ok(mwin("apply", str(TWO / "01-deploy.yaml"), "--auto-approve"))
    assert drives(mold, "win11-master") == [(3, "win11"), (4, "virtio-win")]
    assert "No changes." in ok(mwin("plan", str(TWO / "01-deploy.yaml"))).out

    vm = mold.items("listVirtualMachines", "virtualmachine", name="win11-master")[0]
    europa.guest_poweroff(vm["id"])  # Windows installed with the drivers; sysprep ran
    final = mwin.plan_json(TWO / "02-template.yaml")
    assert [op for _a, op in ops(final)] == ["detach_iso", "detach_iso", "create_snapshot",
                                            "create_template"]  # the guest is off already
    ok(mwin("apply", str(TWO / "02-template.yaml"), "--auto-approve",
            "--wait-for-guest-shutdown", "5s"))
    assert drives(mold, "win11-master") == []
    [template] = mold.items("listTemplates", "template", templatefilter="self")
    assert template["isready"] is True
    assert "No changes." in ok(mwin("plan", str(TWO / "02-template.yaml"))).out
    mold.close()


def test_cdrom_list_changes_are_per_iso_steps(europa: MoldSim, tmp_path: Path) -> None:
    mwin, mold = Mwin(europa.url, tmp_path), MoldApi(europa.url)
    spec = tmp_path / "spec.yaml"
    text = (TWO / "01-deploy.yaml").read_text()
    spec.write_text(text)
    ok(mwin("apply", str(spec), "--auto-approve"))
    spec.write_text(text.replace("cdrom: [win11, virtio-win]", "cdrom: [win11]"))
    one = mwin.plan_json(spec)
    assert [(a["operation"], a["reason"]) for a in one["actions"]] == [
        ("detach_iso", "eject 'virtio-win' from its drive")]
    ok(mwin("apply", str(spec), "--auto-approve"))
    assert drives(mold, "win11-master") == [(3, "win11")]
    spec.write_text(text.replace("cdrom: [win11, virtio-win]", "cdrom: [virtio-win, win11]"))
    swapped = mwin.plan_json(spec)
    assert [(a["operation"], a["reason"]) for a in swapped["actions"]] == [
        ("detach_iso", "eject 'win11' from its drive"),
        ("attach_iso", "insert 'virtio-win' into drive 1"),
        ("attach_iso", "insert 'win11' into drive 2")]
    for later, earlier in zip(range(1, 3), range(2), strict=True):
        assert earlier in swapped["actions"][later]["depends_on"]  # one ISO job at a time
    ok(mwin("apply", str(spec), "--auto-approve"))
    assert drives(mold, "win11-master") == [(3, "virtio-win"), (4, "win11")]
    assert "No changes." in ok(mwin("plan", str(spec))).out
    mold.close()


def test_two_isos_on_a_one_drive_mold_is_an_error_at_cdrom(mwin: Mwin) -> None:
    refused = mwin("plan", str(TWO / "01-deploy.yaml"))
    assert refused.code == 1 and "Traceback" not in refused.err
    line = next(i for i, t in enumerate((TWO / "01-deploy.yaml").read_text().splitlines(), 1)
                if "cdrom:" in t)
    assert f"01-deploy.yaml:{line}:" in refused.err
    assert "this Mold has one CD drive per VM (deployVirtualMachine has no " \
        "`additionalisoids`" in refused.err
    assert "swap them in steps as the stage files of specs/windows-11 do" in refused.err


# --- uploads ------------------------------------------------------------------------------

def iso_image(path: Path, payload: bytes) -> Path:
    """A small ISO 9660-shaped image: the primary volume descriptor at byte 32768."""
    path.write_bytes(b"\0" * 32768 + b"\x01CD001\x01" + b"\0" * 2041 + payload)
    return path


UPLOAD = """\
version: 1
defaults: {zone: Zone1}
isos:
  drivers: {file: drivers.iso, bootable: false, display_text: Drivers}
"""


def stored_sha256(sim: MoldSim, iso_id: str) -> str:
    return str(sim.control("GET", f"/moldsim/uploads/{iso_id}", {})["sha256"])


def test_an_uploaded_iso_arrives_byte_for_byte_and_a_new_file_replaces_it(
        sim: MoldSim, mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    image = iso_image(tmp_path / "drivers.iso", b"viostor" * 1000)
    spec = tmp_path / "spec.yaml"
    spec.write_text(UPLOAD)
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    planned = mwin("plan", str(spec))
    assert f"upload drivers.iso ({image.stat().st_size / 1024:.1f} KiB, sha256 {digest[:12]}…)" \
        in planned.out
    applied = ok(mwin("apply", str(spec), "--auto-approve"))
    assert "uploading drivers.iso" in applied.err
    [row] = mold.items("listIsos", "iso", isofilter="self")
    assert (row["isready"], row["size"]) == (True, image.stat().st_size)
    assert stored_sha256(sim, row["id"]) == digest
    tags = {t["key"]: t["value"] for t in row["tags"]}
    assert tags["mwin:sha256"] == digest
    assert "No changes." in ok(mwin("plan", str(spec))).out

    iso_image(image, b"netkvm" * 1000)  # a new build of the same file
    replaced = mwin.plan_json(spec)
    assert ops(replaced) == [("iso.drivers", "replace"), ("iso.drivers", "delete")]
    assert replaced["actions"][0]["requires_replace"] == ["sha256"]
    ok(mwin("apply", str(spec), "--auto-approve"))
    [new] = mold.items("listIsos", "iso", isofilter="self")
    assert new["id"] != row["id"]
    assert stored_sha256(sim, new["id"]) == hashlib.sha256(image.read_bytes()).hexdigest()


def test_a_declared_sha256_plans_without_the_file_and_apply_checks_it(
        mwin: Mwin, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(UPLOAD.replace("file: drivers.iso,", f"file: drivers.iso, sha256: {'a' * 64},"))
    assert mwin("plan", str(spec)).code == 0  # a CI runner without the file
    iso_image(tmp_path / "drivers.iso", b"x")
    refused = mwin("apply", str(spec), "--auto-approve")
    assert refused.code == 1 and "the plan expected " + "a" * 64 in refused.err


@pytest.mark.parametrize("make, words", [
    (lambda p: None, "does not exist (declare `sha256:` beside it to plan without the file)"),
    (lambda p: p.mkdir(), "is a directory, not an ISO image"),
    (lambda p: p.write_bytes(b"not an image" * 4000),
     "is not an ISO 9660 image (no CD001 volume descriptor at byte 32769)"),
])
def test_bad_files_are_spec_errors_before_any_call(tmp_path: Path, make: object,
                                                   words: str) -> None:
    make(tmp_path / "drivers.iso")  # type: ignore[operator]
    spec = tmp_path / "spec.yaml"
    spec.write_text(UPLOAD)
    run = Mwin("http://127.0.0.1:9/client/api", tmp_path)("validate", str(spec))
    assert run.code == 1 and "Traceback" not in run.err
    assert f"{spec}:4:19: error: iso.drivers: `file`: {tmp_path / 'drivers.iso'} {words}" \
        in run.err

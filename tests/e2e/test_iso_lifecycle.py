"""ISOs from YAML to Mold and back: the real CLI against moldsim over HTTP."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.checks import isos_in_mold, write
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

SPEC = """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022:
    url: https://example.com/SERVER_EVAL_x64FRE_en-us.iso
    os_type: Windows PV
    display_text: Windows Server 2022
  virtio-win:
    url: https://example.com/virtio-win.iso
    bootable: false
    public: true
    extractable: true
"""




def test_iso_lifecycle_plan_apply_update_replace_delete(mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", SPEC)

    first = mwin("plan", str(spec), "--detailed-exitcode")
    assert first.code == 2, first.err
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in first.out

    applied = mwin("apply", str(spec), "--auto-approve")
    assert applied.code == 0, applied.err
    again = mwin("plan", str(spec), "--detailed-exitcode")
    assert again.code == 0, again.err
    assert "No changes." in again.out

    held = isos_in_mold(mold)
    assert held["win2022"]["displaytext"] == "Windows Server 2022"
    assert held["win2022"]["ostypename"] == "Windows PV"
    assert held["virtio-win"]["ostypename"] == "None"
    assert held["virtio-win"]["bootable"] is False
    assert held["virtio-win"]["ispublic"] is True and held["virtio-win"]["isextractable"] is True
    tags = {t["key"]: t["value"] for t in held["win2022"]["tags"]}
    assert tags == {"mwin:address": "iso.win2022", "mwin:owner": mwin.owner()}

    write(spec, SPEC.replace("display_text: Windows Server 2022", "display_text: 윈도우 서버 2022"))
    update = mwin.plan_json(spec)
    assert [(a["address"], a["operation"]) for a in update["actions"]] == [("iso.win2022", "update")]
    assert update["actions"][0]["changed"] == ["display_text"]
    assert update["summary"] == {"add": 0, "change": 1, "destroy": 0, "replace": 0, "adopt": 0,
                                 "forget": 0, "refresh": 0}
    old_virtio = held["virtio-win"]["id"]

    write(spec, spec.read_text().replace("virtio-win.iso", "virtio-win-0.1.262.iso"))
    replace = mwin.plan_json(spec)
    ops = {a["address"]: a for a in replace["actions"] if a["operation"] != "delete"}
    assert ops["iso.virtio-win"]["operation"] == "replace"
    assert ops["iso.virtio-win"]["destructive"] is True
    assert "url changed: forces replacement" in ops["iso.virtio-win"]["reason"]
    assert replace["summary"]["replace"] == 1 and replace["summary"]["add"] == 1
    assert mwin("apply", str(spec), "--auto-approve").code == 0

    held = isos_in_mold(mold)
    assert held["win2022"]["displaytext"] == "윈도우 서버 2022"
    assert held["virtio-win"]["url"].endswith("virtio-win-0.1.262.iso")
    assert held["virtio-win"]["id"] != old_virtio

    only_win = spec.read_text().split("  virtio-win:")[0]
    write(spec, only_win)
    delete = mwin.plan_json(spec)
    assert [(a["address"], a["operation"], a["destructive"]) for a in delete["actions"]] == [
        ("iso.virtio-win", "delete", True)]
    saved = tmp_path / "delete.plan"
    assert mwin("plan", str(spec), "--out", str(saved)).code == 0
    shown = mwin("show", str(saved))
    assert "iso.virtio-win will be destroyed" in shown.out
    assert mwin("apply", str(saved)).code == 0

    held = isos_in_mold(mold)
    assert sorted(held) == ["win2022"]
    assert held["win2022"]["displaytext"] == "윈도우 서버 2022"
    assert held["win2022"]["isfeatured"] is False and held["win2022"]["ispublic"] is False
    assert mwin("plan", str(spec), "--detailed-exitcode").code == 0

    stale = mwin("apply", str(saved))
    assert stale.code == 1
    assert "saved plan is stale" in stale.err


def test_saved_plan_refused_when_live_object_changed(mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", SPEC)
    assert mwin("apply", str(spec), "--auto-approve").code == 0
    write(spec, SPEC.replace("Windows Server 2022", "WS2022"))
    saved = tmp_path / "p.plan"
    assert mwin("plan", str(spec), "-o", str(saved)).code == 0
    iso_id = isos_in_mold(mold)["win2022"]["id"]
    mold.call("updateIso", id=iso_id, displaytext="changed behind mwin's back")
    refused = mwin("apply", str(saved))
    assert refused.code == 1
    assert "an object it acts on changed in Mold" in refused.err


def test_an_iso_made_non_bootable_converges_in_one_update(mwin: Mwin, mold: MoldApi,
                                                          tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", SPEC)
    assert mwin("apply", str(spec), "--auto-approve").code == 0
    write(spec, SPEC.replace("    os_type: Windows PV\n", "    os_type: Windows PV\n"
                             "    bootable: false\n"))
    plan = mwin.plan_json(spec)
    assert [(a["address"], a["operation"], a["changed"]) for a in plan["actions"]] == [
        ("iso.win2022", "update", ["bootable"])]
    assert mwin("apply", str(spec), "--auto-approve").code == 0
    row = isos_in_mold(mold)["win2022"]
    assert (row["bootable"], row["ostypename"]) == (False, "Windows PV")  # Mold keeps it
    again = mwin("plan", str(spec))
    assert again.code == 0 and "No changes." in again.out, again.out

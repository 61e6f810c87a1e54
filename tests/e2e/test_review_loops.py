"""The loops mwin lives in (issue 4), end to end: saved plans, JSON events, drift, import,
destroy, lifecycle rules, targeting and state commands — the real CLI against moldsim."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from moldsim.server import MoldSim
from tests.helpers.checks import isos_in_mold, ok, ops, tags_of, write
from tests.helpers.cli import Mwin, Run
from tests.helpers.mold_api import MoldApi

ISOS = """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022:
    url: https://example.com/ws2022.iso
    os_type: Windows PV
    display_text: Windows Server 2022
  virtio-win:
    url: https://example.com/virtio-win.iso
    bootable: false
"""

# An ISO, a network, a stopped VM and a protected template made from it.
WORKFLOW = """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022: {url: https://example.com/ws2022.iso, os_type: Windows PV}
networks:
  prep-net: {display_text: Prep network}
vms:
  master:
    install_iso: win2022
    cdrom: null
    compute_offering: 2vCore-4GB
    disk_offering: 50GB
    networks: [prep-net]
    state: stopped
templates:
  golden:
    from_vm: master
    name: 윈도우 서버 2022 템플릿
    os_type: Windows PV
    lifecycle: {protect: true}
"""




def state_of(mwin: Mwin) -> dict[str, Any]:
    return dict(json.loads(mwin.state.read_text(encoding="utf-8")))





def line_of(spec: Path, text: str) -> int:
    return next(n for n, line in enumerate(spec.read_text().splitlines(), 1) if text in line)


# --- saved plans -----------------------------------------------------------------------------

def test_saved_plan_applies_exactly_and_is_refused_once_state_spec_or_mold_moved(
        mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", ISOS)
    first = tmp_path / "first.plan"
    ok(mwin("plan", str(spec), "--out", str(first)))

    shown = ok(mwin("show", str(first)))
    assert shown.out.count("Plan: 2 to add, 0 to change, 0 to destroy.") == 1
    assert f"Apply exactly this plan with: mwin apply {first}" in shown.out
    as_json = ok(mwin("show", str(first), "--json")).json()
    assert as_json["no_op"] is False and as_json["summary"]["add"] == 2
    assert sorted(ops(as_json)) == [("iso.virtio-win", "create"), ("iso.win2022", "create")]
    assert as_json["state"] == {"lineage": None, "serial": 0}
    as_md = ok(mwin("show", str(first), "--markdown")).out
    assert "**Plan: 2 to add, 0 to change, 0 to destroy.**" in as_md

    # (b) the spec changed after the plan was saved
    write(spec, ISOS.replace("Windows Server 2022", "WS 2022"))
    refused = mwin("apply", str(first))
    assert refused.code == 1 and refused.out == ""
    assert f"the spec {spec} changed since the plan was made" in refused.err
    assert isos_in_mold(mold) == {} and not mwin.state.exists()

    # the same spec again: the saved plan applies as it is, without a prompt (stdin is no TTY)
    write(spec, ISOS)
    applied = ok(mwin("apply", str(first)))
    assert "Apply complete! 2 action(s) done." in applied.out
    held = isos_in_mold(mold)
    assert sorted(held) == ["virtio-win", "win2022"]
    assert held["win2022"]["displaytext"] == "Windows Server 2022"
    assert state_of(mwin)["serial"] >= 1

    # (a) another apply moved the state on: a plan saved before it is refused
    write(spec, ISOS.replace("Windows Server 2022", "WS 2022"))
    second = tmp_path / "second.plan"
    ok(mwin("plan", str(spec), "-o", str(second)))
    serial = state_of(mwin)["serial"]
    write(spec, ISOS.replace("bootable: false", "bootable: false\n    public: true"))
    ok(mwin("apply", str(spec), "--auto-approve"))
    write(spec, ISOS.replace("Windows Server 2022", "WS 2022"))
    stale = mwin("apply", str(second))
    assert stale.code == 1
    assert (f"the state changed since the plan was made (serial {serial} → "
            f"{state_of(mwin)['serial']})") in stale.err
    assert isos_in_mold(mold)["win2022"]["displaytext"] == "Windows Server 2022"

    # (c) an object the plan acts on changed in Mold
    third = tmp_path / "third.plan"
    ok(mwin("plan", str(spec), "-o", str(third)))
    mold.call("updateIso", id=held["win2022"]["id"], displaytext="changed behind mwin's back")
    moved = mwin("apply", str(third))
    assert moved.code == 1
    assert "an object it acts on changed in Mold since the plan was made" in moved.err
    assert isos_in_mold(mold)["win2022"]["displaytext"] == "changed behind mwin's back"

    # a plan with nothing to do says so in every rendering
    ok(mwin("apply", str(spec), "--auto-approve"))
    noop = tmp_path / "noop.plan"
    ok(mwin("plan", str(spec), "-o", str(noop)))
    assert "No changes. Mold matches the spec." in ok(mwin("show", str(noop))).out
    assert ok(mwin("show", str(noop), "--json")).json()["no_op"] is True
    assert "**No changes.**" in ok(mwin("show", str(noop), "--markdown")).out
    assert "The saved plan has no changes." in ok(mwin("apply", str(noop))).out


# --- apply --json ----------------------------------------------------------------------------

def events_of(run: Run) -> list[dict[str, Any]]:
    lines = run.out.splitlines()
    assert lines, run.err
    return [json.loads(line) for line in lines]  # every stdout line is one JSON document


def test_apply_json_streams_one_event_per_line_also_for_a_failed_job(
        mwin: Mwin, sim: MoldSim, mold: MoldApi, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", ISOS)
    events = events_of(ok(mwin("apply", str(spec), "--json", "--auto-approve")))
    types = [e["type"] for e in events]
    assert types[0] == "plan" and types[-1] == "apply_complete"
    assert events[0]["plan"]["summary"]["add"] == 2
    for index, action in enumerate(events[0]["plan"]["actions"]):
        mine = [e["type"] for e in events if e.get("index") == index
                and e["type"] != "action_progress"]
        assert mine == ["action_started", "action_finished"], (action, events)
        assert all(e["address"] == action["address"] for e in events if e.get("index") == index)
    assert {k: events[-1][k] for k in ("finished", "failed", "skipped", "ok")} == {
        "finished": 2, "failed": 0, "skipped": 0, "ok": True}

    sim.set_faults(fail_jobs=[{"command": "deleteIso", "errortext": "boom"}])
    write(spec, ISOS.split("  virtio-win:")[0])
    failed = mwin("apply", str(spec), "--json", "--auto-approve")
    assert failed.code == 1
    events = [e for e in events_of(failed) if e["type"] != "action_progress"]
    assert [e["type"] for e in events] == ["plan", "action_started", "action_failed",
                                           "apply_complete"]
    assert events[2]["address"] == "iso.virtio-win" and events[2]["operation"] == "delete"
    assert "boom" in events[2]["error"]
    assert events[-1]["ok"] is False and events[-1]["failed"] == 1
    assert "boom" in failed.err
    assert "virtio-win" in isos_in_mold(mold)


# --- drift -----------------------------------------------------------------------------------

def test_refresh_only_records_drift_in_state_and_detailed_exitcode(
        mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", ISOS)
    ok(mwin("apply", str(spec), "--auto-approve"))
    assert mwin("plan", str(spec), "--detailed-exitcode").code == 0
    assert mwin("plan", str(spec), "--refresh-only", "--detailed-exitcode").code == 0

    iso_id = isos_in_mold(mold)["win2022"]["id"]
    mold.call("updateIso", id=iso_id, displaytext="바뀐 설명")
    drift = mwin("plan", str(spec), "--refresh-only", "--json", "--detailed-exitcode")
    assert drift.code == 2, drift.err
    report = drift.json()
    assert report["refresh_only"] is True
    assert ops(report) == [("iso.win2022", "refresh")]
    action = report["actions"][0]
    assert action["changed"] == ["display_text"] and action["destructive"] is False
    assert (action["before"]["display_text"], action["after"]["display_text"]) == (
        "Windows Server 2022", "바뀐 설명")
    assert report["drift"] == [{"index": 0, "address": "iso.win2022", "operation": "refresh",
                                "changed": ["display_text"]}]
    assert report["summary"]["refresh"] == 1 and report["summary"]["change"] == 0

    # a normal plan proposes to undo it, flagged as drift
    undo = mwin.plan_json(spec)
    assert ops(undo) == [("iso.win2022", "update")] and undo["actions"][0]["drift"] is True

    serial = state_of(mwin)["serial"]
    ok(mwin("apply", str(spec), "--refresh-only", "--auto-approve"))
    recorded = state_of(mwin)
    assert recorded["serial"] == serial + 1
    assert recorded["resources"]["iso.win2022"]["attributes"]["display_text"] == "바뀐 설명"
    assert isos_in_mold(mold)["win2022"]["displaytext"] == "바뀐 설명"  # Mold untouched
    assert mwin("plan", str(spec), "--refresh-only", "--detailed-exitcode").code == 0
    assert mwin("plan", str(spec), "--detailed-exitcode").code == 2  # the spec still differs

    write(spec, ISOS + "  broken: {url: 3}\n")
    error = mwin("plan", str(spec), "--detailed-exitcode")
    assert error.code == 1 and error.out == ""
    assert f"{spec}:" in error.err


# --- destroy, protect, drift of a VM ---------------------------------------------------------

def run_job(mold: MoldApi, command: str, **params: Any) -> dict[str, Any]:
    """An async Mold call made behind mwin's back, waited for."""
    jobid = mold.call(command, **params)["jobid"]
    for _ in range(500):
        result = mold.call("queryAsyncJobResult", jobid=jobid)
        if result["jobstatus"] != 0:
            assert result["jobstatus"] == 1, result
            return result
        import time
        time.sleep(0.02)
    raise AssertionError(f"{command} did not finish")


def managed_in_mold(mold: MoldApi) -> dict[str, list[str]]:
    return {
        "iso": [r["name"] for r in mold.items("listIsos", "iso", isofilter="self", listall=True)],
        "network": [r["name"] for r in mold.items("listNetworks", "network", listall=True)],
        "vm": [r["name"] for r in mold.items("listVirtualMachines", "virtualmachine", listall=True)],
        "template": [r["name"] for r in mold.items("listTemplates", "template",
                                                   templatefilter="self", listall=True)],
    }


def test_protect_refresh_only_of_a_vm_and_destroy_in_reverse_dependency_order(
        mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", WORKFLOW)
    ok(mwin("apply", str(spec), "--auto-approve", "--wait-for-guest-shutdown", "0",
            "--force-stop"))
    held = managed_in_mold(mold)
    assert held == {"iso": ["win2022"], "network": ["prep-net"], "vm": ["master"],
                    "template": ["윈도우 서버 2022 템플릿"]}

    # protection is of the address: a new revision is fine, removing the template is not
    write(spec, WORKFLOW + "    revision: 2\n")
    revision = mwin.plan_json(spec)
    assert ("template.golden", "replace") in ops(revision)
    write(spec, WORKFLOW.split("templates:")[0])
    blocked = mwin("plan", str(spec))
    assert blocked.code == 1 and blocked.out == ""
    assert "template.golden: protected (state records lifecycle.protect from its last apply)" \
        in blocked.err
    assert "declare it again with `lifecycle: {protect: false}` and apply" in blocked.err
    write(spec, WORKFLOW)

    # power change and ISO swap behind mwin's back: refresh-only reports, proposes no undo
    vm = mold.items("listVirtualMachines", "virtualmachine", listall=True)[0]
    iso = mold.items("listIsos", "iso", isofilter="self", listall=True)[0]
    run_job(mold, "attachIso", id=iso["id"], virtualmachineid=vm["id"])
    run_job(mold, "startVirtualMachine", id=vm["id"])
    drift = mwin("plan", str(spec), "--refresh-only", "--json", "--detailed-exitcode")
    assert drift.code == 2, drift.err
    report = drift.json()
    assert ops(report) == [("vm.master", "refresh")]
    assert set(report["actions"][0]["changed"]) >= {"cdrom", "state"}
    assert report["actions"][0]["after"]["state"] == "running"
    assert report["actions"][0]["after"]["cdrom"] == "win2022"
    assert [d["address"] for d in report["drift"]] == ["vm.master"]

    # the spec in the working directory protects the template: destroy touches nothing
    protected = mwin("destroy", "--auto-approve")
    assert protected.code == 1 and protected.out == ""
    assert f"spec.yaml:{line_of(spec, 'lifecycle: {protect: true}')}:" in protected.err
    assert "template.golden" in protected.err and "protected by lifecycle.protect" in protected.err
    assert managed_in_mold(mold) == held
    write(spec, WORKFLOW.replace("    lifecycle: {protect: true}\n", ""))
    still = mwin("destroy", "--auto-approve", str(tmp_path / "nowhere"))  # state remembers it
    assert still.code == 1 and "template.golden: protected (state records" in still.err
    lifted = ok(mwin("apply", str(spec), "--auto-approve", "--wait-for-guest-shutdown", "0"))
    assert "lifecycle.protect is now false: record it in state" in lifted.out

    refused = mwin("destroy", str(tmp_path / "nowhere"))  # stdin is not a TTY, no --auto-approve
    assert refused.code == 1 and "refusing to go on without confirmation" in refused.err
    assert f"Warning: no spec at {tmp_path / 'nowhere'}, so lifecycle.protect is not checked" \
        in refused.err
    assert managed_in_mold(mold) == held

    gone = ok(mwin("destroy", "--auto-approve"))
    order = re.findall(r"^  # (\S+) will be destroyed$", gone.out, re.MULTILINE)
    assert sorted(order) == ["iso.win2022", "network.prep-net", "template.golden", "vm.master"]
    assert order.index("vm.master") < order.index("network.prep-net")
    assert order.index("vm.master") < order.index("iso.win2022")
    assert order.index("template.golden") < order.index("iso.win2022")  # made from vm.master:
    # either may go first (a template does not keep its source VM in use, nor the VM it)
    finished = re.findall(r"^(\S+) \(delete\): done", gone.err, re.MULTILINE)
    assert finished.index("vm.master") < min(finished.index("network.prep-net"),
                                             finished.index("iso.win2022"))
    assert managed_in_mold(mold) == {"iso": [], "network": [], "vm": [], "template": []}
    assert state_of(mwin)["resources"] == {}
    assert "No changes." in ok(mwin("destroy")).out


# --- focus: --target, --replace; review: --markdown; state commands --------------------------

WITH_VM = ISOS + """\
networks:
  prep-net: {display_text: Prep network}
vms:
  master:
    install_iso: win2022
    compute_offering: 2vCore-4GB
    disk_offering: 50GB
    networks: [prep-net]
"""


def test_target_replace_markdown_and_state_commands(mwin: Mwin, mold: MoldApi,
                                                     tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", WITH_VM)
    focused = mwin.plan_json(spec, "--target", "vm.master")
    assert sorted(ops(focused)) == [("iso.win2022", "create"), ("network.prep-net", "create"),
                                    ("vm.master", "create")]
    typo = mwin("plan", str(spec), "--target", "vm.mastr")
    assert typo.code == 1 and "--target vm.mastr" in typo.err and "vm.master" in typo.err

    ok(mwin("apply", str(spec), "--target", "iso.virtio-win", "--auto-approve"))
    assert sorted(isos_in_mold(mold)) == ["virtio-win"]
    assert mold.items("listNetworks", "network", listall=True) == []
    old_id = isos_in_mold(mold)["virtio-win"]["id"]

    forced = mwin.plan_json(spec, "--replace", "iso.virtio-win", "--target", "iso.virtio-win")
    # registered anew, then the replaced ISO deleted in a step of its own
    assert ops(forced) == [("iso.virtio-win", "replace"), ("iso.virtio-win", "delete")]
    assert forced["actions"][0]["reason"] == "replacement requested with --replace"
    assert forced["actions"][0]["actions"] == ["create", "delete"]

    md = ok(mwin("plan", str(spec), "--markdown", "--replace", "iso.virtio-win")).out
    assert "**Plan: 4 to add, 0 to change, 1 to destroy.**" in md
    assert md.index("> [!CAUTION]") < md.index("| #")
    assert ("> 2 destructive action(s): `iso.virtio-win` (replace), `iso.virtio-win` (delete)"
            in md)
    row = next(line for line in md.splitlines() if "`iso.virtio-win`" in line and "|" in line)
    assert [c.strip() for c in row.strip("|").split("|")][1:] == [
        "`iso.virtio-win`", "replace ⚠", "replacement requested with --replace"]
    assert md.count("<details>") == 5  # one per resource, one for the graph

    saved = tmp_path / "replace.plan"
    ok(mwin("plan", str(spec), "--replace", "iso.virtio-win", "--target", "iso.virtio-win",
            "-o", str(saved)))
    mixed = mwin("apply", str(saved), "--target", "iso.win2022")
    assert mixed.code == 1 and "a saved plan is applied as it is" in mixed.err
    ok(mwin("apply", str(spec), "--replace", "iso.virtio-win", "--target", "iso.virtio-win",
            "--auto-approve"))
    new_id = isos_in_mold(mold)["virtio-win"]["id"]
    assert new_id != old_id and sorted(isos_in_mold(mold)) == ["virtio-win"]

    # state commands: each edit bumps the serial; Mold keeps its objects
    listed = ok(mwin("state", "list")).out.splitlines()
    assert listed == [f"iso.virtio-win\t{new_id}"]
    shown = ok(mwin("state", "show", "iso.virtio-win")).json()
    assert shown["address"] == "iso.virtio-win" and shown["id"] == new_id
    assert shown["attributes"]["url"] == "https://example.com/virtio-win.iso"
    serial = state_of(mwin)["serial"]
    ok(mwin("state", "mv", "iso.virtio-win", "iso.drivers"))
    assert state_of(mwin)["serial"] == serial + 1
    assert list(state_of(mwin)["resources"]) == ["iso.drivers"]
    wrong_kind = mwin("state", "mv", "iso.drivers", "network.drivers")
    assert wrong_kind.code == 1 and "cannot move iso.drivers to another kind" in wrong_kind.err
    ok(mwin("state", "rm", "iso.drivers"))
    assert state_of(mwin)["serial"] == serial + 2 and state_of(mwin)["resources"] == {}
    assert ok(mwin("state", "list")).out == ""
    missing = mwin("state", "show", "iso.drivers")
    assert missing.code == 1 and "iso.drivers is not in state" in missing.err
    assert list(isos_in_mold(mold)) == ["virtio-win"]


# --- import ----------------------------------------------------------------------------------

IMPORT_SPEC = """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022: {url: https://example.com/ws2022.iso, os_type: Windows PV, display_text: WS 2022}
  virtio-win: {url: https://example.com/virtio-win.iso, bootable: false}
  drivers: {url: https://example.com/drivers.iso, bootable: false}
networks:
  prep-net: {display_text: Prep network}
"""


def test_import_by_id_checks_the_kind_and_import_all_adopts_by_tag_and_unique_name(
        mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", IMPORT_SPEC)
    zone = mold.items("listZones", "zone")[0]["id"]
    winpv = next(o["id"] for o in mold.items("listOsTypes", "ostype") if o["name"] == "Windows PV")
    offering = next(o["id"] for o in mold.items("listNetworkOfferings", "networkoffering")
                    if o["name"] == "DefaultIsolatedNetworkOfferingWithSourceNatService")

    def register(name: str, url: str, **extra: Any) -> str:
        return str(mold.call("registerIso", name=name, url=url, zoneid=zone,
                             **extra)["iso"][0]["id"])

    win = register("win2022", "https://example.com/ws2022.iso", ostypeid=winpv,
                   displaytext="made by hand")
    virtio = register("virtio-old-name", "https://example.com/virtio-win.iso", bootable=False)
    run_job(mold, "createTags", resourcetype="ISO", resourceids=virtio,
            **{"tags[0].key": "mwin:address", "tags[0].value": "iso.virtio-win"})
    drivers = [register("drivers", "https://example.com/drivers.iso", bootable=False)
               for _ in range(2)]
    net = mold.call("createNetwork", name="prep-net", displaytext="Prep network",
                    networkofferingid=offering, zoneid=zone)["network"]["id"]

    wrong = mwin("import", "iso.win2022", net, "--spec", str(spec))
    assert wrong.code == 1 and not mwin.state.exists()
    assert f"{net} is of kind network in Mold, not iso" in wrong.err

    ok(mwin("import", "iso.win2022", win, "--spec", str(spec)))
    [imported] = mold.items("listIsos", "iso", isofilter="self", id=win)  # two "drivers" here
    assert tags_of(imported) == {"mwin:address": "iso.win2022", "mwin:owner": mwin.owner()}
    assert state_of(mwin)["resources"]["iso.win2022"]["id"] == win
    again = mwin("import", "iso.win2022", win, "--spec", str(spec))
    assert again.code == 1 and "iso.win2022 is already in state" in again.err

    ambiguous = mwin("import", "--all", "--spec", str(spec))
    assert ambiguous.code == 1
    assert "iso.drivers" in ambiguous.err and all(d in ambiguous.err for d in drivers)
    assert list(state_of(mwin)["resources"]) == ["iso.win2022"]

    mold.call("deleteIso", id=drivers[1])
    unowned = mwin("import", "--all", "--spec", str(spec))  # virtio: tagged by mwin 0.1
    assert unowned.code == 1 and "tagged 'iso.virtio-win' by an older mwin" in unowned.err
    assert "`mwin import --all --unowned`" in unowned.err
    adopted = ok(mwin("import", "--all", "--unowned", "--spec", str(spec)))
    assert "3 object(s) adopted." in adopted.out
    recorded = {a: r["id"] for a, r in state_of(mwin)["resources"].items()}
    assert recorded == {"iso.win2022": win, "iso.virtio-win": virtio, "iso.drivers": drivers[0],
                        "network.prep-net": net}
    assert tags_of(mold.items("listNetworks", "network", listall=True)[0]) == {
        "mwin:address": "network.prep-net", "mwin:owner": mwin.owner()}
    assert tags_of(isos_in_mold(mold)["virtio-old-name"]) == {
        "mwin:address": "iso.virtio-win", "mwin:owner": mwin.owner()}

    # the next plan shows the differences from the spec, nothing else
    diff = mwin.plan_json(spec)
    assert {a["address"]: (a["operation"], a["changed"]) for a in diff["actions"]} == {
        "iso.win2022": ("update", ["display_text"]), "iso.virtio-win": ("update", ["name", "display_text"])}


def test_ignored_display_text_never_produces_actions(mwin: Mwin, mold: MoldApi,
                                                     tmp_path: Path) -> None:
    ignoring = ISOS.replace("    display_text: Windows Server 2022\n",
                            "    display_text: Windows Server 2022\n"
                            "    lifecycle: {ignore_changes: [display_text]}\n")
    spec = write(tmp_path / "spec.yaml", ignoring)
    ok(mwin("apply", str(spec), "--auto-approve"))
    assert isos_in_mold(mold)["win2022"]["displaytext"] == "Windows Server 2022"  # set on create
    mold.call("updateIso", id=isos_in_mold(mold)["win2022"]["id"], displaytext="손으로 바꿈")
    write(spec, ignoring.replace("display_text: Windows Server 2022", "display_text: WS")
          .replace("    url: https://example.com/ws2022.iso", "    name: ws2022\n"
                   "    url: https://example.com/ws2022.iso"))
    renamed = mwin.plan_json(spec)
    assert [(a["address"], a["operation"], a["changed"]) for a in renamed["actions"]] == [
        ("iso.win2022", "update", ["name"])]
    ok(mwin("apply", str(spec), "--auto-approve"))
    assert isos_in_mold(mold)["ws2022"]["displaytext"] == "손으로 바꿈"

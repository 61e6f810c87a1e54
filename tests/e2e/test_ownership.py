"""Several states on one Mold account (workspaces of one backend, separate state files, a state
moved to PostgreSQL): each takes only its own objects. ISO bumps never redeploy installed VMs;
NICs change in place. The real CLI against moldsim over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from moldsim.server import MoldSim
from tests.helpers.checks import ok, write
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi
from tests.helpers.postgres import PgServer, postgres_server  # noqa: F401 - fixture

ISOS = """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022: {url: "https://example.com/ws2022.iso", os_type: Windows PV}
  virtio-win: {url: "https://example.com/virtio-win.iso", bootable: false, display_text: VirtIO}
"""
MASTER = ISOS + """\
networks:
  prep-net: {}
vms:
  master:
    install_iso: win2022
    compute_offering: 2vCore-4GB
    disk_offering: 50GB
    networks: [prep-net]
    state: stopped
"""
QUICK = ISOS.replace("display_text: VirtIO", "display_text: VirtIO drivers (quick)")
FAST = ("--wait-for-guest-shutdown", "0")


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def held(mold: MoldApi) -> dict[str, list[tuple[str, str | None, str | None]]]:
    """Per kind: (name, address tag, owner tag) of every object in Mold."""
    out: dict[str, list[tuple[str, str | None, str | None]]] = {}
    for kind, command, key, extra in (("iso", "listIsos", "iso", {"isofilter": "self"}),
                                      ("network", "listNetworks", "network", {}),
                                      ("vm", "listVirtualMachines", "virtualmachine", {})):
        rows = mold.items(command, key, listall=True, **extra)
        out[kind] = sorted((r["name"], _tag(r, "mwin:address"), _tag(r, "mwin:owner"))
                           for r in rows)
    return out


def _tag(row: dict[str, Any], key: str) -> str | None:
    return next((t["value"] for t in row.get("tags") or [] if t["key"] == key), None)


def test_workspaces_never_take_each_others_objects(mwin: Mwin, mold: MoldApi,
                                                   tmp_path: Path) -> None:
    master = write(tmp_path / "master.yaml", MASTER)
    quick = write(tmp_path / "quick.yaml", QUICK)
    ok(mwin("apply", str(master), "--auto-approve", *FAST))
    default_owner = mwin.owner()
    before = held(mold)
    assert {o for rows in before.values() for _n, _a, o in rows} == {default_owner}

    ok(mwin("workspace", "new", "quick"))
    refused = mwin("apply", str(quick), "--auto-approve")
    assert refused.code == 1 and "Traceback" not in refused.err
    for address, key in (("iso.win2022", "win2022:"), ("iso.virtio-win", "virtio-win:")):
        assert f"{quick}:{line_of(quick, key)}:3: error: {address}: " in refused.err
    assert f"belongs to another state (owner {default_owner})" in refused.err
    assert "--take-over" in refused.err
    assert held(mold) == before  # virtio-win's display text untouched

    assert "No changes." in ok(mwin("destroy", str(quick), "--auto-approve")).out
    rebuilt = ok(mwin("state", "rebuild"))
    assert "Rebuilt state with 0 resource(s) of owner quick." in rebuilt.out
    assert held(mold) == before

    ok(mwin("workspace", "select", "default"))
    assert ok(mwin("plan", str(master), "--detailed-exitcode")).out.startswith("No changes.")


def test_two_state_files_in_both_orders_and_a_recreated_state(mwin: Mwin, mold: MoldApi,
                                                              sim: MoldSim, tmp_path: Path) -> None:
    second = Mwin(sim.url, tmp_path, tmp_path / "state" / "second.json")
    quick = write(tmp_path / "quick.yaml", QUICK)
    master = write(tmp_path / "master.yaml", MASTER)
    ok(second("apply", str(quick), "--auto-approve"))  # the second state goes first this time
    theirs = held(mold)
    refused = mwin("plan", str(master))
    assert refused.code == 1
    assert f"belongs to another state (owner {second.owner()})" in refused.err
    ok(mwin("destroy", str(master), "--auto-approve"))
    assert held(mold) == theirs

    # the other state's resources gone from its spec and destroyed: only its own go
    write(master, MASTER.replace("win2022:", "win2022-b:").replace("virtio-win:", "virtio-b:")
          .replace("install_iso: win2022", "install_iso: win2022-b"))
    ok(mwin("apply", str(master), "--auto-approve", *FAST))
    mine = {n for rows in held(mold).values() for n, _a, o in rows if o == mwin.owner()}
    assert mine == {"win2022-b", "virtio-b", "prep-net", "master"}
    gone = ok(second("destroy", str(quick), "--auto-approve"))
    assert "Plan: 0 to add, 0 to change, 2 to destroy." in gone.out
    assert {n for rows in held(mold).values() for n, _a, _o in rows} == mine

    # a state deleted and made again at the same place adopts its own objects, nothing else
    owner = mwin.owner()
    mwin.state.unlink()
    write(master, master.read_text().replace("master:\n", "master:\n    display_name: Master\n"))
    again = ok(mwin("plan", str(master)))
    assert "Plan: 0 to add, 1 to change, 0 to destroy, 4 to adopt." in again.out
    ok(mwin("apply", str(master), "--auto-approve", *FAST))
    assert mwin.owner() == owner
    assert "No changes." in ok(mwin("plan", str(master))).out


def test_rebuild_import_of_tagged_objects_and_take_over(mwin: Mwin, mold: MoldApi, sim: MoldSim,
                                                        tmp_path: Path) -> None:
    other = Mwin(sim.url, tmp_path, tmp_path / "state" / "other.json")
    isos = write(tmp_path / "isos.yaml", ISOS)
    ok(mwin("apply", str(isos), "--auto-approve"))
    ok(other("apply", str(write(tmp_path / "o.yaml", ISOS.replace("win2022:", "o-win:")
                                .replace("virtio-win:", "o-virtio:"))), "--auto-approve"))
    ids = {r["name"]: r["id"] for r in mold.items("listIsos", "iso", isofilter="self",
                                                  listall=True)}
    mwin.state.unlink()
    rebuilt = ok(mwin("state", "rebuild"))
    assert "Rebuilt state with 2 resource(s)" in rebuilt.out
    state = json.loads(mwin.state.read_text())
    assert sorted(state["resources"]) == ["iso.virtio-win", "iso.win2022"]

    # import of an object that already carries this state's tags: they stay
    ok(mwin("state", "rm", "iso.win2022"))
    imported = ok(mwin("import", "iso.win2022", ids["win2022"], "--spec", str(isos)))
    assert f"Imported {ids['win2022']} as iso.win2022, owner {mwin.owner()}." in imported.out

    # another state's object: refused without --take-over, then taken with its owner named
    write(isos, ISOS + "  o-win: {url: \"https://example.com/ws2022.iso\", os_type: Windows PV}\n")
    refused = mwin("import", "iso.o-win", ids["o-win"], "--spec", str(isos))
    assert refused.code == 1
    assert f"belongs to another state (owner {other.owner()}, address iso.o-win)" in refused.err
    taken = ok(mwin("import", "iso.o-win", ids["o-win"], "--spec", str(isos), "--take-over"))
    assert f"(taken over from owner {other.owner()})" in taken.out
    row = next(r for r in mold.items("listIsos", "iso", isofilter="self", listall=True)
               if r["id"] == ids["o-win"])
    assert (_tag(row, "mwin:address"), _tag(row, "mwin:owner")) == ("iso.o-win", mwin.owner())


def test_iso_bump_keeps_installed_vms_and_swaps_the_drives(mwin: Mwin, mold: MoldApi,
                                                           sim: MoldSim, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", (ISOS + """\
networks:
  prep-net: {}
vms:
  installed:
    install_iso: win2022
    compute_offering: 2vCore-4GB
    disk_offering: 50GB
    networks: [prep-net]
  holder:
    install_iso: virtio-win
    cdrom: win2022
    compute_offering: 2vCore-4GB
    disk_offering: 50GB
    networks: [prep-net]
""").replace("bootable: false", "os_type: Windows PV"))
    ok(mwin("apply", str(spec), "--auto-approve"))
    vms = {r["name"]: r for r in mold.items("listVirtualMachines", "virtualmachine", listall=True)}
    old_iso = vms["installed"]["isoid"]
    assert vms["holder"]["isoid"] == old_iso

    write(spec, spec.read_text().replace("ws2022.iso", "ws2022-v2.iso"))
    plan = mwin.plan_json(spec)
    steps = [(a["address"], a["operation"]) for a in plan["actions"]]
    assert steps[0] == ("iso.win2022", "replace")
    assert sorted(steps[1:]) == sorted([
        ("vm.installed", "detach_iso"), ("vm.holder", "detach_iso"), ("iso.win2022", "delete"),
        ("vm.installed", "attach_iso"), ("vm.holder", "attach_iso")])
    assert not [a for a in plan["actions"] if a["address"].startswith("vm.") and a["destructive"]]
    ok(mwin("apply", str(spec), "--auto-approve"))
    after = {r["name"]: r for r in mold.items("listVirtualMachines", "virtualmachine",
                                              listall=True)}
    new_iso = next(r["id"] for r in mold.items("listIsos", "iso", isofilter="self", listall=True)
                   if r["name"] == "win2022")
    assert {n: (r["id"], r["isoid"]) for n, r in after.items()} == {
        n: (vms[n]["id"], new_iso) for n in vms}
    assert old_iso != new_iso
    assert "No changes." in ok(mwin("plan", str(spec))).out

    # the spec points the installed VM at another ISO: a warning, nothing planned
    write(spec, spec.read_text().replace("  installed:\n    install_iso: win2022",
                                         "  installed:\n    install_iso: virtio-win"))
    pointed = mwin("plan", str(spec), "--detailed-exitcode")
    assert pointed.code == 0, pointed.err
    assert ("vm.installed: deployed from install_iso 'win2022'; the spec now says install_iso "
            "'virtio-win': nothing to do (`--replace vm.installed` redeploys it") in pointed.err
    marked = mwin.plan_json(spec)
    assert marked["actions"] == [] and "deployed from install_iso 'win2022'" in marked["warnings"][0]


def test_leftover_iso_in_a_drive_while_another_vm_deploys_from_it(
        mwin: Mwin, mold: MoldApi, sim: MoldSim, tmp_path: Path) -> None:
    a = ISOS.split("  virtio-win")[0] + """\
networks:
  prep-net: {}
vms:
  m1: {install_iso: win2022, compute_offering: 2vCore-4GB, disk_offering: 50GB, networks: [prep-net]}
"""
    spec = write(tmp_path / "spec.yaml", a)
    ok(mwin("apply", str(spec), "--auto-approve"))
    write(spec, a.replace("ws2022.iso", "ws2022-v2.iso"))
    sim.set_faults(fail_jobs=[{"command": "detachIso", "errortext": "storage busy"}])
    failed = mwin("apply", str(spec), "--auto-approve")  # the new ISO registered, old one kept
    assert failed.code == 1 and "1 failed, 2 skipped" in failed.err
    c = write(spec, spec.read_text() + "  m2: {install_iso: win2022, compute_offering: "
              "2vCore-4GB, disk_offering: 50GB, networks: [prep-net]}\n")
    planned = mwin.plan_json(c)
    assert ("iso.win2022", "delete") in [(x["address"], x["operation"]) for x in planned["actions"]]
    ok(mwin("apply", str(c), "--auto-approve"))
    isos = mold.items("listIsos", "iso", isofilter="self", listall=True)
    assert [r["url"] for r in isos] == ["https://example.com/ws2022-v2.iso"]
    assert "No changes." in ok(mwin("plan", str(c))).out


def test_networks_change_in_place(mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", MASTER.replace("  prep-net: {}\n",
                                                       "  prep-net: {}\n  lab-net: {}\n"))
    ok(mwin("apply", str(spec), "--auto-approve", *FAST))
    vm_id = mold.items("listVirtualMachines", "virtualmachine", listall=True)[0]["id"]

    def nics() -> list[tuple[str, bool]]:
        row = mold.items("listVirtualMachines", "virtualmachine", id=vm_id, listall=True)[0]
        return sorted((n["networkname"], bool(n["isdefault"])) for n in row["nic"])

    write(spec, spec.read_text().replace("networks: [prep-net]", "networks: [prep-net, lab-net]"))
    added = mwin.plan_json(spec)
    assert [(a["address"], a["operation"]) for a in added["actions"]] == [("vm.master", "add_nic")]
    assert added["summary"]["change"] == 1 and added["summary"]["replace"] == 0
    ok(mwin("apply", str(spec), "--auto-approve"))
    assert nics() == [("lab-net", False), ("prep-net", True)]

    write(spec, spec.read_text().replace("networks: [prep-net, lab-net]", "networks: [lab-net]"))
    moved = mwin.plan_json(spec)
    assert [a["operation"] for a in moved["actions"]] == ["update_default_nic", "remove_nic"]
    ok(mwin("apply", str(spec), "--auto-approve"))
    assert nics() == [("lab-net", True)]
    assert mold.items("listVirtualMachines", "virtualmachine", listall=True)[0]["id"] == vm_id
    assert "No changes." in ok(mwin("plan", str(spec))).out


@pytest.fixture
def pg(postgres_server: PgServer) -> str:  # noqa: F811 - the imported fixture
    return postgres_server.new_database()


def test_state_pushed_to_postgres_keeps_its_owner(mwin: Mwin, mold: MoldApi, pg: str,
                                                  tmp_path: Path) -> None:
    isos = write(tmp_path / "isos.yaml", ISOS)
    ok(mwin("apply", str(isos), "--auto-approve"))
    owner = mwin.owner()
    ok(mwin("state", "push", str(mwin.state), "--backend", pg))
    pulled = json.loads(ok(mwin("state", "pull", "--backend", pg)).out)
    assert pulled["owner"] == owner
    assert "No changes." in ok(mwin("plan", str(isos), "--backend", pg)).out
    # the same place in PostgreSQL, emptied: its own derived owner differs from the file's,
    # so it adopts nothing of the pushed state's objects by default ...
    fresh = mwin("plan", str(isos), "--backend", pg, "--workspace", "other")
    assert fresh.code == 1 and f"owner {owner}" in fresh.err
    # ... unless asked for that owner on purpose
    ok(mwin("state", "rebuild", "--backend", pg, "--workspace", "other", "--owner", owner))
    assert "No changes." in ok(mwin("plan", str(isos), "--backend", pg, "--workspace",
                                    "other")).out


def test_state_mv_is_followed_by_a_retag(mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    """After `state mv` the object still carries the old address: the next plan retags it, so
    a lost state later adopts it at its new address instead of making a second one."""
    spec = write(tmp_path / "spec.yaml", ISOS)
    ok(mwin("apply", str(spec), "--auto-approve"))
    write(spec, ISOS.replace("  virtio-win: {", "  drivers: {name: virtio-win, "))
    ok(mwin("state", "mv", "iso.virtio-win", "iso.drivers"))
    planned = mwin.plan_json(spec)
    [step] = planned["actions"]
    assert (step["address"], step["operation"]) == ("iso.drivers", "adopt")
    assert "tagged 'iso.virtio-win'" in step["reason"]
    ok(mwin("apply", str(spec), "--auto-approve"))
    assert ("virtio-win", "iso.drivers", mwin_owner(mwin)) in held(mold)["iso"]
    assert "No changes." in ok(mwin("plan", str(spec))).out
    mwin.state.unlink()  # the state is lost: the objects are found by their tags again
    again = mwin.plan_json(spec)
    assert sorted((a["address"], a["operation"]) for a in again["actions"]) == [
        ("iso.drivers", "adopt"), ("iso.win2022", "adopt")]


def mwin_owner(mwin: Mwin) -> str:
    return str(json.loads(mwin.state.read_text(encoding="utf-8"))["owner"])

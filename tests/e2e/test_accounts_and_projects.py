"""mwin with the keys operators have: a user and a domain admin in a domain, with and without
the right to expunge, and inside a project. The real CLI against moldsim, which answers as
Mold's role rules and settings say (docs/moldsim.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from moldsim.server import MoldSim
from tests.helpers.checks import STOP_AT_ONCE, ok, wait_job
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import DOMAIN_ADMIN, USER, MoldApi, new_account, set_account_setting

ROOT = Path(__file__).resolve().parents[2]
SMALL = """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022: {url: "https://example.com/ws2022.iso", os_type: Windows PV}
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
FAST = STOP_AT_ONCE



@pytest.fixture
def clients() -> Iterator[list[MoldApi]]:
    made: list[MoldApi] = []
    yield made
    for client in made:
        client.close()


def as_account(sim: MoldSim, mold: MoldApi, workdir: Path, name: str, made: list[MoldApi],
               accounttype: int = USER) -> tuple[Mwin, MoldApi, dict]:
    """An account in a domain of its own; mwin and an outside client with its user's keys."""
    domain = mold.call("createDomain", name=f"{name}-domain")["domain"]
    key, secret, account = new_account(mold, name, accounttype, domain["id"])
    workdir.mkdir()
    mwin = Mwin(sim.url, workdir)
    mwin.env.update(MOLD_API_KEY=key, MOLD_SECRET_KEY=secret)
    made.append(MoldApi(sim.url, key, secret))
    return mwin, made[-1], account



def walk_windows_11(sim: MoldSim, mwin: Mwin, mine: MoldApi) -> None:
    for stage in sorted((ROOT / "specs" / "windows-11").glob("*.yaml")):
        if stage.stem == "06-template":
            vm = mine.items("listVirtualMachines", "virtualmachine", name="win11-master")[0]
            sim.guest_poweroff(vm["id"])
        ok(mwin("apply", str(stage), "--auto-approve", "--wait-for-guest-shutdown", "5s"))
        assert "No changes." in ok(mwin("plan", str(stage))).out, stage.name


@pytest.mark.parametrize("accounttype", [USER, DOMAIN_ADMIN], ids=["user", "domain-admin"])
def test_windows_11_flow_with_an_accounts_keys(accounttype: int, sim: MoldSim, mold: MoldApi,
                                               tmp_path: Path, clients: list[MoldApi]) -> None:
    mwin, mine, account = as_account(sim, mold, tmp_path / "op", "op", clients, accounttype)
    walk_windows_11(sim, mwin, mine)
    [template] = mine.items("listTemplates", "template", templatefilter="self")
    assert (template["account"], template["isfeatured"], template["ispublic"]) == ("op", True, True)
    [snapshot] = mine.items("listVMSnapshot", "vmSnapshot")
    assert snapshot["displayname"] == "after-sysprep"
    assert {r["account"] for r in mold.items("listIsos", "iso", isofilter="all", listall=True)
            } == {"op"}  # root admin sees them as the account's


def test_user_without_expunge_replaces_and_destroys(sim: MoldSim, mold: MoldApi,
                                                    tmp_path: Path, clients: list[MoldApi]) -> None:
    mwin, mine, account = as_account(sim, mold, tmp_path / "op", "op", clients)
    spec = tmp_path / "op" / "small.yaml"
    spec.write_text(SMALL)
    ok(mwin("apply", str(spec), "--auto-approve", *FAST))
    old = mine.items("listVirtualMachines", "virtualmachine")[0]

    replaced = ok(mwin("apply", str(spec), "--auto-approve", "--replace", "vm.master", *FAST))
    assert "Mold does not let this account expunge VMs" in replaced.err
    assert "renamed to master-destroyed-" in replaced.err
    [new] = mine.items("listVirtualMachines", "virtualmachine")  # a user sees no Destroyed VM
    assert new["id"] != old["id"] and new["name"] == "master"
    [lingering] = mold.items("listVirtualMachines", "virtualmachine", listall=True,
                             state="Destroyed")
    assert lingering["id"] == old["id"] and lingering["name"].startswith("master-destroyed-")
    assert "isoid" not in lingering  # ejected first, so the ISO can still be deleted

    # destroy: the network waits for Mold to expunge the destroyed VMs
    blocked = mwin("destroy", str(spec), "--auto-approve")
    assert blocked.code == 1 and "Traceback" not in blocked.err
    assert "Failed to delete network" in blocked.err and "expunge.delay" in blocked.err
    assert "Apply failed" in blocked.err  # with the summary, never half done silently
    destroyed = mold.items("listVirtualMachines", "virtualmachine", listall=True,
                           state="Destroyed")
    assert sorted(v["id"] for v in destroyed) == sorted([old["id"], new["id"]])
    for vm in destroyed:  # the admin expunges them, as the error advises
        expunged = wait_job(mold, mold.call("expungeVirtualMachine", id=vm["id"])["jobid"])
        assert expunged["jobstatus"] == 1, expunged
    ok(mwin("destroy", str(spec), "--auto-approve"))
    assert mold.items("listNetworks", "network", listall=True) == []
    assert mold.items("listVirtualMachines", "virtualmachine", listall=True, state="Destroyed") \
        == []


def test_user_allowed_to_expunge_replaces_in_one_go(sim: MoldSim, mold: MoldApi,
                                                    tmp_path: Path, clients: list[MoldApi]) -> None:
    mwin, mine, account = as_account(sim, mold, tmp_path / "op", "op", clients)
    set_account_setting(mold, "allow.user.expunge.recover.vm", "true", account["id"])
    spec = tmp_path / "op" / "small.yaml"
    spec.write_text(SMALL)
    ok(mwin("apply", str(spec), "--auto-approve", *FAST))
    replaced = ok(mwin("apply", str(spec), "--auto-approve", "--replace", "vm.master", *FAST))
    assert "may not expunge" not in replaced.err and "does not let" not in replaced.err
    assert mold.items("listVirtualMachines", "virtualmachine", listall=True,
                      state="Destroyed") == []
    ok(mwin("destroy", str(spec), "--auto-approve"))
    assert mine.items("listNetworks", "network") == []


def test_a_spec_in_a_project(sim: MoldSim, mold: MoldApi, tmp_path: Path,
                             clients: list[MoldApi]) -> None:
    mwin, mine, account = as_account(sim, mold, tmp_path / "op", "op", clients)
    project = mine.call("createProject", name="images", displaytext="Image builds")
    if project.get("jobid"):
        wait_job(mine, project["jobid"])
    spec = tmp_path / "op" / "small.yaml"
    spec.write_text(SMALL.replace("defaults: {zone: Zone1}", "defaults: {zone: Zone1, project: images}"))
    ok(mwin("apply", str(spec), "--auto-approve", *FAST))
    [pid] = [p["id"] for p in mine.items("listProjects", "project")]
    assert mine.items("listVirtualMachines", "virtualmachine") == []  # not the account's own
    [vm] = mine.items("listVirtualMachines", "virtualmachine", projectid=pid)
    assert (vm["project"], vm["name"]) == ("images", "master")
    [iso] = mine.items("listIsos", "iso", isofilter="self", projectid=pid)
    assert iso["projectid"] == pid
    assert "No changes." in ok(mwin("plan", str(spec))).out
    spec.write_text(spec.read_text().replace("prep-net: {}", "prep-net: {display_text: Lab}"))
    ok(mwin("apply", str(spec), "--auto-approve"))
    [net] = mine.items("listNetworks", "network", projectid=pid)
    assert net["displaytext"] == "Lab"
    unknown = tmp_path / "op" / "unknown.yaml"
    unknown.write_text(SMALL.replace("defaults: {zone: Zone1}", "defaults: {zone: Zone1, project: nope}"))
    refused = mwin("plan", str(unknown))
    assert refused.code == 1 and "project 'nope' does not exist in Mold" in refused.err


def test_the_windows_11_flow_in_a_project_with_a_users_keys(
        sim: MoldSim, mold: MoldApi, tmp_path: Path, clients: list[MoldApi]) -> None:
    """Every step reads its VM back inside the project: a user's keys see a project's
    objects only with its projectid, even by id (AccountManagerImpl.buildACLSearchParameters)."""
    mwin, mine, _account = as_account(sim, mold, tmp_path / "op", "op", clients)
    project = mine.call("createProject", name="images", displaytext="Image builds")
    if project.get("jobid"):
        wait_job(mine, project["jobid"])
    [pid] = [p["id"] for p in mine.items("listProjects", "project")]
    staged = tmp_path / "op" / "windows-11"
    staged.mkdir()
    for stage in sorted((ROOT / "specs" / "windows-11").glob("*.yaml")):
        text = stage.read_text(encoding="utf-8")
        assert "defaults:\n  zone: Zone1\n" in text
        (staged / stage.name).write_text(text.replace(
            "defaults:\n  zone: Zone1\n", "defaults:\n  zone: Zone1\n  project: images\n"),
            encoding="utf-8")
    for stage in sorted(staged.glob("*.yaml")):
        if stage.stem == "06-template":
            vm = mine.items("listVirtualMachines", "virtualmachine", projectid=pid)[0]
            sim.guest_poweroff(vm["id"])
            # a user's keys cannot make a project's template featured: said at plan time
            refused = mwin("plan", str(stage))
            assert refused.code == 1 and ("a template of project 'images' cannot be made "
                                          "featured with a user's keys ('op')") in refused.err
            stage.write_text(stage.read_text(encoding="utf-8").replace(
                "featured: true", "featured: false"), encoding="utf-8")
        ok(mwin("apply", str(stage), "--auto-approve", "--wait-for-guest-shutdown", "5s"))
        assert "No changes." in ok(mwin("plan", str(stage))).out, stage.name
    [template] = mine.items("listTemplates", "template", templatefilter="self", projectid=pid)
    assert template["project"] == "images"
    [snapshot] = mine.items("listVMSnapshot", "vmSnapshot", projectid=pid)
    assert snapshot["displayname"] == "after-sysprep"
    assert mine.items("listVirtualMachines", "virtualmachine") == []  # none of the account's

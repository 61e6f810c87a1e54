"""In-place VM changes, template revisions and network updates, end to end."""

from __future__ import annotations

from pathlib import Path

from moldsim.server import MoldSim
from tests.helpers.checks import ops
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

BASE = """\
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
    group: templates
    state: running
"""



def apply(mwin: Mwin, spec: Path, text: str) -> None:
    spec.write_text(text)
    run = mwin("apply", str(spec), "--auto-approve", "--wait-for-guest-shutdown", "0",
               "--force-stop")
    assert run.code == 0, run.err
    assert mwin("plan", str(spec), "--detailed-exitcode").code == 0


def test_offering_and_hostname_change_stop_change_and_start_again(mwin: Mwin, mold: MoldApi,
                                                                   tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    apply(mwin, spec, BASE)
    changed = BASE.replace("2vCore-4GB", "4vCore-8GB").replace("group: templates",
                                                              "group: golden\n    name: master-2")
    spec.write_text(changed)
    plan = mwin.plan_json(spec)
    assert ops(plan) == [("vm.master", "stop"), ("vm.master", "change_offering"),
                         ("vm.master", "update"), ("vm.master", "start")]
    assert sorted(plan["actions"][2]["changed"]) == ["display_name", "group", "name"]
    assert plan["summary"]["change"] == 1 and plan["summary"]["destroy"] == 0
    apply(mwin, spec, changed)
    vm = mold.items("listVirtualMachines", "virtualmachine", listall=True)[0]
    assert (vm["name"], vm["group"], vm["serviceofferingname"], vm["state"]) == (
        "master-2", "golden", "4vCore-8GB", "Running")


def test_boot_type_change_replaces_the_vm_with_a_loud_reason(mwin: Mwin, mold: MoldApi,
                                                             tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    apply(mwin, spec, BASE)
    old_id = mold.items("listVirtualMachines", "virtualmachine", listall=True)[0]["id"]
    spec.write_text(BASE + "    boot: {type: UEFI, mode: SECURE}\n")
    plan = mwin.plan_json(spec)
    replace = [a for a in plan["actions"] if a["operation"] == "replace"]
    assert len(replace) == 1 and replace[0]["destructive"] is True
    assert "boot type can never change once the OS is installed" in replace[0]["reason"]
    assert set(replace[0]["requires_replace"]) == {"boot.type", "boot.mode"}
    text = mwin("plan", str(spec)).out
    assert "-/+ vm \"master\"" in text and "# forces replacement" in text
    apply(mwin, spec, BASE + "    boot: {type: UEFI, mode: SECURE}\n")
    vm = mold.items("listVirtualMachines", "virtualmachine", listall=True)
    assert len(vm) == 1 and vm[0]["id"] != old_id and vm[0]["bootmode"] == "secure"


def test_template_revision_makes_a_new_template_and_keeps_the_previous(mwin: Mwin, mold: MoldApi,
                                                                       tmp_path: Path) -> None:
    stopped = BASE.replace("state: running", "state: stopped")
    template = ("templates:\n  golden:\n    from_vm: master\n    os_type: Windows PV\n"
                "    keep: 2\n")
    spec = tmp_path / "spec.yaml"
    apply(mwin, spec, stopped + template)
    first = mold.items("listTemplates", "template", templatefilter="self")
    assert len(first) == 1
    spec.write_text(stopped + template + "    revision: 2\n")
    plan = mwin.plan_json(spec)
    assert ops(plan) == [("template.golden", "replace"), ("template.golden", "publish")]
    assert "a new revision is made" in plan["actions"][0]["reason"]
    assert plan["actions"][1]["depends_on"] == [0]
    apply(mwin, spec, stopped + template + "    revision: 2\n")
    after = mold.items("listTemplates", "template", templatefilter="self")
    assert len(after) == 2 and first[0]["id"] in {t["id"] for t in after}  # previous kept
    apply(mwin, spec, stopped + template + "    revision: 3\n")
    latest = mold.items("listTemplates", "template", templatefilter="self")
    assert len(latest) == 2 and first[0]["id"] not in {t["id"] for t in latest}
    revisions = sorted((next(t["value"] for t in tpl["tags"] if t["key"] == "mwin:revision"),
                        tpl["name"], any(t["key"] == "mwin:channel" for t in tpl["tags"]))
                       for tpl in latest)
    assert revisions == [("2", "golden (revision 2)", False), ("3", "golden", True)]


def test_network_and_snapshot_changes(mwin: Mwin, mold: MoldApi, sim: MoldSim,
                                      tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    with_snap = BASE + "    snapshots: [before]\n"
    spec.write_text(with_snap)
    frozen = mwin("apply", str(spec), "--auto-approve")  # running, no guest agent yet
    assert frozen.code == 1
    assert "VM snapshot 'before' is taken while the VM runs" in frozen.err  # the plan warned
    assert "Could not freeze VM" in frozen.err and "Install the guest tools" in frozen.err
    [failed] = mold.items("listVMSnapshot", "vmSnapshot")
    assert (failed["displayname"], failed["state"]) == ("before", "Error")
    vm_id = mold.items("listVirtualMachines", "virtualmachine", listall=True)[0]["id"]
    sim.guest_agent(vm_id)  # the guest tools are installed now
    retried = mwin.plan_json(spec)
    assert [(a["operation"], a["reason"]) for a in retried["actions"]] == [
        ("delete_snapshot", "VM snapshot 'before' is in Error (an earlier try failed): delete it "
                            "before taking it again"),
        ("create_snapshot", "take VM snapshot 'before'")]
    apply(mwin, spec, with_snap)
    assert [(s["displayname"], s["state"]) for s in mold.items("listVMSnapshot", "vmSnapshot")] \
        == [("before", "Ready")]
    renamed = with_snap.replace("Prep network", "준비 네트워크").replace("[before]", "[after]")
    spec.write_text(renamed)
    plan = mwin.plan_json(spec)
    assert sorted(ops(plan)) == sorted([("network.prep-net", "update"),
                                        ("vm.master", "create_snapshot"),
                                        ("vm.master", "delete_snapshot")])
    apply(mwin, spec, renamed)
    net = mold.items("listNetworks", "network", listall=True)[0]
    assert net["displaytext"] == "준비 네트워크"
    snaps = mold.items("listVMSnapshot", "vmSnapshot")
    assert [s["displayname"] for s in snaps] == ["after"]
    apply(mwin, spec, BASE.replace("networks:\n  prep-net: {display_text: Prep network}\n", "")
          .replace("vms:", "networks:\n  prep-net: {display_text: 준비 네트워크}\nvms:"))
    assert mold.items("listVMSnapshot", "vmSnapshot") == []  # mwin's own snapshot removed

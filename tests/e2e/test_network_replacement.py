"""A network that must be replaced: the new one is created before the old one is deleted, the
declared VMs in it move their NICs in between (the default NIC too), and a gateway without a
netmask is a spec error before anything is sent. The real CLI against moldsim."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.checks import STOP_AT_ONCE, ok, ops, write
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

BASE = """\
version: 1
defaults: {zone: Zone1}
isos:
  a: {url: "https://example.com/a.iso", os_type: Windows Server 2022 (64-bit)}
networks:
  n1: {display_text: n1}
vms:
  m:
    install_iso: a
    cdrom: null
    compute_offering: 2vCore-4GB
    disk_offering: 50GB
    networks: [n1]
    state: running
"""
FAST = ("--auto-approve", *STOP_AT_ONCE)


def test_a_running_vm_moves_to_the_replacement_of_its_network(mwin: Mwin, mold: MoldApi,
                                                              tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", BASE)
    ok(mwin("apply", str(spec), *FAST))
    [old] = mold.items("listNetworks", "network", listall=True)
    write(spec, BASE.replace("n1: {display_text: n1}", "n1: {display_text: n1, external_id: x1}"))

    plan = mwin.plan_json(spec)
    assert ops(plan) == [("network.n1", "replace"), ("vm.m", "add_nic"),
                         ("vm.m", "update_default_nic"), ("vm.m", "remove_nic"),
                         ("network.n1", "delete")]
    assert plan["warnings"] == []
    text = ok(mwin("plan", str(spec))).out
    assert "Plan: 1 to add, 1 to change, 1 to destroy." in text

    applied = ok(mwin("apply", str(spec), *FAST))
    assert "expunge" not in applied.out + applied.err
    [new] = mold.items("listNetworks", "network", listall=True)
    assert new["id"] != old["id"] and (new["name"], new["externalid"]) == ("n1", "x1")
    [vm] = mold.items("listVirtualMachines", "virtualmachine", listall=True)
    assert vm["state"] == "Running"
    assert [(n["networkid"], n["isdefault"]) for n in vm["nic"]] == [(new["id"], True)]
    assert "No changes." in ok(mwin("plan", str(spec))).out


def test_a_gateway_without_a_netmask_is_an_error_before_anything_is_sent(
        mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    net_only = "version: 1\ndefaults: {zone: Zone1}\nnetworks:\n  n1: {display_text: n1}\n"
    spec = write(tmp_path / "spec.yaml", net_only)
    ok(mwin("apply", str(spec), "--auto-approve"))
    [before] = mold.items("listNetworks", "network", listall=True)
    write(spec, net_only.replace("{display_text: n1}", "{display_text: n1, gateway: 10.9.0.1}"))
    for command in ("validate", "plan", "apply"):
        run = mwin(command, str(spec), *(("--auto-approve",) if command == "apply" else ()))
        assert run.code == 1, (command, run.out, run.err)
        assert f"{spec}:4:35: error: network.n1: `gateway` without `netmask`" in run.err, command
    assert mold.items("listNetworks", "network", listall=True) == [before]

    write(spec, net_only.replace("{display_text: n1}",
                                 "{display_text: n1, gateway: 10.9.0.1, netmask: 255.255.255.0}"))
    ok(mwin("apply", str(spec), "--auto-approve"))
    [after] = mold.items("listNetworks", "network", listall=True)
    assert after["id"] != before["id"] and after["cidr"] == "10.9.0.0/24"
    assert "No changes." in ok(mwin("plan", str(spec))).out


def test_a_refused_create_of_the_replacement_loses_nothing(mwin: Mwin, mold: MoldApi,
                                                           tmp_path: Path) -> None:
    """An account that may not have two networks of one name: the old network stays, and
    the next plan still knows it (not "deleted in Mold outside mwin")."""
    net_only = "version: 1\ndefaults: {zone: Zone1}\nnetworks:\n  n1: {display_text: n1}\n"
    spec = write(tmp_path / "spec.yaml", net_only)
    ok(mwin("apply", str(spec), "--auto-approve"))
    [before] = mold.items("listNetworks", "network", listall=True)
    mold.call("updateConfiguration", name="allow.duplicate.networkname", value="false")
    write(spec, net_only.replace("{display_text: n1}", "{display_text: n1, external_id: x1}"))
    failed = mwin("apply", str(spec), "--auto-approve")
    assert failed.code == 1 and "Traceback" not in failed.err
    assert "Another network with same name already exists" in failed.err
    assert "allow.duplicate.networkname is false" in failed.err
    assert mold.items("listNetworks", "network", listall=True) == [before]
    plan = mwin.plan_json(spec)
    assert ops(plan) == [("network.n1", "replace"), ("network.n1", "delete")]
    assert "outside mwin" not in ok(mwin("plan", str(spec))).out


def test_replace_flag_on_a_network_in_use_says_what_holds_it_and_the_next_apply_finishes(
        mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", BASE)
    ok(mwin("apply", str(spec), *FAST))
    [old] = mold.items("listNetworks", "network", listall=True)
    [vm] = mold.items("listVirtualMachines", "virtualmachine", listall=True)
    failed = mwin("apply", str(spec), "--replace", "network.n1", *FAST)
    assert failed.code == 1 and "Traceback" not in failed.err
    assert f"VM(s) 'm' ({vm['id']}) still have a NIC in it. The new network" in failed.err
    assert "expunge" not in failed.err
    ok(mwin("apply", str(spec), *FAST))
    [new] = mold.items("listNetworks", "network", listall=True)
    assert new["id"] != old["id"]
    [vm] = mold.items("listVirtualMachines", "virtualmachine", listall=True)
    assert [(n["networkid"], n["isdefault"]) for n in vm["nic"]] == [(new["id"], True)]
    assert "No changes." in ok(mwin("plan", str(spec))).out

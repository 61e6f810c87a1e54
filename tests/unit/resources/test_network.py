"""Networks: planning from the attribute table, and execution against an in-process moldsim."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import MwinError, PlanError
from reconciler.plan import Action, Operation
from reconciler.planner import PlanOptions, make_plan
from reconciler.resources import network
from reconciler.spec import load_spec
from tests.helpers.builders import iso as iso_obj
from tests.helpers.builders import live, ops, spec_from, state
from tests.helpers.builders import network as net_obj
from tests.helpers.builders import vm as vm_obj
from tests.helpers.fake_mold import exec_context, in_process_mold

SPEC = "version: 1\ndefaults: {zone: Zone1}\nnetworks:\n  prep: {display_text: Prep}\n"


def test_create_uses_the_default_isolated_offering(tmp_path: Path) -> None:
    plan, _ = make_plan(spec_from(tmp_path, SPEC), state(), live())
    [create] = plan.actions
    assert create.after is not None and create.after["offering"] == \
        "DefaultIsolatedNetworkOfferingWithSourceNatService"
    assert set(create.inputs) >= {"zoneid", "networkofferingid"}


def test_a_replacement_creates_the_new_network_before_deleting_the_old_one(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, SPEC.replace(
        "{display_text: Prep}", "{display_text: Prep, gateway: 10.9.9.1, netmask: 255.255.255.0}"))
    mold = live(net_obj("n1", "prep", "network.prep", display_text="Prep"))
    plan, _ = make_plan(doc, state({"network.prep": ("n1", {})}), mold)
    assert ops(plan) == [("network.prep", "replace"), ("network.prep", "delete")]
    replace, delete = plan.actions
    assert replace.requires_replace == ["gateway"] and replace.inputs["delete_old"] is False
    assert (delete.mold_id, delete.inputs["orphan"], delete.depends_on) == ("n1", True, [0])
    assert plan.summary.model_dump() == {"add": 1, "change": 0, "destroy": 1, "replace": 1,
                                         "adopt": 0, "forget": 0, "refresh": 0}


VM_SPEC = """version: 1
defaults: {zone: Zone1}
isos:
  a: {url: "https://example.com/a.iso", os_type: Windows PV}
networks:
  n1: {display_text: n1, external_id: x1}
  n2: {display_text: n2}
vms:
  m: {install_iso: a, cdrom: null, compute_offering: 4vCore-8GB, disk_offering: 50GB,
      networks: NETWORKS, state: running}
"""


def _vm_world(snapshots: dict[str, str] | None = None) -> tuple[Any, Any]:
    mold = live(iso_obj("i1", "a", "iso.a"), net_obj("old", "n1", "network.n1", display_text="n1"),
                net_obj("other", "n2", "network.n2", display_text="n2"),
                vm_obj("v1", "m", "vm.m", source="a", networks={"n1": "old", "n2": "other"},
                       state="running", snapshots=snapshots))
    recorded = state({"iso.a": ("i1", {}), "network.n1": ("old", {}),
                      "network.n2": ("other", {}), "vm.m": ("v1", {})})
    return mold, recorded


def test_the_vms_in_a_replaced_network_move_their_nics_before_it_is_deleted(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, VM_SPEC.replace("NETWORKS", "[n1, n2]"))
    plan, diags = make_plan(doc, *reversed(_vm_world()))
    assert ops(plan) == [("network.n1", "replace"), ("vm.m", "add_nic"),
                         ("vm.m", "update_default_nic"), ("vm.m", "remove_nic"),
                         ("network.n1", "delete")]
    _, add, default, remove, delete = plan.actions
    assert (add.inputs["networkid"], add.depends_on) == ({"$ref": "network.n1"}, [0])
    assert (default.inputs["networkid"], default.depends_on) == ({"$ref": "network.n1"}, [1])
    assert (remove.inputs["networkid"], remove.depends_on) == ("old", [2])
    assert (delete.mold_id, delete.depends_on) == ("old", [0, 3])
    assert plan.warnings == [] and not diags.has_errors
    assert plan.summary.change == 1 and plan.summary.replace == 1


def test_a_nic_that_is_not_the_default_moves_without_a_default_change(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, VM_SPEC.replace("NETWORKS", "[n2, n1]"))
    mold, recorded = _vm_world()
    mold.objects["vm"]["v1"] = vm_obj("v1", "m", "vm.m", source="a", state="running",
                                      networks={"n2": "other", "n1": "old"})
    plan, _ = make_plan(doc, recorded, mold)
    assert ops(plan) == [("network.n1", "replace"), ("vm.m", "add_nic"), ("vm.m", "remove_nic"),
                         ("network.n1", "delete")]


def test_nic_moves_in_a_vm_with_vm_snapshots_are_a_plan_error(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, VM_SPEC.replace("NETWORKS", "[n1, n2]").replace(
        "state: running}", "state: running, snapshots: [clean]}"))
    mold, recorded = _vm_world(snapshots={"clean": "s1"})
    with pytest.raises(PlanError) as caught:
        make_plan(doc, recorded, mold)
    text = str(caught.value)
    assert "spec.yaml:10:" in text and "vm.m" in text
    assert "network.n1 is replaced" in text and "VM snapshots (clean)" in text


def test_replace_flag_on_a_network_in_use_warns_and_plans_no_nic_moves(tmp_path: Path) -> None:
    """`--replace` is one action that deletes the old network itself: nothing comes between
    (and no circular order); the apply then says what the next apply does."""
    doc = spec_from(tmp_path, VM_SPEC.replace("NETWORKS", "[n1, n2]").replace(", external_id: x1",
                                                                               ""))
    mold, recorded = _vm_world()
    plan, _ = make_plan(doc, recorded, mold, PlanOptions(force_replace=("network.n1",)))
    assert ops(plan) == [("network.n1", "replace")]
    assert "delete_old" not in plan.actions[0].inputs  # deleted in that action
    assert plan.warnings == ["warning: network.n1: vm 'm' (v1), vm.m, holds old of network.n1: "
                             "deleting it fails until it is released"]


@pytest.mark.parametrize(("values", "message", "where"), [
    ("gateway: 10.9.0.1", "`gateway` without `netmask`: Mold uses them only together", "gateway"),
    ("netmask: 255.255.0.0", "`netmask` without `gateway`", "netmask"),
    ("gateway: 10.9.0.300, netmask: 255.255.255.0", "`gateway`: '10.9.0.300' is not an IPv4 "
     "address", "gateway"),
    ("gateway: 10.9.0.1, netmask: 255.0.255.0", "`netmask`: '255.0.255.0' is not an IPv4 netmask",
     "netmask"),
    ("gateway: 10.9.0.0, netmask: 255.255.255.0", "`gateway`: 10.9.0.0 is the network or "
     "broadcast address of 10.9.0.0/24", "gateway"),
])
def test_gateway_and_netmask_go_together_and_must_be_valid(tmp_path: Path, values: str,
                                                           message: str, where: str) -> None:
    text = SPEC.replace("{display_text: Prep}", "{display_text: Prep, " + values + "}")
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    doc, diags = load_spec(path)
    assert doc is None
    [error] = diags.errors
    column = text.splitlines()[3].index(where + ": ") + len(where + ": ") + 1  # its value
    assert error.render().startswith(f"{path}:4:{column}: error: network.prep: {message}")


def test_create_update_delete_and_a_refused_delete_says_why() -> None:
    with in_process_mold() as (sim, client):
        zone = client.list_all("listZones", "zone")[0]["id"]
        offering = next(o["id"] for o in client.list_all("listNetworkOfferings", "networkoffering")
                        if o["name"].startswith("DefaultIsolated"))
        after = {"name": "prep", "display_text": "Prep", "gateway": None, "netmask": None,
                 "network_domain": None, "external_id": None}
        made = network.execute(Action(address="network.prep", operation=Operation.CREATE,
                                      reason="r", after=after,
                                      inputs={"zoneid": zone, "networkofferingid": offering}),
                               exec_context(client))
        ident = str(made.mold_id)
        network.execute(Action(address="network.prep", operation=Operation.UPDATE, reason="r",
                               mold_id=ident, after={**after, "display_text": "준비"},
                               inputs={"id": ident, "commands": ["updateNetwork"]}),
                        exec_context(client))
        [row] = client.list_all("listNetworks", "network", {"id": ident})
        assert row["displaytext"] == "준비"
        sim.set_faults(fail_jobs=[{"command": "deleteNetwork",
                                   "errortext": "Failed to delete network"}])
        delete = Action(address="network.prep", operation=Operation.DELETE, reason="r",
                        mold_id=ident, inputs={"id": ident})
        with pytest.raises(MwinError) as caught:
            network.execute(delete, exec_context(client))
        # no VM this account can list is in it: one it cannot list (a destroyed one) is
        assert "No VM this account can list has a NIC in it" in str(caught.value)
        assert "destroyed VM not yet expunged" in str(caught.value)
        assert network.execute(delete, exec_context(client)).removed is True
        assert client.list_all("listNetworks", "network", {}) == []


def test_a_replacement_that_mold_refuses_to_create_leaves_the_old_network() -> None:
    with in_process_mold() as (_sim, client):
        zone = client.list_all("listZones", "zone")[0]["id"]
        offering = next(o["id"] for o in client.list_all("listNetworkOfferings", "networkoffering")
                        if o["name"].startswith("DefaultIsolated"))
        inputs = {"zoneid": zone, "networkofferingid": offering}
        after = {"name": "prep", "display_text": "Prep", "gateway": None, "netmask": None,
                 "network_domain": None, "external_id": None}
        old = str(network.execute(Action(address="network.prep", operation=Operation.CREATE,
                                         reason="r", after=after, inputs=inputs),
                                  exec_context(client)).mold_id)
        replace = Action(address="network.prep", operation=Operation.REPLACE, reason="r",
                         mold_id=old, after={**after, "external_id": "x1"},
                         inputs={**inputs, "id": old})
        client.call("updateConfiguration", {"name": "allow.duplicate.networkname",
                                            "value": "false"})
        with pytest.raises(MwinError) as caught:
            network.execute(replace, exec_context(client))
        assert "Another network with same name already exists" in str(caught.value)
        assert f"before it deletes the old one ({old}, left as it is)" in str(caught.value)
        assert [n["id"] for n in client.list_all("listNetworks", "network", {})] == [old]

        client.call("updateConfiguration", {"name": "allow.duplicate.networkname",
                                            "value": "true"})
        new = str(network.execute(replace, exec_context(client)).mold_id)
        rows = client.list_all("listNetworks", "network", {})
        assert [(n["id"], n["name"], n.get("externalid")) for n in rows] == [(new, "prep", "x1")]
        assert new != old


def test_an_interrupted_move_goes_on_where_it_stopped(tmp_path: Path) -> None:
    """The apply stopped after add_nic: the VM has NICs in the old and the new network of one
    name, state records the new one; the old is a leftover whose NIC still moves away."""
    doc = spec_from(tmp_path, VM_SPEC.replace("NETWORKS", "[n1, n2]"))
    mold, recorded = _vm_world()
    mold.objects["network"]["new"] = net_obj("new", "n1", "network.n1", display_text="n1",
                                             external_id="x1")
    moved = vm_obj("v1", "m", "vm.m", source="a", state="running",
                   networks={"n1": "new", "n2": "other"})
    moved.attrs["networks"] = ["n1", "n2", "n1"]  # as vm.observe reads them
    moved.private["nic_network_ids"] = ["old", "other", "new"]
    mold.objects["vm"]["v1"] = moved
    recorded.resources["network.n1"] = recorded.resources["network.n1"].model_copy(
        update={"id": "new"})
    plan, _ = make_plan(doc, recorded, mold)
    assert ops(plan) == [("vm.m", "add_nic"), ("vm.m", "update_default_nic"),
                         ("vm.m", "remove_nic"), ("network.n1", "delete")]
    assert (plan.actions[2].inputs["networkid"], plan.actions[3].mold_id) == ("old", "old")

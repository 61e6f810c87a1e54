"""VMs: what a deploy sends, deploy-only settings, steps; execution of steps in process."""

from __future__ import annotations

from pathlib import Path

from reconciler.plan import Action, Operation
from reconciler.planner import make_plan
from reconciler.resources import vm
from tests.helpers.builders import iso, live, network, ops, spec_from, state
from tests.helpers.builders import vm as vm_obj
from tests.helpers.fake_mold import exec_context, in_process_mold

SPEC = """\
version: 1
defaults: {zone: Zone1}
isos:
  inst: {url: "https://example.com/inst.iso", os_type: Windows PV}
networks:
  net: {}
vms:
  m1:
    install_iso: inst
    compute_offering: 4vCore-8GB
    disk_offering: 50GB
    networks: [net]
"""


def test_a_deploy_sends_boot_settings_only_as_declared(tmp_path: Path) -> None:
    plain, _ = make_plan(spec_from(tmp_path, SPEC), state(), live())
    deploy = next(a for a in plain.actions if a.address == "vm.m1")
    assert not {"boottype", "bootmode", "tpmversion"} & set(deploy.inputs)
    uefi, _ = make_plan(spec_from(tmp_path, SPEC + "    boot: {type: UEFI, mode: SECURE, "
                                               "tpm: \"2.0\"}\n"), state(), live())
    deploy = next(a for a in uefi.actions if a.address == "vm.m1")
    assert (deploy.inputs["boottype"], deploy.inputs["bootmode"], deploy.inputs["tpmversion"]) \
        == ("UEFI", "SECURE", "V2_0")


def test_deploy_only_settings_warn_and_plan_nothing(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, SPEC.replace("50GB", "100GB"))
    records = {"iso.inst": ("i1", {}), "network.net": ("n1", {}), "vm.m1": ("v1", {})}
    mold = live(iso("i1", "inst", "iso.inst"), network("n1", "net", "network.net"),
                vm_obj("v1", "m1", "vm.m1", state="running", networks={"net": "n1"}))
    plan, diags = make_plan(doc, state(records), mold)
    assert ops(plan) == []
    assert [w.summary.split(":")[0] for w in diags.warnings] == [
        "disk_offering was '50GB' when the VM was deployed; the spec now says '100GB'"]


def test_a_vm_snapshot_in_error_is_deleted_before_it_is_taken_again(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, SPEC + "    state: stopped\n    snapshots: [base]\n")
    records = {"iso.inst": ("i1", {}), "network.net": ("n1", {}),
               "vm.m1": ("v1", {"snapshots": ["base"]})}
    failed = vm_obj("v1", "m1", "vm.m1", networks={"net": "n1"})
    failed.private["failed_snapshots"] = {"base": "s9"}
    plan, _ = make_plan(doc, state(records), live(iso("i1", "inst", "iso.inst"),
                                                  network("n1", "net", "network.net"), failed))
    assert [(a.operation.value, a.inputs.get("snapshot_id")) for a in plan.actions] == [
        ("delete_snapshot", "s9"), ("create_snapshot", None)]


def test_steps_read_the_vm_back_and_never_send_an_empty_group() -> None:
    with in_process_mold() as (sim, client):
        zone = client.list_all("listZones", "zone")[0]["id"]
        ostype = next(o["id"] for o in client.list_all("listOsTypes", "ostype")
                      if o["name"] == "Windows PV")
        image = client.call("registerIso", {"name": "inst", "url": "https://e.com/i.iso",
                                            "zoneid": zone, "ostypeid": ostype})["iso"][0]["id"]
        offering = next(o["id"] for o in client.list_all("listNetworkOfferings",
                                                         "networkoffering")
                        if o["name"].startswith("DefaultIsolated"))
        net = client.call("createNetwork", {"name": "net", "zoneid": zone,
                                            "networkofferingid": offering})["network"]["id"]
        inputs = {"name": "m1", "displayname": "m1", "zoneid": zone, "templateid": image,
                  "hypervisor": "KVM", "networkids": [net], "startvm": True,
                  "serviceofferingid": client.list_all("listServiceOfferings",
                                                       "serviceoffering")[0]["id"],
                  "diskofferingid": client.list_all("listDiskOfferings", "diskoffering")[0]["id"],
                  "boottype": "BIOS", "bootmode": "LEGACY"}
        made = vm.execute(Action(address="vm.m1", operation=Operation.CREATE, reason="r",
                                 inputs=inputs), exec_context(client))
        ident = str(made.mold_id)
        vm.execute(Action(address="vm.m1", operation=Operation.DETACH_ISO, reason="r",
                          mold_id=ident, inputs={"id": ident}), exec_context(client))
        vm.execute(Action(address="vm.m1", operation=Operation.UPDATE, reason="r", mold_id=ident,
                          after={"display_name": "Master", "group": None, "name": "m1"},
                          inputs={"id": ident}), exec_context(client))
        [row] = client.list_all("listVirtualMachines", "virtualmachine", {"id": ident})
        assert (row["displayname"], "isoid" in row, "group" in row) == ("Master", False, False)


def test_add_nic_into_a_network_the_vm_is_already_in_does_nothing() -> None:
    """A move of NICs that an earlier apply began (the NIC in the new network is there)."""
    with in_process_mold() as (_sim, client):
        zone = client.list_all("listZones", "zone")[0]["id"]
        ostype = next(o["id"] for o in client.list_all("listOsTypes", "ostype")
                      if o["name"] == "Windows PV")
        image = client.call("registerIso", {"name": "inst", "url": "https://e.com/i.iso",
                                            "zoneid": zone, "ostypeid": ostype})["iso"][0]["id"]
        offering = next(o["id"] for o in client.list_all("listNetworkOfferings",
                                                         "networkoffering")
                        if o["name"].startswith("DefaultIsolated"))
        nets = [client.call("createNetwork", {"name": "net", "zoneid": zone,
                                              "networkofferingid": offering})["network"]["id"]
                for _ in range(2)]
        inputs = {"name": "m1", "displayname": "m1", "zoneid": zone, "templateid": image,
                  "hypervisor": "KVM", "networkids": nets[:1], "startvm": True,
                  "serviceofferingid": client.list_all("listServiceOfferings",
                                                       "serviceoffering")[0]["id"],
                  "diskofferingid": client.list_all("listDiskOfferings", "diskoffering")[0]["id"],
                  "boottype": "BIOS", "bootmode": "LEGACY"}
        ident = str(vm.execute(Action(address="vm.m1", operation=Operation.CREATE, reason="r",
                                      inputs=inputs), exec_context(client)).mold_id)
        add = Action(address="vm.m1", operation=Operation.ADD_NIC, reason="r", mold_id=ident,
                     inputs={"id": ident, "networkid": nets[1]})
        for _ in range(2):
            vm.execute(add, exec_context(client))
        [row] = client.list_all("listVirtualMachines", "virtualmachine", {"id": ident})
        assert [n["networkid"] for n in row["nic"]] == nets

"""The planner beside other states: ownership tags, no cascading replacements, protection
remembered, NICs in place. Inline YAML + State + LiveSnapshot → Plan, no HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import PlanError
from reconciler.plan import Operation
from reconciler.planner import PlanOptions, make_destroy_plan, make_plan
from tests.helpers.builders import OTHER_OWNER, OWNER, iso, live, network, ops, spec_from, state, vm

BASE = """\
version: 1
defaults: {zone: Zone1}
isos:
  inst: {url: "https://example.com/inst.iso", os_type: Windows PV}
networks:
  net: {}
"""
VM_M1 = """\
vms:
  m1:
    install_iso: inst
    compute_offering: 4vCore-8GB
    disk_offering: 50GB
    networks: [net]
    state: stopped
"""


def held(*extra: object) -> list:
    return [iso("i1", "inst", "iso.inst"), network("n1", "net", "network.net"), *extra]


def recorded(**more: tuple[str, dict]) -> dict:
    return {"iso.inst": ("i1", {}), "network.net": ("n1", {}), **more}


# --- 1. a state takes only what it owns -------------------------------------------------

def test_object_of_another_owner_is_an_error_at_the_declaration(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, BASE)
    mold = live(iso("i1", "inst", "iso.inst", owner=OTHER_OWNER), network("n1", "net", None))
    with pytest.raises(PlanError) as caught:
        make_plan(doc, state(), mold)
    [problem] = caught.value.diagnostics.errors
    assert (problem.address, problem.pos.line if problem.pos else None) == ("iso.inst", 4)
    assert problem.summary == (f"iso i1 ('inst') carries this address and belongs to another "
                               f"state (owner {OTHER_OWNER}): this state never adopts, changes "
                               "or deletes it")
    assert problem.detail is not None and "mwin import iso.inst i1 --take-over" in problem.detail


def test_own_tagged_object_is_adopted_and_untagged_by_name(tmp_path: Path) -> None:
    plan, _ = make_plan(spec_from(tmp_path, BASE), state(),
                        live(iso("i1", "inst", "iso.inst"), network("n1", "net", None)))
    assert ops(plan) == [("iso.inst", "adopt"), ("network.net", "adopt")]
    assert plan.actions[0].inputs["add_tags"] == []
    assert plan.actions[1].inputs["add_tags"] == ["mwin:address", "mwin:owner"]


def test_unowned_object_needs_an_explicit_import(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, BASE)
    mold = live(iso("i1", "inst", "iso.inst", owner=None), network("n1", "net", "network.net"))
    with pytest.raises(PlanError) as caught:
        make_plan(doc, state(), mold)
    [problem] = caught.value.diagnostics.errors
    assert problem.summary.startswith("Mold holds 1 object(s) tagged 'iso.inst' by an older "
                                      "mwin, with no owner tag: i1.")
    assert problem.detail is not None and "mwin import --all --unowned" in problem.detail
    plan, _ = make_plan(doc, state(), mold, PlanOptions(adopt_unowned=True))
    assert ops(plan) == [("iso.inst", "adopt"), ("network.net", "adopt")]
    assert plan.actions[0].inputs["add_tags"] == ["mwin:owner"]


def test_unowned_object_the_state_records_gets_the_owner_tag(tmp_path: Path) -> None:
    plan, _ = make_plan(spec_from(tmp_path, BASE), state(recorded()),
                        live(iso("i1", "inst", "iso.inst", owner=None),
                             network("n1", "net", "network.net")))
    assert ops(plan) == [("iso.inst", "adopt")]
    assert plan.actions[0].reason == ("recorded in this state, tagged by an older mwin without "
                                      f"an owner: add mwin:owner={OWNER}")
    assert plan.summary.adopt == 1 and plan.summary.change == 0


def test_removed_resource_held_by_another_owner_is_only_forgotten(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, BASE)
    mold = live(*held(iso("i9", "old", "iso.old", owner=OTHER_OWNER)))
    plan, _ = make_plan(doc, state(recorded(**{"iso.old": ("i9", {})})), mold)
    assert ops(plan) == [("iso.old", "forget")]
    assert "belongs to another state" in plan.actions[0].reason
    assert plan.actions[0].destructive is False


def test_other_owners_leftovers_are_never_deleted(tmp_path: Path) -> None:
    mold = live(*held(iso("i2", "inst", "iso.inst", owner=OTHER_OWNER),
                      iso("i3", "inst", "iso.inst", owner=None)))
    plan, _ = make_plan(spec_from(tmp_path, BASE), state(recorded()), mold)
    assert ops(plan) == []


# --- 2. no cascading replacements ------------------------------------------------------

def test_iso_url_bump_ejects_and_reinserts_instead_of_replacing_the_vm(tmp_path: Path) -> None:
    spec = (BASE + VM_M1 + "    cdrom: inst\n").replace("inst.iso", "inst-v2.iso")
    mold = live(*held(vm("v1", "m1", "vm.m1", iso_id="i1", cdrom="inst", networks={"net": "n1"})))
    plan, diags = make_plan(spec_from(tmp_path, spec), state(recorded(**{"vm.m1": ("v1", {})})),
                            mold)
    assert ops(plan) == [("iso.inst", "replace"), ("vm.m1", "detach_iso"),
                         ("iso.inst", "delete"), ("vm.m1", "attach_iso")]
    replace, detach, delete, attach = plan.actions
    assert delete.depends_on == [0, 1] and delete.mold_id == "i1"  # after the eject
    assert attach.depends_on == [0, 1] and attach.inputs["isoid"] == {"$ref": "iso.inst"}
    assert not any(a.address == "vm.m1" and a.destructive for a in plan.actions)
    assert plan.summary.model_dump() == {"add": 1, "change": 1, "destroy": 1, "replace": 1,
                                         "adopt": 0, "forget": 0, "refresh": 0}
    assert diags.warnings == []


def test_vm_with_cdrom_omitted_gets_the_new_iso_back(tmp_path: Path) -> None:
    spec = (BASE + VM_M1).replace("inst.iso", "inst-v2.iso")
    mold = live(*held(vm("v1", "m1", "vm.m1", iso_id="i1", cdrom="inst")))
    plan, _ = make_plan(spec_from(tmp_path, spec), state(recorded(**{"vm.m1": ("v1", {})})), mold)
    assert ("vm.m1", "attach_iso") in ops(plan)


def test_install_iso_pointing_elsewhere_is_a_warning_not_a_replacement(tmp_path: Path) -> None:
    spec = BASE.replace("isos:\n", "isos:\n  other: {url: \"https://example.com/other.iso\", "
                        "os_type: Windows PV}\n") + VM_M1.replace("install_iso: inst",
                                                                  "install_iso: other")
    mold = live(*held(iso("i2", "other", "iso.other"), vm("v1", "m1", "vm.m1")))
    records = recorded(**{"iso.other": ("i2", {}),
                          "vm.m1": ("v1", {"install_iso": "inst", "template": None})})
    plan, diags = make_plan(spec_from(tmp_path, spec), state(records), mold)
    assert ops(plan) == []
    [warning] = diags.warnings
    assert warning.summary == ("deployed from install_iso 'inst'; the spec now says install_iso "
                               "'other': nothing to do (`--replace vm.m1` redeploys it and "
                               "destroys its disk; `lifecycle.ignore_changes` silences this)")
    assert warning.pos is not None and warning.pos.line == 10  # the install_iso line


def test_ignore_changes_takes_spec_keys(tmp_path: Path) -> None:
    spec = BASE + VM_M1.replace("install_iso: inst", "install_iso: {name: gone}") + \
        "    lifecycle: {ignore_changes: [install_iso, boot.type]}\n"
    mold = live(*held(vm("v1", "m1", "vm.m1", source="gone", **{"boot.type": "UEFI",
                                                                 "boot.mode": "LEGACY"})),
                iso("i7", "gone", None))
    plan, diags = make_plan(spec_from(tmp_path, spec), state(recorded(**{"vm.m1": ("v1", {})})),
                            mold)
    assert ops(plan) == [] and diags.warnings == []


def test_boot_type_change_stays_a_loud_replacement(tmp_path: Path) -> None:
    spec = BASE + VM_M1 + "    boot: {type: UEFI, mode: SECURE}\n"
    mold = live(*held(vm("v1", "m1", "vm.m1")))
    plan, _ = make_plan(spec_from(tmp_path, spec), state(recorded(**{"vm.m1": ("v1", {})})), mold)
    assert ops(plan)[0] == ("vm.m1", "replace")
    assert "boot type can never change once the OS is installed" in plan.actions[0].reason
    assert plan.actions[0].requires_replace == ["boot.type", "boot.mode"]


# --- 3. the c.yaml case: no cycle ------------------------------------------------------

def test_leftover_iso_held_by_one_vm_while_another_deploys_from_it(tmp_path: Path) -> None:
    spec = (BASE + VM_M1 + VM_M1.replace("vms:\n", "").replace("m1:", "m2:")).replace(
        "inst.iso", "inst-v2.iso")
    mold = live(iso("i2", "inst", "iso.inst", url="https://example.com/inst-v2.iso"),
                iso("i1", "inst", "iso.inst"), network("n1", "net", "network.net"),
                vm("v1", "m1", "vm.m1", iso_id="i1", cdrom="inst"))
    records = {"iso.inst": ("i2", {}), "network.net": ("n1", {}), "vm.m1": ("v1", {})}
    plan, _ = make_plan(spec_from(tmp_path, spec), state(records), mold)
    assert sorted(ops(plan)) == [("iso.inst", "delete"), ("vm.m1", "attach_iso"),
                                 ("vm.m1", "detach_iso"), ("vm.m2", "create"),
                                 ("vm.m2", "stop")]
    index = {(a.address, a.operation.value): i for i, a in enumerate(plan.actions)}
    assert index[("vm.m1", "detach_iso")] in plan.actions[index[("iso.inst", "delete")]].depends_on
    for i, action in enumerate(plan.actions):
        assert all(d < i for d in action.depends_on)


# --- 4. protection remembered, summaries, NICs ------------------------------------------

def test_protected_resource_removed_from_the_spec_is_an_error(tmp_path: Path) -> None:
    records = recorded(**{"vm.m1": ("v1", {})})
    mold = live(*held(vm("v1", "m1", "vm.m1")))
    with pytest.raises(PlanError) as caught:
        make_plan(spec_from(tmp_path, BASE), state(records, protected=("vm.m1",)), mold)
    [problem] = caught.value.diagnostics.errors
    assert problem.address == "vm.m1"
    assert problem.summary.startswith("protected (state records lifecycle.protect from its "
                                      "last apply)")
    with pytest.raises(PlanError):
        make_destroy_plan(state(records, protected=("vm.m1",)), mold)


def test_protection_is_recorded_by_a_state_only_action(tmp_path: Path) -> None:
    spec = BASE + VM_M1 + "    lifecycle: {protect: true}\n"
    mold = live(*held(vm("v1", "m1", "vm.m1")))
    plan, _ = make_plan(spec_from(tmp_path, spec), state(recorded(**{"vm.m1": ("v1", {})})), mold)
    assert ops(plan) == [("vm.m1", "refresh")]
    assert plan.actions[0].protect is True and plan.actions[0].reason == (
        "lifecycle.protect is now true: record it in state")


def test_summary_counts_changes_of_adopted_resources(tmp_path: Path) -> None:
    spec = BASE + VM_M1.replace("state: stopped", "state: running")
    mold = live(*held(vm("v1", "m1", None)))
    plan, _ = make_plan(spec_from(tmp_path, spec), state(recorded()), mold)
    assert ops(plan) == [("vm.m1", "adopt"), ("vm.m1", "start")]
    assert (plan.summary.adopt, plan.summary.change) == (1, 1)


def test_networks_change_in_place(tmp_path: Path) -> None:
    spec = BASE.replace("  net: {}\n", "  net: {}\n  lab: {}\n") + VM_M1.replace(
        "networks: [net]", "networks: [lab]")
    mold = live(*held(network("n2", "lab", "network.lab"), vm("v1", "m1", "vm.m1")))
    records = recorded(**{"network.lab": ("n2", {}), "vm.m1": ("v1", {})})
    plan, _ = make_plan(spec_from(tmp_path, spec), state(records), mold)
    assert ops(plan) == [("vm.m1", "add_nic"), ("vm.m1", "update_default_nic"),
                         ("vm.m1", "remove_nic")]
    add, default, remove = plan.actions
    assert add.inputs["networkid"] == default.inputs["networkid"] == {"$ref": "network.lab"}
    assert add.depends_on == [] or all(plan.actions[d].address == "network.lab"
                                       for d in add.depends_on)
    assert remove.inputs["networkid"] == "n1"
    assert (add.after or {})["networks"] == ["net", "lab"]
    assert (remove.after or {})["networks"] == ["lab"]
    assert all(a.operation is not Operation.REPLACE for a in plan.actions)


def test_private_values_never_reach_a_plan(tmp_path: Path) -> None:
    mold = live(*held(vm("v1", "m1", "vm.m1", iso_id="i1", cdrom="inst",
                         snapshots={"after-sysprep": "s1"})))
    plan = make_destroy_plan(state(recorded(**{"vm.m1": ("v1", {})})), mold)
    for action in plan.actions:
        for attrs in (action.before or {}, action.after or {}):
            assert not [k for k in attrs if k.startswith("_")], action
    vm_delete = next(a for a in plan.actions if a.address == "vm.m1")
    assert (vm_delete.before or {})["snapshots"] == ["after-sysprep"]


def test_a_vm_whose_install_source_nobody_knows_gets_no_warning(tmp_path: Path) -> None:
    """Adopted (state rm, or a lost state) after its ISO was replaced: Mold shows no source
    any more and state records none, which is no evidence of a change."""
    mold = live(*held(vm("v1", "m1", "vm.m1", source="")))
    records = recorded(**{"vm.m1": ("v1", {"install_iso": None, "template": None})})
    plan, diags = make_plan(spec_from(tmp_path, BASE + VM_M1), state(records), mold)
    assert [w.summary for w in diags.warnings if "deployed from" in w.summary] == []

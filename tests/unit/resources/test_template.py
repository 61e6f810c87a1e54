"""Templates: a create asks the planner for the VM's clean stop; a new revision keeps the
address under protection; execution from a stopped VM in process."""

from __future__ import annotations

from pathlib import Path

from reconciler.plan import Operation
from reconciler.planner import make_plan
from tests.helpers.builders import iso, live, network, spec_from, state, template, vm

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
    cdrom: null
    compute_offering: 4vCore-8GB
    disk_offering: 50GB
    networks: [net]
    state: stopped
templates:
  base:
    from_vm: m1
    os_type: Windows PV
    lifecycle: {protect: true}
"""
RECORDS = {"iso.inst": ("i1", {}), "network.net": ("n1", {}), "vm.m1": ("v1", {})}


def world(*extra: object) -> object:
    return live(iso("i1", "inst", "iso.inst"), network("n1", "net", "network.net"),
                vm("v1", "m1", "vm.m1", state="running", networks={"net": "n1"}), *extra)


def test_the_vm_s_stop_becomes_a_clean_one_whatever_the_kind_order(tmp_path: Path) -> None:
    plan, _ = make_plan(spec_from(tmp_path, SPEC), state(RECORDS), world())
    steps = {(a.address, a.operation): a for a in plan.actions}
    stop = steps[("vm.m1", Operation.STOP)]
    create = steps[("template.base", Operation.CREATE_TEMPLATE)]
    assert stop.inputs["for_template"] is True and stop.reason.endswith(
        "(so a template can be made from its disk)")
    assert plan.actions.index(stop) in create.depends_on


def test_a_new_revision_of_a_protected_template_is_planned(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, SPEC + "    revision: 2\n")
    records = {**RECORDS, "template.base": ("t1", {})}
    plan, _ = make_plan(doc, state(records, protected=("template.base",)),
                        world(template("t1", "base", "template.base")))
    replace = next(a for a in plan.actions if a.address == "template.base")
    assert (replace.operation, replace.requires_replace) == (Operation.REPLACE, ["revision"])


def test_a_copy_on_its_way_keeps_its_first_wait_only_while_it_is_the_same_copy() -> None:
    from reconciler.resources.template import _awaiting

    waits = {"Zone2": {"copy": "2026-12-01T20:00:00+0000", "since": 1000.0}}
    same = {"Zone2": {"status": "Active", "copy": "2026-12-01T20:00:00+0000"}}
    other = {"Zone2": {"status": "5% Downloaded", "copy": "2026-12-01T21:00:00+0000"}}
    assert _awaiting(same, waits) == {"Zone2": {"copy": "2026-12-01T20:00:00+0000",
                                                "since": 1000.0}}
    assert _awaiting(other, waits) == {"Zone2": {"copy": "2026-12-01T21:00:00+0000",
                                                 "since": None}}  # a new copy: waited anew
    assert _awaiting(same, {}) == {"Zone2": {"copy": "2026-12-01T20:00:00+0000", "since": None}}

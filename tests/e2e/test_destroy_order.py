"""A destroy deletes what uses an object before the object: a VM deployed from a template goes
before the template (Mold refuses to delete a template VMs use), although templates are made
after VMs."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.checks import STOP_AT_ONCE, ok, write
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

SPEC = """\
version: 1
defaults: {zone: Zone1}
isos:
  a: {url: "https://example.com/a.iso", os_type: Windows PV}
networks:
  n1: {}
vms:
  m:
    install_iso: a
    cdrom: null
    compute_offering: 2vCore-4GB
    disk_offering: 50GB
    networks: [n1]
    state: stopped
  c: {template: t, compute_offering: 2vCore-4GB, networks: [n1]}
templates:
  t: {from_vm: m, os_type: Windows PV}
"""
FAST = ("--auto-approve", *STOP_AT_ONCE)


def test_destroy_deletes_the_vm_from_a_template_before_the_template(
        mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", SPEC)
    ok(mwin("apply", str(spec), *FAST))
    destroyed = ok(mwin("destroy", str(spec), "--auto-approve", "--json"))
    assert "Traceback" not in destroyed.err
    assert mold.items("listTemplates", "template", templatefilter="self") == []
    assert mold.items("listVirtualMachines", "virtualmachine") == []
    assert mold.items("listIsos", "iso", isofilter="self") == []


def test_removing_both_from_the_spec_deletes_the_dependant_first(
        mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.yaml", SPEC)
    ok(mwin("apply", str(spec), *FAST))
    write(spec, SPEC.split("  c: {template")[0] + "templates: {}\n")
    planned = mwin.plan_json(spec)
    order = {a["address"]: i for i, a in enumerate(planned["actions"])}
    template_delete = planned["actions"][order["template.t"]]
    assert order["vm.c"] in template_delete["depends_on"]
    ok(mwin("apply", str(spec), *FAST))
    assert mold.items("listTemplates", "template", templatefilter="self") == []
    [vm] = mold.items("listVirtualMachines", "virtualmachine")
    assert vm["name"] == "m"

"""What a plan reads of Mold (resources.focus, live.plan_focus): this owner's objects by the
owner tag, plus the few others the planner needs; the real refresh functions against an
in-process moldsim seeded with mine, another state's and untagged objects."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from moldsim.server import MoldSim
from reconciler.live import plan_focus
from reconciler.model import Catalog, Ref
from reconciler.resources import KINDS, iso, network, template
from reconciler.resources.focus import TARGETED_MAX, Focus
from reconciler.spec import load_spec
from reconciler.state import ResourceState, State
from tests.helpers.fake_mold import in_process_mold

ME, THEM = "default.0123456789ab", "other.ba9876543210"
CATALOG = Catalog({})


def seed(sim: MoldSim, kind: str, count: int, names: str, **extra: Any) -> None:
    sim.control("POST", "/moldsim/seed", {kind: {"count": count, "names": names, **extra}})


def commands(sim: MoldSim) -> Counter[str]:
    return Counter(sim.api.stats()["by_command"])


def ids_by_name(sim: MoldSim, coll: str) -> dict[str, str]:
    return {r["name"]: r["id"] for r in sim.store.coll(coll).values()}


def mine_and_others(sim: MoldSim) -> None:
    seed(sim, "isos", 3, "win-", tags={"mwin:owner": ME}, address_prefix="iso.win-")
    seed(sim, "isos", 4, "win-", tags={"mwin:owner": THEM}, address_prefix="iso.win-")
    seed(sim, "isos", 5, "loose-")  # untagged
    sim.api.reset_stats()


def focus(names: dict[str, str], recorded: dict[str, str] | None = None,
          refs: tuple[Ref, ...] = ()) -> Focus:
    return Focus(owner=ME, names=names, recorded=recorded or {}, refs=refs)


def test_a_plan_reads_its_own_objects_by_the_owner_tag_only() -> None:
    with in_process_mold() as (sim, client):
        mine_and_others(sim)
        mine = {r["id"] for r in sim.store.coll("isos").values()
                if r["name"] in ("win-0", "win-1", "win-2")}
        found = iso.refresh(client, CATALOG, focus(
            {f"iso.win-{i}": f"win-{i}" for i in range(3)}))
        assert commands(sim) == {"listIsos": 1}
        assert {o.owner_tag for o in found} == {ME}
        assert len(found) == 3 and mine <= {o.id for o in found} | mine
        everything = iso.refresh(client, CATALOG)  # no focus: all of the account's ISOs
        assert len(everything) == 12


def test_a_declared_resource_no_own_object_carries_is_looked_for_by_address_and_name() -> None:
    with in_process_mold() as (sim, client):
        mine_and_others(sim)
        seed(sim, "isos", 1, "renamed-", address_prefix="iso.old-")  # mwin 0.1: no owner
        sim.api.reset_stats()
        found = iso.refresh(client, CATALOG, focus({
            "iso.win-0": "win-0", "iso.win-3": "win-3", "iso.loose-1": "loose-1",
            "iso.old-0": "old-0"}))
        assert commands(sim) == {"listIsos": 1 + 3 * 2}  # mine, then by address and by name
        assert {o.name: o.address_tag for o in found}["renamed-0"] == "iso.old-0"
        by_name = Counter(o.name for o in found)
        assert by_name == {"win-0": 1, "win-1": 1, "win-2": 1, "win-3": 1, "loose-1": 1,
                           "renamed-0": 1}
        theirs = [o for o in found if o.owner_tag == THEM]  # another state's: the plan says so
        assert {o.address_tag for o in theirs} == {"iso.win-3"}


def test_past_the_targeted_looks_one_unfiltered_listing_is_cheaper() -> None:
    with in_process_mold() as (sim, client):
        mine_and_others(sim)
        names = {f"iso.loose-{i}": f"loose-{i}" for i in range(TARGETED_MAX + 1)}
        found = iso.refresh(client, CATALOG, focus(names))
        assert commands(sim) == {"listIsos": 2}
        assert len(found) == 12


def test_a_recorded_id_the_owner_tag_no_longer_finds_is_looked_for_by_id() -> None:
    with in_process_mold() as (sim, client):
        mine_and_others(sim)
        taken = next(r["id"] for r in sim.store.coll("isos").values()
                     if r["name"] == "loose-2")
        gone = "00000000-0000-0000-0000-000000000000"
        found = iso.refresh(client, CATALOG, focus(
            {}, recorded={"iso.taken": taken, "iso.gone": gone}))
        assert commands(sim) == {"listIsos": 3}  # an id Mold does not know is no error
        assert taken in {o.id for o in found} and gone not in {o.id for o in found}


def test_references_to_unmanaged_objects_are_looked_for_by_name_and_id() -> None:
    with in_process_mold() as (sim, client):
        mine_and_others(sim)
        loose = ids_by_name(sim, "isos")
        found = iso.refresh(client, CATALOG, focus(
            {}, refs=(Ref(name="loose-0"), Ref(id=loose["loose-4"]))))
        assert {o.name for o in found} >= {"loose-0", "loose-4"}


def test_networks_are_found_by_keyword_and_exactly_by_name() -> None:
    with in_process_mold() as (sim, client):
        seed(sim, "networks", 3, "net-")  # net-0, net-1, net-2: all match the keyword net-1?
        seed(sim, "networks", 1, "net-1-lab")
        sim.api.reset_stats()
        found = network.refresh(client, CATALOG, focus({"network.net-1": "net-1"}))
        assert [o.name for o in found] == ["net-1"]
        assert commands(sim) == {"listNetworks": 3}


def test_templates_of_the_owner_only() -> None:
    with in_process_mold() as (sim, client):
        seed(sim, "templates", 2, "tpl-", tags={"mwin:owner": ME}, address_prefix="template.tpl-")
        seed(sim, "templates", 3, "other-")
        sim.api.reset_stats()
        found = template.refresh(client, CATALOG, focus({"template.tpl-0": "tpl-0",
                                                          "template.tpl-1": "tpl-1"}))
        assert sorted(o.name for o in found) == ["tpl-0", "tpl-1"]
        assert commands(sim) == {"listTemplates": 1}


SPEC = """\
version: 1
defaults: {zone: Zone1}
isos:
  inst: {url: "https://example.com/inst.iso", os_type: Windows PV}
networks:
  net-0: {}
vms:
  vm-0: {install_iso: inst, compute_offering: 2vCore-4GB, disk_offering: 50GB,
         networks: [net-0], state: stopped}
  vm-1: {install_iso: {name: loose}, compute_offering: 2vCore-4GB, disk_offering: Custom,
         disk_size: 120, networks: [net-0], state: stopped, cdrom: {id: abc}}
"""


def focus_of(tmp_path: Path, spec: str, state: State | None = None) -> dict[str, Focus]:
    (tmp_path / "s.yaml").write_text(spec)
    doc, diags = load_spec(tmp_path / "s.yaml")
    assert doc is not None, list(diags)
    return plan_focus(doc.resources, state or State(owner=ME), KINDS)


def test_plan_focus_names_ids_and_references(tmp_path: Path) -> None:
    state = State(owner=ME, resources={"iso.old": ResourceState(id="i-old")})
    focused = focus_of(tmp_path, SPEC, state)
    assert sorted(focused) == ["iso", "network", "vm"]
    assert focused["vm"].names == {"vm.vm-0": "vm-0", "vm.vm-1": "vm-1"}
    assert focused["iso"].recorded == {"iso.old": "i-old"}
    assert set(focused["iso"].refs) == {Ref(name="loose"), Ref(id="abc")}  # install_iso, cdrom
    assert focused["vm"].refs == focused["network"].refs == ()
    assert all(f.owner == ME for f in focused.values())


def test_vm_snapshots_and_disks_are_read_only_where_the_plan_needs_them(tmp_path: Path) -> None:
    with in_process_mold() as (sim, client):
        seed(sim, "networks", 1, "net-")
        seed(sim, "isos", 1, "inst")
        seed(sim, "vms", 2, "vm-", tags={"mwin:owner": ME}, address_prefix="vm.vm-")
        sim.api.reset_stats()
        plain = focus_of(tmp_path, SPEC.split("  vm-1:")[0])["vm"]
        assert len(KINDS["vm"].refresh(client, CATALOG, plain)) == 2
        assert commands(sim) == {"listVirtualMachines": 1}

        sim.api.reset_stats()
        sized = focus_of(tmp_path, SPEC)["vm"]  # vm-1 declares disk_size: its ROOT disk
        found = {o.name: o for o in KINDS["vm"].refresh(client, CATALOG, sized)}
        assert commands(sim) == {"listVirtualMachines": 1, "listVolumes": 1}
        assert found["vm-1"].attrs["disk_size"] == 50 and found["vm-0"].attrs["disk_size"] is None

        sim.api.reset_stats()
        snapping = focus_of(tmp_path, SPEC.split("  vm-1:")[0].replace(
            "state: stopped}", "state: stopped, snapshots: [before]}"))["vm"]
        KINDS["vm"].refresh(client, CATALOG, snapping)
        assert commands(sim)["listVMSnapshot"] == 1

        sim.api.reset_stats()
        moved = State(owner=ME, resources={"vm.vm-0": ResourceState(
            id="x", attributes={"networks": ["lab"]})})  # its networks change: NIC steps
        KINDS["vm"].refresh(client, CATALOG, focus_of(tmp_path, SPEC.split("  vm-1:")[0], moved)["vm"])
        assert commands(sim)["listVMSnapshot"] == 1

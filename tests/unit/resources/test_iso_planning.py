"""Planning ISOs: inline YAML + a State + a hand-built LiveSnapshot → assert on the Plan.

No HTTP: the live side is built from LiveObjects the way the iso module normalises
listIsos rows (spec vocabulary: zone and OS-type names, booleans).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import PlanError
from reconciler.model import ADDRESS_TAG, OWNER_TAG, Catalog, CatalogEntry, LiveObject, LiveSnapshot
from reconciler.plan import Operation
from reconciler.planner import make_plan
from reconciler.render.json import plan_dict
from reconciler.spec import SpecDoc, load_spec
from reconciler.state import ResourceState, State
from tests.helpers.builders import ops

ZONE_ID = "0b0f4a5e-0000-4000-8000-000000000001"
WINPV_ID = "0b0f4a5e-0000-4000-8000-0000000000a1"
WIN2022_ID = "0b0f4a5e-0000-4000-8000-0000000000a2"
NONE_ID = "0b0f4a5e-0000-4000-8000-0000000000a3"
OWNER = "default.0123456789ab"  # the owner of every state in these tests

CATALOG = Catalog({
    "zone": [CatalogEntry(ZONE_ID, "Zone1", {})],
    "os_type": [CatalogEntry(WINPV_ID, "Windows PV", {}),
                CatalogEntry(WIN2022_ID, "Windows Server 2022 (64-bit)", {}),
                CatalogEntry(NONE_ID, "None", {})],
})

SPEC = """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022:
    url: https://example.com/win.iso
    os_type: Windows PV
    display_text: Windows Server 2022
"""


def spec_from(tmp_path: Path, text: str) -> SpecDoc:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    doc, diags = load_spec(path)
    assert doc is not None, str(diags)
    return doc


def iso(ident: str, name: str = "win2022", tag: str | None = "iso.win2022",
        owner: str | None = OWNER, **attrs: Any) -> LiveObject:
    """An ISO as Mold holds it, in the spec's vocabulary, tagged by this state's owner."""
    base = {"name": name, "display_text": "Windows Server 2022",
            "url": "https://example.com/win.iso", "zone": "Zone1", "os_type": "Windows PV",
            "bootable": True, "public": False, "featured": False, "extractable": False,
            "checksum": None}
    base.update(attrs)
    tags = {ADDRESS_TAG: tag, **({OWNER_TAG: owner} if owner else {})} if tag else {}
    return LiveObject("iso", ident, str(base["name"]), base, tags, "ready")


def live(*objects: LiveObject) -> LiveSnapshot:
    return LiveSnapshot(CATALOG, {"iso": {o.id: o for o in objects}})


def state(**records: tuple[str, dict[str, Any]]) -> State:
    """state(**{"iso.win2022": ("id", {attrs})}) with serial 1."""
    resources = {a: ResourceState(id=i, attributes=attrs) for a, (i, attrs) in records.items()}
    return State(serial=1, resources=resources, owner=OWNER)



def test_create_when_neither_state_nor_mold_has_it(tmp_path: Path) -> None:
    plan, diags = make_plan(spec_from(tmp_path, SPEC), State(owner=OWNER), live())
    assert not diags.items
    assert ops(plan) == [("iso.win2022", "create")]
    action = plan.actions[0]
    assert action.reason == "declared in the spec, not in Mold"
    assert action.destructive is False and action.before is None and action.mold_id is None
    assert action.after == {"name": "win2022", "display_text": "Windows Server 2022",
                            "url": "https://example.com/win.iso", "zone": "Zone1",
                            "os_type": "Windows PV", "bootable": True, "public": False,
                            "featured": False, "extractable": False, "checksum": None}
    assert action.inputs == {"zoneid": ZONE_ID, "ostypeid": WINPV_ID}
    assert plan.state_lineage is None and plan.state_serial == 0


def test_no_change_no_action(tmp_path: Path) -> None:
    current = state(**{"iso.win2022": ("i1", {})})
    plan, _ = make_plan(spec_from(tmp_path, SPEC), current, live(iso("i1")))
    assert plan.actions == []
    assert plan.summary.empty
    assert plan.state_lineage == current.lineage and plan.state_serial == 1


def test_names_are_matched_case_insensitively_for_zone_and_resolved_for_os_type(tmp_path: Path) -> None:
    spec = SPEC.replace("os_type: Windows PV", "os_type: windows pv\n    zone: ZONE1")
    plan, _ = make_plan(spec_from(tmp_path, spec), state(**{"iso.win2022": ("i1", {})}),
                        live(iso("i1")))
    assert plan.actions == []


def test_display_text_change_is_an_update_iso(tmp_path: Path) -> None:
    spec = SPEC.replace("display_text: Windows Server 2022", "display_text: 윈도우 서버 2022")
    plan, _ = make_plan(spec_from(tmp_path, spec), state(**{"iso.win2022": ("i1", {})}),
                        live(iso("i1")))
    assert ops(plan) == [("iso.win2022", "update")]
    action = plan.actions[0]
    assert action.changed == ["display_text"] and action.mold_id == "i1"
    assert action.reason == "display_text changed: update in place"
    assert action.inputs["commands"] == ["updateIso"]
    assert action.before["display_text"] == "Windows Server 2022"  # type: ignore[index]
    assert action.after["display_text"] == "윈도우 서버 2022"  # type: ignore[index]
    assert plan.summary.change == 1 and plan.summary.add == 0


def test_permission_change_is_an_update_iso_permissions(tmp_path: Path) -> None:
    spec = SPEC + "    public: true\n    extractable: true\n"
    plan, _ = make_plan(spec_from(tmp_path, spec), state(**{"iso.win2022": ("i1", {})}),
                        live(iso("i1")))
    assert ops(plan) == [("iso.win2022", "update")]
    assert plan.actions[0].changed == ["public", "extractable"]
    assert plan.actions[0].inputs["commands"] == ["updateIsoPermissions"]


def test_both_kinds_of_change_make_one_action_with_both_commands(tmp_path: Path) -> None:
    spec = SPEC.replace("os_type: Windows PV", "os_type: Windows Server 2022 (64-bit)") + \
        "    public: true\n"
    plan, _ = make_plan(spec_from(tmp_path, spec), state(**{"iso.win2022": ("i1", {})}),
                        live(iso("i1")))
    assert ops(plan) == [("iso.win2022", "update")]
    assert plan.actions[0].inputs["commands"] == ["updateIso", "updateIsoPermissions"]
    assert plan.actions[0].inputs["ostypeid"] == WIN2022_ID


def test_url_change_forces_replacement_with_reason(tmp_path: Path) -> None:
    spec = SPEC.replace("win.iso", "win-2.iso") + "    public: true\n"
    plan, _ = make_plan(spec_from(tmp_path, spec), state(**{"iso.win2022": ("i1", {})}),
                        live(iso("i1")))
    assert ops(plan) == [("iso.win2022", "replace"), ("iso.win2022", "delete")]
    action = plan.actions[0]
    assert action.destructive is True and action.mold_id == "i1"
    assert action.reason == "url changed: forces replacement (Mold cannot change an ISO's URL)"
    assert action.requires_replace == ["url"]
    assert action.changed == ["url", "public"]
    assert plan_dict(plan)["summary"] == {"add": 1, "change": 0, "destroy": 1, "replace": 1,
                                          "adopt": 0, "forget": 0, "refresh": 0}
    assert plan_dict(plan)["actions"][0]["actions"] == ["create", "delete"]


def test_zone_change_forces_replacement(tmp_path: Path) -> None:
    plan, _ = make_plan(spec_from(tmp_path, SPEC.replace("Zone1", "all")),
                        state(**{"iso.win2022": ("i1", {})}), live(iso("i1")))
    assert ops(plan) == [("iso.win2022", "replace"), ("iso.win2022", "delete")]
    assert plan.actions[0].requires_replace == ["zone"]
    assert plan.actions[0].inputs["zoneid"] == "-1"


def test_removed_from_spec_is_deleted_and_gone_from_mold_is_forgotten(tmp_path: Path) -> None:
    current = state(**{"iso.win2022": ("i1", {}), "iso.old": ("i2", {"name": "old"}),
                       "iso.lost": ("i3", {"name": "lost"})})
    plan, _ = make_plan(spec_from(tmp_path, SPEC), current,
                        live(iso("i1"), iso("i2", name="old", tag="iso.old")))
    assert sorted(ops(plan)) == [("iso.lost", "forget"), ("iso.old", "delete")]
    by_address = {a.address: a for a in plan.actions}
    assert by_address["iso.old"].reason == "no longer in the spec"
    assert by_address["iso.old"].destructive is True and by_address["iso.old"].mold_id == "i2"
    assert by_address["iso.lost"].reason == "already gone from Mold: remove from state"
    assert by_address["iso.lost"].destructive is False
    assert plan_dict(plan)["summary"] == {"add": 0, "change": 0, "destroy": 1, "replace": 0,
                                          "adopt": 0, "forget": 1, "refresh": 0}


def test_deleted_in_mold_behind_our_back_is_created_again_as_drift(tmp_path: Path) -> None:
    plan, _ = make_plan(spec_from(tmp_path, SPEC), state(**{"iso.win2022": ("i1", {})}), live())
    assert ops(plan) == [("iso.win2022", "create")]
    assert plan.actions[0].drift is True
    assert plan.actions[0].reason == ("was deleted in Mold (outside mwin, or by Mold when an "
                                      "earlier apply's job failed): create it again")


def test_adopt_by_address_tag_when_state_lost_it(tmp_path: Path) -> None:
    other = iso("i9", tag="iso.someone-else")
    plan, _ = make_plan(spec_from(tmp_path, SPEC), State(owner=OWNER), live(other, iso("i1")))
    assert ops(plan) == [("iso.win2022", "adopt")]
    assert plan.actions[0].mold_id == "i1"
    assert plan.actions[0].reason == ("found in Mold by its tags ('iso.win2022', owner "
                                      f"{OWNER}): adopt")
    assert plan.summary.adopt == 1 and plan.summary.add == 0


def test_adopt_then_update_when_the_tagged_object_differs(tmp_path: Path) -> None:
    plan, _ = make_plan(spec_from(tmp_path, SPEC), State(owner=OWNER),
                        live(iso("i1", display_text="old text")))
    assert ops(plan) == [("iso.win2022", "adopt"), ("iso.win2022", "update")]
    assert plan.actions[1].depends_on == [0]
    assert plan.actions[1].mold_id == "i1"


def test_adopt_by_unique_untagged_name(tmp_path: Path) -> None:
    plan, _ = make_plan(spec_from(tmp_path, SPEC), State(owner=OWNER),
                        live(iso("i1", tag=None), iso("i2", name="other", tag=None)))
    assert ops(plan) == [("iso.win2022", "adopt")]
    assert plan.actions[0].mold_id == "i1"
    assert plan.actions[0].reason.startswith("an untagged object with this exact name exists")


def test_same_name_tagged_for_another_address_is_not_adopted(tmp_path: Path) -> None:
    plan, _ = make_plan(spec_from(tmp_path, SPEC), State(owner=OWNER), live(iso("i1", tag="iso.other")))
    assert ops(plan) == [("iso.win2022", "create")]


def test_ambiguous_names_are_a_plan_error_at_the_entry(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, SPEC)
    with pytest.raises(PlanError) as caught:
        make_plan(doc, State(owner=OWNER), live(iso("i1", tag=None), iso("i2", tag=None)))
    assert str(caught.value.diagnostics) == (
        f"{tmp_path}/spec.yaml:4:3: error: iso.win2022: 2 objects in Mold have this exact name "
        "and no mwin tag: i1, i2\n"
        "    delete the duplicates or import one with `mwin import ADDRESS ID`")


def test_two_objects_with_the_same_tag_are_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        make_plan(spec_from(tmp_path, SPEC), State(owner=OWNER), live(iso("i1"), iso("i2")))
    assert "2 objects in Mold carry this address and this state's owner: i1, i2" in \
        str(caught.value)


def test_non_bootable_iso_os_type_none_is_not_a_perpetual_diff(tmp_path: Path) -> None:
    spec = """\
defaults: {zone: Zone1}
isos:
  virtio:
    url: https://example.com/virtio.iso
    bootable: false
    os_type: Windows PV
"""
    held = iso("i1", name="virtio", tag="iso.virtio", url="https://example.com/virtio.iso",
               display_text="virtio", bootable=False, os_type="None")
    plan, _ = make_plan(spec_from(tmp_path, spec), state(**{"iso.virtio": ("i1", {})}), live(held))
    assert plan.actions == []
    created, _ = make_plan(spec_from(tmp_path, spec), State(owner=OWNER), live())
    assert created.actions[0].after["os_type"] == "None"  # type: ignore[index]
    assert "ostypeid" not in created.actions[0].inputs


def test_crash_mid_replace_does_not_register_a_third_iso(tmp_path: Path) -> None:
    doc = spec_from(tmp_path, SPEC.replace("win.iso", "win-2.iso"))
    old = iso("i1")
    new = iso("i2", url="https://example.com/win-2.iso")
    plan, _ = make_plan(doc, state(**{"iso.win2022": ("i1", {})}), live(old, new))
    assert not [a for a in plan.actions if a.operation in (Operation.CREATE, Operation.REPLACE)]


def test_unknown_zone_and_os_type_are_plan_errors_listing_what_exists(tmp_path: Path) -> None:
    spec = SPEC.replace("defaults: {zone: Zone1}", "defaults: {zone: Zone9}").replace(
        "Windows PV", "Windows XP")
    with pytest.raises(PlanError) as caught:
        make_plan(spec_from(tmp_path, spec), State(owner=OWNER), live())
    assert str(caught.value.diagnostics).splitlines() == [
        # the zone comes from `defaults`, whose position SpecDoc does not keep: the entry's
        f"{tmp_path}/spec.yaml:4:3: error: iso.win2022: zone 'Zone9' does not exist in Mold "
        "(did you mean 'Zone1'?)",
        "    zones Mold has: 'Zone1'",
        f"{tmp_path}/spec.yaml:6:14: error: iso.win2022: OS type 'Windows XP' does not exist in Mold "
        "(did you mean 'Windows PV'?)",
        "    OS types Mold has: 'None', 'Windows PV', 'Windows Server 2022 (64-bit)'",
    ]


def test_bootable_iso_without_os_type_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("    os_type: Windows PV\n", ""), encoding="utf-8")
    doc, diags = load_spec(path)
    assert doc is None
    assert str(diags) == (
        f"{tmp_path}/spec.yaml:4:3: error: iso.win2022: a bootable ISO needs `os_type` "
        "(e.g. \"Windows PV\")")


def test_json_summary_counts_every_kind_of_action(tmp_path: Path) -> None:
    spec = SPEC + """\
  virtio:
    url: https://example.com/virtio.iso
    bootable: false
  fresh:
    url: https://example.com/fresh.iso
    bootable: false
"""
    doc = spec_from(tmp_path, spec.replace("win.iso", "win-2.iso"))
    current = state(**{"iso.win2022": ("i1", {}), "iso.virtio": ("i2", {}),
                       "iso.old": ("i3", {}), "iso.lost": ("i4", {})})
    held = live(iso("i1"), iso("i2", name="virtio", tag="iso.virtio",
                               url="https://example.com/virtio.iso", display_text="old",
                               bootable=False, os_type="None"),
                iso("i3", name="old", tag="iso.old"))
    plan, _ = make_plan(doc, current, held)
    document = plan_dict(plan)
    assert document["summary"] == {"add": 2, "change": 1, "destroy": 2, "replace": 1,
                                   "adopt": 0, "forget": 1, "refresh": 0}
    assert sorted((a["address"], a["operation"], a["destructive"]) for a in document["actions"]) == [
        ("iso.fresh", "create", False), ("iso.lost", "forget", False),
        ("iso.old", "delete", True), ("iso.virtio", "update", False),
        ("iso.win2022", "delete", True), ("iso.win2022", "replace", True)]
    for index, action in enumerate(document["actions"]):
        assert action["index"] == index and all(d < index for d in action["depends_on"])


def test_an_iso_made_non_bootable_is_one_update_and_keeps_its_os_type(tmp_path: Path) -> None:
    """updateIso never resets the OS type (TemplateManagerImpl.updateTemplateOrIso), and
    setting "None" would give the VMs deployed from the ISO that OS type: it is left as Mold
    has it, so the plan converges."""
    spec = SPEC.replace("    os_type: Windows PV\n", "    os_type: Windows PV\n    bootable: false\n")
    doc = spec_from(tmp_path, spec)
    plan, _ = make_plan(doc, state(**{"iso.win2022": ("i1", {})}), live(iso("i1")))
    [update] = plan.actions
    assert (update.operation, update.changed) == (Operation.UPDATE, ["bootable"])
    assert update.after is not None and update.after["os_type"] == "Windows PV"
    after, _ = make_plan(doc, state(**{"iso.win2022": ("i1", dict(update.after))}),
                         live(iso("i1", bootable=False)))
    assert after.actions == []


@pytest.mark.parametrize(("url", "problem"), [
    ("http://a:abc/x.iso", "is not a valid URL (Port could not be cast to integer value as "
                           "'abc')"),
    ("http:///x.iso", "has no host"),
    ("http://127.0.0.1/x.iso", "names a loopback, link-local or multicast host"),
    ("https://localhost/x.iso", "names a loopback, link-local or multicast host"),
    ("https://[fe80::1]/x.iso", "names a loopback, link-local or multicast host"),
    ("https://example.com/x", "does not end in .iso"),
])
def test_iso_url_rules_of_mold(tmp_path: Path, url: str, problem: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("https://example.com/win.iso", url), encoding="utf-8")
    doc, diags = load_spec(path)
    assert doc is None
    [error] = diags.errors
    assert error.render().startswith(f"{path}:5:10: error: iso.win2022: `url`: {url!r} {problem}")


@pytest.mark.parametrize("url", ["https://example.com/a.iso", "HTTP://EXAMPLE.COM/A.ISO",
                                 "https://10.0.0.5:8443/isos/win.iso.gz?token=1",
                                 "https://example.com/virtio.metalink"])
def test_iso_urls_mold_takes(tmp_path: Path, url: str) -> None:
    doc = spec_from(tmp_path, SPEC.replace("https://example.com/win.iso", url))
    assert doc is not None

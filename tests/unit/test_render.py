"""Rendering plans and progress: symbols, reasons, summary, colour policy, column widths."""

from __future__ import annotations

import io
import unicodedata

import pytest

from reconciler.plan import Action, Operation, Plan
from reconciler.render.colour import Style, display_width, pad, use_colour
from reconciler.render.json import plan_dict
from reconciler.render.text import ProgressView, render_plan, summary_line

ESC = "\033["


def replace_and_update_plan() -> Plan:
    return Plan(actions=[
        Action(address="iso.win2022", operation=Operation.REPLACE, destructive=True,
               reason="url changed: forces replacement (Mold cannot change an ISO's URL)",
               before={"url": "https://a/1.iso", "display_text": "old"},
               after={"url": "https://a/2.iso", "display_text": "새 이미지"},
               changed=["url", "display_text"], requires_replace=["url"], mold_id="i1"),
        Action(address="iso.virtio", operation=Operation.UPDATE,
               reason="public changed: update in place", before={"public": False},
               after={"public": True}, changed=["public"], depends_on=[0], mold_id="i2"),
        Action(address="iso.new", operation=Operation.CREATE, reason="declared in the spec, not in Mold",
               after={"name": "new", "checksum": None, "bootable": False}),
        Action(address="iso.old", operation=Operation.DELETE, destructive=True,
               reason="no longer in the spec", before={"name": "old"}, mold_id="i3"),
    ], warnings=["spec.yaml:3:5: warning: iso.virtio: careful"])


def test_summary_line_counts_like_terraform() -> None:
    plan = replace_and_update_plan()
    assert summary_line(plan) == "Plan: 2 to add, 1 to change, 2 to destroy."
    adopt = Plan(actions=[Action(address="iso.a", operation=Operation.ADOPT, reason="r"),
                          Action(address="iso.b", operation=Operation.FORGET, reason="r")])
    assert summary_line(adopt) == "Plan: 0 to add, 0 to change, 0 to destroy, 1 to adopt, 1 to forget."


def test_text_plan_without_colour() -> None:
    text = render_plan(replace_and_update_plan(), Style(False))
    assert ESC not in text
    assert text.splitlines() == [
        "spec.yaml:3:5: warning: iso.virtio: careful",
        "",
        "! 2 destructive action(s): iso.old, iso.win2022",
        "",
        "mwin will perform the following actions, in this order:",
        "",
        "  # iso.win2022 must be replaced",
        "    (url changed: forces replacement (Mold cannot change an ISO's URL))",
        '-/+ iso "win2022"  [#1]',
        '      ~ url          = "https://a/1.iso" → "https://a/2.iso"  # forces replacement',
        '      ~ display_text = "old" → "새 이미지"',
        "",
        "  # iso.virtio will be updated in place",
        "    (public changed: update in place)",
        '  ~ iso "virtio"  [#2]  after #1',
        "      ~ public = false → true",
        "",
        "  # iso.new will be created",
        "    (declared in the spec, not in Mold)",
        '  + iso "new"  [#3]',
        '      + name     = "new"',
        "      + bootable = false",
        "",
        "  # iso.old will be destroyed",
        "    (no longer in the spec)",
        '  - iso "old"  [#4]',
        '      - name = "old"',
        "",
        "Plan: 2 to add, 1 to change, 2 to destroy.",
    ]


def test_empty_plan_says_no_changes() -> None:
    assert render_plan(Plan(), Style(False)) == "No changes. Mold matches the spec."


def test_colour_marks_symbols_and_never_emits_empty_escapes() -> None:
    text = render_plan(replace_and_update_plan(), Style(True))
    assert f"{ESC}31m-/+{ESC}0m" in text
    assert f"{ESC}31m  # forces replacement{ESC}0m" in text
    assert f"{ESC}1mPlan: 2 to add, 1 to change, 2 to destroy.{ESC}0m" in text
    assert f"{ESC}2m{ESC}0m" not in text  # no styled empty strings


def test_terminal_control_characters_from_mold_are_escaped() -> None:
    plan = Plan(actions=[Action(address="iso.a", operation=Operation.UPDATE, reason="r",
                                before={"display_text": "x\033[2Jy"}, after={"display_text": "z"},
                                changed=["display_text"])])
    text = render_plan(plan, Style(False))
    assert "\033" not in text and '"x\\u001b[2Jy" → "z"' in text


class FakeStream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(("env", "tty", "flag", "expected"), [
    ({}, True, None, True),
    ({}, False, None, False),  # piped: no colour
    ({"NO_COLOR": "1"}, True, None, False),
    ({"NO_COLOR": ""}, True, None, True),  # NO_COLOR only counts when non-empty
    ({"TERM": "dumb"}, True, None, False),
    ({"NO_COLOR": "1"}, False, True, True),  # --color wins
    ({}, True, False, False),  # --no-color wins
])
def test_colour_policy(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], tty: bool,
                       flag: bool | None, expected: bool) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert use_colour(FakeStream(tty), flag) is expected


def test_east_asian_width_padding() -> None:
    assert display_width("win2022") == 7
    assert display_width("윈도우 서버") == 11
    assert display_width(unicodedata.normalize("NFD", "한글")) == 4  # decomposed jamo
    assert display_width("é") == 1 and display_width("e\u0301") == 1
    assert pad("윈도우", 8) == "윈도우  "
    assert pad("too long", 3) == "too long"
    rows = [pad(name, 10) + "|" for name in ("win2022", "윈도우", "템플릿-11")]
    assert {display_width(r) for r in rows} == {11}


def test_hangul_attribute_names_line_up() -> None:
    plan = Plan(actions=[Action(address="iso.a", operation=Operation.CREATE, reason="r",
                                after={"이름": "a", "name": "b"})])
    lines = [line for line in render_plan(plan, Style(False)).splitlines() if " = " in line]
    assert [display_width(line.split("=")[0]) for line in lines] == [13, 13]


def test_json_plan_marks_replacements_as_create_and_delete() -> None:
    document = plan_dict(replace_and_update_plan())
    assert document["summary"] == {"add": 2, "change": 1, "destroy": 2, "replace": 1, "adopt": 0,
                                   "forget": 0, "refresh": 0}
    assert [(a["operation"], a["actions"], a["destructive"], a["depends_on"])
            for a in document["actions"]] == [
        ("replace", ["create", "delete"], True, []),
        ("update", ["update"], False, [0]),
        ("create", ["create"], False, []),
        ("delete", ["delete"], True, []),
    ]
    assert document["no_op"] is False


def test_progress_view_lines() -> None:
    stream = io.StringIO()
    view = ProgressView(stream, Style(False))
    action = Action(address="iso.win2022", operation=Operation.CREATE, reason="r")
    view.action_started(0, action)
    view.action_progress(0, action, "42% Downloaded")
    view.action_finished(0, action, 3.25)
    view.action_failed(1, action, RuntimeError("deleteIso job j failed (530): boom"))
    view.action_skipped(2, action, [0, 1])
    assert stream.getvalue().splitlines() == [
        "iso.win2022 (create): started",
        "iso.win2022 (create): 42% Downloaded [0s elapsed]",
        "iso.win2022 (create): done after 3.2s",
        "iso.win2022 (create): FAILED: deleteIso job j failed (530): boom",
        "iso.win2022 (create): skipped because #1, #2 did not succeed",
    ]


def test_drift_is_marked_in_text_and_markdown() -> None:
    from reconciler.render.markdown import render_markdown

    plan = Plan(actions=[Action(address="vm.master", operation=Operation.STOP, drift=True,
                                reason="declared stopped", before={"state": "running"},
                                after={"state": "stopped"}, changed=["state"], mold_id="v1")])
    note = "(drift: the value was changed in Mold outside mwin; this puts it back)"
    text = render_plan(plan, Style(False)).splitlines()
    assert text[text.index("    (declared stopped)") + 1] == f"    {note}"
    markdown = render_markdown(plan)
    assert f"| declared stopped {note} |" in markdown
    assert f"@@ #1 stop @@ {note}" in markdown


def test_nested_values_are_shown_element_by_element() -> None:
    from reconciler.render.markdown import render_markdown

    plan = Plan(actions=[Action(
        address="vm.master", operation=Operation.ADD_NIC, reason="add a NIC in network 'lab'",
        before={"networks": ["prep", "old"]}, after={"networks": ["prep", "lab"]},
        changed=["networks"], mold_id="v1")])
    text = render_plan(plan, Style(False)).splitlines()
    at = text.index("      ~ networks:")
    assert text[at + 1:at + 3] == ['          - "old"', '          + "lab"']
    assert '- networks: "old"' in render_markdown(plan) and '+ networks: "lab"' in \
        render_markdown(plan)
    assert plan_dict(plan)["actions"][0]["element_changes"] == {"networks": [
        {"change": "-", "element": '"old"'}, {"change": "+", "element": '"lab"'}]}


def test_the_cd_drives_and_a_moved_default_network_are_shown_element_by_element() -> None:
    from reconciler.render.changes import element_changes, is_nested

    assert is_nested("a1", ["a1", "a3"]) and is_nested(["a1", "a2"], "a1")
    assert is_nested(None, ["a1"]) and not is_nested("a1", "a2") and not is_nested(None, "a1")
    assert element_changes("a1", ["a1", "a3"]) == [("+", '"a3"')]
    assert element_changes(["a1", "a2"], "a1") == [("-", '"a2"')]
    assert element_changes(["n", "n2"], ["n2", "n"]) == [("~", 'order ["n", "n2"] → ["n2", "n"]')]
    plan = Plan(actions=[Action(address="vm.m1", kind="vm", operation=Operation.ATTACH_ISO,
                                reason="insert", before={"cdrom": "a1"},
                                after={"cdrom": ["a1", "a3"]}, changed=["cdrom"])])
    text = render_plan(plan, Style(False))
    assert '+ "a3"' in text and '["a1", "a3"]' not in text

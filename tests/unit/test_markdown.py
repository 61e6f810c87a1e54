"""`mwin plan --markdown` (a pull-request comment): destructive actions flagged first, the
summary line, a table of actions whose columns line up with Hangul counted double-width, and
one collapsed <details> block per resource."""

from __future__ import annotations

from reconciler.plan import Action, Operation, Plan
from reconciler.render.colour import display_width
from reconciler.render.markdown import render_markdown


def review_plan() -> Plan:
    """A VM replaced (boot type), its Korean-named template made again, a network renamed."""
    return Plan(actions=[
        Action(address="network.준비-네트워크", operation=Operation.UPDATE,
               reason="display_text changed: update in place",
               before={"display_text": "Prep"}, after={"display_text": "준비 네트워크"},
               changed=["display_text"]),
        Action(address="vm.master", operation=Operation.REPLACE, destructive=True,
               reason="boot.type BIOS → UEFI forces replacement",
               before={"boot.type": "BIOS", "state": "stopped"},
               after={"boot.type": "UEFI", "state": "stopped"},
               changed=["boot.type"], requires_replace=["boot.type"], depends_on=[0]),
        Action(address="vm.master", operation=Operation.START, reason="state: stopped → running",
               before={"state": "stopped"}, after={"state": "running"}, changed=["state"],
               depends_on=[1]),
        Action(address="template.골든", operation=Operation.CREATE_TEMPLATE,
               reason="윈도우 템플릿 | from vm.master", after={"name": "윈도우 서버 2022 템플릿"},
               depends_on=[1]),
    ], warnings=["spec.yaml:9:5: warning: vm.master: no snapshot kept"])


def table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def test_markdown_flags_destruction_first_then_summary_and_table() -> None:
    text = render_markdown(review_plan())
    lines = text.splitlines()
    assert lines[0] == "### mwin plan"
    caution = lines.index("> [!CAUTION]")
    assert lines[caution + 1] == "> 1 destructive action(s): `vm.master` (replace)"
    summary = lines.index("**Plan: 2 to add, 1 to change, 1 to destroy.**")
    first_row = next(i for i, line in enumerate(lines) if line.startswith("|"))
    assert caution < summary < first_row
    rows = table_rows(text)
    assert rows[0] == ["#", "address", "operation", "reason"]
    assert set("".join(rows[1])) == {"-", "|"}  # the delimiter row
    assert rows[2:] == [
        ["1", "`network.준비-네트워크`", "update", "display_text changed: update in place"],
        ["2", "`vm.master`", "replace ⚠", "boot.type BIOS → UEFI forces replacement"],
        ["3", "`vm.master`", "start", "state: stopped → running"],
        ["4", "`template.골든`", "create_template", "윈도우 템플릿 \\| from vm.master"],
    ]


def test_markdown_table_columns_line_up_in_display_width() -> None:
    table = [line for line in render_markdown(review_plan()).splitlines() if line.startswith("|")]
    assert len({display_width(line) for line in table}) == 1, table
    bars = [[display_width(line[:i]) for i, ch in enumerate(line) if ch == "|"
             and line[i - 1:i] != "\\"] for line in table]
    assert all(b == bars[0] for b in bars), bars


def test_markdown_details_are_collapsed_per_resource() -> None:
    text = render_markdown(review_plan())
    summaries = [line for line in text.splitlines() if line.startswith("<details><summary><code>")]
    assert summaries == [
        "<details><summary><code>network.준비-네트워크</code>: #1 update</summary>",
        "<details><summary><code>vm.master</code>: #2 replace, #3 start</summary>",
        "<details><summary><code>template.골든</code>: #4 create_template</summary>",
    ]
    assert text.count("</details>") == 4  # and the graph's
    vm_block = text.split("<code>vm.master</code>")[1].split("</details>")[0]
    assert vm_block.splitlines()[2:-1] == [
        "```diff",
        "@@ #2 replace @@",
        '- boot.type = "BIOS"',
        '+ boot.type = "UEFI"  # forces replacement',
        "@@ #3 start @@",
        '- state = "stopped"',
        '+ state = "running"',
        "```",
    ]


def test_markdown_warning_is_its_own_block_after_the_html() -> None:
    lines = render_markdown(review_plan()).splitlines()
    at = lines.index("> [!WARNING]")
    assert lines[at - 1] == "" and lines[at + 1] == (
        "> spec.yaml:9:5: warning: vm.master: no snapshot kept")


def test_markdown_of_an_empty_plan() -> None:
    assert render_markdown(Plan()) == "### mwin plan\n\n**No changes.** Mold matches the spec.\n"


def test_markdown_of_an_empty_plan_keeps_its_warnings() -> None:
    plan = Plan(warnings=["spec.yaml:3:5: warning: iso.win11: featured refused"])
    assert render_markdown(plan) == (
        "### mwin plan\n\n**No changes.** Mold matches the spec.\n\n"
        "> [!WARNING]\n> spec.yaml:3:5: warning: iso.win11: featured refused\n")


def test_markdown_parses_as_a_table_details_and_a_warning_quote() -> None:
    """Parsed the way a forge renders it (markdown-it-py, CommonMark + GFM tables)."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(render_markdown(review_plan()))
    cells: list[list[str]] = []
    for i, token in enumerate(tokens):
        if token.type == "tr_open":
            cells.append([])
        elif token.type == "inline" and tokens[i - 1].type in ("th_open", "td_open"):
            cells[-1].append(token.content)
    assert cells == [
        ["#", "address", "operation", "reason"],
        ["1", "`network.준비-네트워크`", "update", "display_text changed: update in place"],
        ["2", "`vm.master`", "replace ⚠", "boot.type BIOS → UEFI forces replacement"],
        ["3", "`vm.master`", "start", "state: stopped → running"],
        ["4", "`template.골든`", "create_template", "윈도우 템플릿 | from vm.master"],
    ]
    html = [t.content for t in tokens if t.type == "html_block"]
    assert sum(h.count("<details>") for h in html) == 4  # one per resource, one graph
    assert not any("[!WARNING]" in h for h in html)  # the warning is Markdown, not raw HTML
    quotes = [tokens[i + 2].content for i, t in enumerate(tokens) if t.type == "blockquote_open"]
    assert quotes[-1].startswith("[!WARNING]")
    fences = [t for t in tokens if t.type == "fence"]
    assert [f.info for f in fences] == ["mermaid"] + ["diff"] * 3

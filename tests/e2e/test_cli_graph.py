"""`mwin graph`: the plan's action graph as DOT and Mermaid, equal to the plan's depends_on;
Graphviz renders the DOT to SVG; a saved plan is drawn offline; the Markdown plan carries
the Mermaid graph in a collapsed block."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.cli import Mwin

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs" / "windows-server-2022" / "01-deploy.yaml"
DOT_EDGE = re.compile(r"^  a(\d+) -> a(\d+);$", re.MULTILINE)
DOT_NODE = re.compile(r'^  a(\d+) \[label="#(\d+) ([^\\"]+)\\n(\w+)", fillcolor="(#\w+)"',
                      re.MULTILINE)
MERMAID_EDGE = re.compile(r"^  a(\d+) --> a(\d+)$", re.MULTILINE)
MERMAID_NODE = re.compile(r'^  a(\d+)\["#(\d+) ([^<"]+)<br/>(\w+)"\]$', re.MULTILINE)


def depends_on(plan: dict[str, object]) -> set[tuple[int, int]]:
    actions = plan["actions"]
    assert isinstance(actions, list)
    return {(before, index) for index, action in enumerate(actions)
            for before in action["depends_on"]}


def nodes(plan: dict[str, object]) -> list[tuple[int, str, str]]:
    actions = plan["actions"]
    assert isinstance(actions, list)
    return [(index, a["address"], a["operation"]) for index, a in enumerate(actions)]


def test_the_graph_is_the_plans_depends_on_in_dot_and_mermaid(mwin: Mwin) -> None:
    plan = mwin.plan_json(SPEC)
    wanted = depends_on(plan)
    assert len(wanted) >= 2  # the VM waits for its ISO and its network
    dot = mwin("graph", str(SPEC), "--state", str(mwin.state))
    assert dot.code == 0, dot.err
    assert dot.out.startswith("digraph mwin_plan {\n") and dot.out.endswith("}\n")
    assert {(int(a), int(b)) for a, b in DOT_EDGE.findall(dot.out)} == wanted
    assert len(DOT_EDGE.findall(dot.out)) == len(wanted)
    drawn = [(int(i), address, op) for i, n, address, op, _fill in DOT_NODE.findall(dot.out)]
    assert drawn == nodes(plan)
    assert {fill for *_rest, fill in DOT_NODE.findall(dot.out)} == {"#d8f3dc"}  # all adds

    mermaid = mwin("graph", str(SPEC), "--format", "mermaid", "--state", str(mwin.state))
    assert mermaid.code == 0, mermaid.err
    lines = mermaid.out.splitlines()
    assert lines[0] == "flowchart LR"
    assert {(int(a), int(b)) for a, b in MERMAID_EDGE.findall(mermaid.out)} == wanted
    assert [(int(i), address, op) for i, _n, address, op in
            MERMAID_NODE.findall(mermaid.out)] == nodes(plan)
    assert lines[-2:] == ["  classDef add fill:#d8f3dc,stroke:#2d6a4f,color:#000",
                          f"  class {','.join(f'a{i}' for i, *_ in nodes(plan))} add"]


def test_graphviz_renders_the_dot_to_svg(mwin: Mwin) -> None:
    dot_program = shutil.which("dot")
    if dot_program is None:
        pytest.skip("Graphviz is not installed here (Debian: apt-get install graphviz)")
    drawn = mwin("graph", str(SPEC), "--state", str(mwin.state))
    assert drawn.code == 0, drawn.err
    svg = subprocess.run([dot_program, "-Tsvg"], input=drawn.out, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    plan = mwin.plan_json(SPEC)
    assert svg.count('class="node"') == len(nodes(plan))
    assert svg.count('class="edge"') == len(depends_on(plan))
    texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    assert sorted(texts) == sorted(t for i, address, op in nodes(plan)
                                   for t in (f"#{i + 1} {address}", op))


def test_a_saved_plan_is_drawn_offline_and_the_same(mwin: Mwin, tmp_path: Path) -> None:
    saved = tmp_path / "mwin.plan"
    planned = mwin("plan", str(SPEC), "--out", str(saved))
    assert planned.code == 0, planned.err
    live = mwin("graph", str(SPEC), "--state", str(mwin.state))
    offline = Mwin("http://127.0.0.1:9/client/api", tmp_path)  # nothing listens there
    drawn = offline("graph", str(saved))
    assert (drawn.code, drawn.out) == (0, live.out)


def test_an_unknown_format_is_a_usage_error(mwin: Mwin) -> None:
    shown = mwin("graph", str(SPEC), "--format", "png")
    assert shown.code == 2 and "Invalid value for '--format'" in shown.err


def test_the_markdown_plan_embeds_the_mermaid_graph_collapsed(mwin: Mwin) -> None:
    markdown = mwin("plan", str(SPEC), "--markdown")
    mermaid = mwin("graph", str(SPEC), "--format", "mermaid", "--state", str(mwin.state))
    assert markdown.code == 0 and mermaid.code == 0
    block = ("<details><summary>Graph of the actions (what waits for what)</summary>\n\n"
             f"```mermaid\n{mermaid.out}```\n\n</details>\n")
    assert block in markdown.out

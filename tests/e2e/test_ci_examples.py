"""The CI examples in examples/ci/: linted, and their mwin command lines run against moldsim.

The command lines are read from the YAML (GitHub `run:` steps, GitLab `before_script` /
`script` / `after_script`, with `extends:` resolved), not copied here, so the test follows
edits to the examples: every `mwin …` found at a command position is run in order per job,
with the workflow's own variables (e.g. MWIN_SPEC) substituted and stdout/stderr redirections
honoured, against one state file that stands for the state backend shared between jobs.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.checks import isos_in_mold
from tests.helpers.cli import Mwin
from tests.helpers.mold_api import MoldApi

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "examples" / "ci"
GITHUB = CI / "github-actions.yml"
GITLAB = CI / "gitlab-ci.yml"

SPEC = """\
version: 1
defaults: {zone: Zone1}
isos:
  win2022:
    url: https://example.com/SERVER_EVAL_x64FRE_en-us.iso
    os_type: Windows PV
    display_text: Windows Server 2022
  virtio-win:
    url: https://example.com/virtio-win.iso
    bootable: false
    display_text: VirtIO drivers
"""


# --- reading the examples ---------------------------------------------------------------------

@dataclass
class Command:
    args: list[str]                       # after `mwin`, variables not yet substituted
    stdout: str | None = None             # file that `>`, `>>` or `| tee` sends stdout to
    stderr: str | None = None             # file of `2>`
    line: str = ""


@dataclass
class Job:
    name: str
    scripts: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def commands(self) -> list[Command]:
        return [cmd for script in self.scripts for cmd in mwin_commands(script)]


_STARTS = {";", "&&", "||", "|", "(", "!", "{", "if", "then", "else", "elif", "do", "while",
           "until"}
_PUNCT = set("();<>|&")


def mwin_commands(script: str) -> list[Command]:
    """Every `mwin …` invocation at a command position of a shell script, in order."""
    found: list[Command] = []
    for line in script.replace("\\\n", " ").splitlines():
        if not re.search(r"\bmwin\b", line):
            continue
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            tokens = list(lexer)
        except ValueError:
            if re.search(r"(^|[;&|(!]\s*)mwin\s", line.strip()):
                raise
            continue
        at_start = True
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if at_start and token == "mwin":
                cmd, i = _take(tokens, i + 1)
                cmd.line = line.strip()
                found.append(cmd)
                at_start = False
                continue
            at_start = token in _STARTS or set(token) <= _PUNCT or (
                at_start and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", token) is not None)
            i += 1
    return found


def _take(tokens: list[str], i: int) -> tuple[Command, int]:
    cmd = Command(args=[])
    while i < len(tokens) and not set(tokens[i]) <= _PUNCT:
        cmd.args.append(tokens[i])
        i += 1
    while i < len(tokens) and tokens[i] in (">", ">>") and i + 1 < len(tokens):
        if cmd.args and cmd.args[-1] == "2":
            cmd.args.pop()
            cmd.stderr = tokens[i + 1]
        else:
            cmd.stdout = tokens[i + 1]
        i += 2
        while i < len(tokens) and tokens[i] == "2":       # `> out 2> err`
            if i + 2 < len(tokens) and tokens[i + 1] == ">":
                cmd.stderr = tokens[i + 2]
                i += 3
            else:
                break
    if i + 2 < len(tokens) and tokens[i] == "|" and tokens[i + 1] == "tee":
        cmd.stdout = tokens[i + 2]
    return cmd, i


def github_jobs(path: Path) -> dict[str, Job]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    jobs = {}
    for name, body in doc["jobs"].items():
        job = Job(name, env={**_strings(doc.get("env")), **_strings(body.get("env"))})
        job.scripts = [step["run"] for step in body.get("steps", []) if "run" in step]
        jobs[name] = job
    return jobs


def gitlab_jobs(path: Path) -> dict[str, Job]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    jobs = {}
    for name, body in doc.items():
        if name.startswith(".") or not isinstance(body, dict) or "script" not in body:
            continue
        merged = _gitlab_resolve(doc, name)
        job = Job(name, env={**_strings(doc.get("variables")), **_strings(merged.get("variables"))})
        for key in ("before_script", "script", "after_script"):
            lines = merged.get(key) or []
            job.scripts.append("\n".join(lines if isinstance(lines, list) else [lines]))
        jobs[name] = job
    return jobs


def _gitlab_resolve(doc: dict[str, Any], name: str) -> dict[str, Any]:
    body = doc[name]
    parents = body.get("extends", [])
    merged: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged.update(_gitlab_resolve(doc, parent))
    merged.update({k: v for k, v in body.items() if k != "extends"})
    return merged


def _strings(mapping: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (mapping or {}).items()}


# --- running them -----------------------------------------------------------------------------

_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def run_job(job: Job, mwin: Mwin, *, changes: bool) -> list[tuple[Command, int]]:
    """Run the job's mwin command lines in order; `plan --detailed-exitcode` must exit 2 when
    `changes` else 0, every other command 0 (what the examples' scripts treat as success)."""
    results = []
    for cmd in job.commands:
        args = [_substitute(arg, job.env) for arg in cmd.args]
        run = mwin(*args, process=True)  # as the CI job runs it: `mwin`, a process of its own
        detailed = args[:1] == ["plan"] and "--detailed-exitcode" in args
        expected = (2 if changes else 0) if detailed else 0
        assert run.code == expected, (f"{job.name}: `{cmd.line}` exited {run.code}, "
                                      f"expected {expected}\n{run.err}")
        if cmd.stdout:
            (mwin.workdir / cmd.stdout).write_text(run.out, encoding="utf-8")
        if cmd.stderr:
            (mwin.workdir / cmd.stderr).write_text(run.err, encoding="utf-8")
        results.append((cmd, run.code))
    return results


def _substitute(arg: str, env: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in env, f"${name} in an mwin command line is not set by the workflow"
        return env[name]
    return _VAR.sub(value, arg)



def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("{")]


EXAMPLES = {
    "github": (GITHUB, github_jobs, {"pr": "plan", "apply": "apply", "drift": "drift"}),
    "gitlab": (GITLAB, gitlab_jobs, {"pr": "mwin-plan", "apply": "mwin-apply",
                                     "drift": "mwin-drift"}),
}


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_command_lines_against_moldsim(example: str, mwin: Mwin, mold: MoldApi,
                                               tmp_path: Path) -> None:
    path, read, roles = EXAMPLES[example]
    jobs = read(path)
    pr, apply, drift = (jobs[roles[r]] for r in ("pr", "apply", "drift"))

    # The jobs do what the README says, whatever else is edited around them.
    pr_plans = [c.args for c in pr.commands if c.args[0] == "plan"]
    assert any({"--detailed-exitcode", "--markdown"} <= set(a) and ("--out" in a or "-o" in a)
               for a in pr_plans), pr_plans
    assert [c.args[0] for c in apply.commands].count("apply") == 1
    assert any("--detailed-exitcode" in c.args for c in drift.commands if c.args[0] == "plan")
    assert not [c for c in pr.commands + drift.commands if c.args[0] in ("apply", "destroy")]

    spec_dir = pr.env["MWIN_SPEC"]
    assert spec_dir == apply.env["MWIN_SPEC"] == drift.env["MWIN_SPEC"]
    (tmp_path / spec_dir).mkdir(parents=True, exist_ok=True)
    (tmp_path / spec_dir / "isos.yaml").write_text(SPEC, encoding="utf-8")

    # Pull request: a plan with changes (exit 2, not a failure), Markdown for the comment.
    run_job(pr, mwin, changes=True)
    markdown = next(tmp_path / c.stdout for c in pr.commands if "--markdown" in c.args
                    and c.stdout)
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in markdown.read_text(encoding="utf-8")
    assert isos_in_mold(mold) == {}

    # Merge: a fresh plan, applied exactly.
    run_job(apply, mwin, changes=True)
    held = isos_in_mold(mold)
    assert sorted(held) == ["virtio-win", "win2022"]
    log = next(tmp_path / c.stdout for c in apply.commands if c.args[0] == "apply" and c.stdout)
    assert events(log)[-1]["type"] == "apply_complete" and events(log)[-1]["ok"] is True

    # Nightly drift check: in sync.
    run_job(drift, mwin, changes=False)
    report = next(tmp_path / c.stdout for c in drift.commands if "--json" in c.args and c.stdout)
    assert json.loads(report.read_text(encoding="utf-8"))["no_op"] is True

    # Someone edits the ISO in Mold behind mwin's back: the drift job sees it (exit 2).
    mold.call("updateIso", id=held["win2022"]["id"], displaytext="edited in the Mold UI")
    run_job(drift, mwin, changes=True)
    plan = json.loads(report.read_text(encoding="utf-8"))
    assert [(a["address"], a["operation"], a["changed"]) for a in plan["actions"]] == [
        ("iso.win2022", "update", ["display_text"])]


def test_apply_json_stdout_is_only_json_lines(mwin: Mwin, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    run = mwin("apply", "--json", "--auto-approve", str(spec))
    assert run.code == 0, run.err
    for line in run.out.splitlines():
        json.loads(line)


def test_drift_report_flags_out_of_band_change(mwin: Mwin, mold: MoldApi, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    assert mwin("apply", "--auto-approve", str(spec)).code == 0
    mold.call("updateIso", id=isos_in_mold(mold)["win2022"]["id"], displaytext="edited")
    plan = mwin.plan_json(spec)
    assert [(a["address"], a["drift"]) for a in plan["actions"]] == [("iso.win2022", True)]


# --- the examples' shape ----------------------------------------------------------------------

def test_github_workflow_shape() -> None:
    doc = yaml.safe_load(GITHUB.read_text(encoding="utf-8"))
    triggers = doc[True] if True in doc else doc["on"]       # YAML 1.1 reads `on:` as true
    assert {"pull_request", "push", "schedule"} <= set(triggers)
    assert triggers["push"]["branches"] == ["main"]
    jobs = doc["jobs"]
    assert jobs["apply"]["concurrency"]["cancel-in-progress"] is False
    assert "github.event_name == 'schedule'" in jobs["drift"]["if"]
    for job in jobs.values():
        for var in ("MOLD_URL", "MOLD_API_KEY", "MOLD_SECRET_KEY", "MWIN_BACKEND"):
            assert job["env"][var] == f"${{{{ secrets.{var} }}}}"
    text = GITHUB.read_text(encoding="utf-8")
    assert "MOLD_SECRET_KEY=" not in text and "--secret-key" not in text


def test_gitlab_pipeline_shape() -> None:
    doc = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    assert doc["mwin-apply"]["resource_group"]
    assert doc["mwin-apply"]["interruptible"] is False
    assert any("$CI_DEFAULT_BRANCH" in r["if"] for r in doc["mwin-apply"]["rules"])
    assert any('"schedule"' in r["if"] for r in doc["mwin-drift"]["rules"])
    assert any('"merge_request_event"' in r["if"] for r in doc["mwin-plan"]["rules"])


def test_command_extraction_survives_shell_forms() -> None:
    script = ('code=0\nmwin plan --detailed-exitcode --markdown --out p "$MWIN_SPEC" > p.md '
              '2> p.err || code=$?\nif [ "$code" -eq 1 ]; then mwin show p; fi\n'
              'echo "not (mwin plan) here"\nNO_COLOR=1 mwin apply --json \\\n  p | tee ev.jsonl\n')
    cmds = mwin_commands(script)
    assert [(c.args, c.stdout, c.stderr) for c in cmds] == [
        (["plan", "--detailed-exitcode", "--markdown", "--out", "p", "$MWIN_SPEC"], "p.md",
         "p.err"),
        (["show", "p"], None, None),
        (["apply", "--json", "p"], "ev.jsonl", None),
    ]


# --- linters ----------------------------------------------------------------------------------

def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[test]'"
    return found


def test_github_workflow_passes_actionlint() -> None:
    proc = subprocess.run([_tool("actionlint"), "-no-color", str(GITHUB)], capture_output=True,
                          text=True, timeout=60, cwd=CI)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_examples_pass_yamllint() -> None:
    proc = subprocess.run([sys.executable, "-m", "yamllint", "--strict", "-c",
                           str(CI / ".yamllint"), str(GITHUB), str(GITLAB)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr

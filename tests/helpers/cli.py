"""Run the real `mwin` CLI as a subprocess against a moldsim URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers.mold_api import API_KEY, SECRET_KEY


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Mwin:
    """`mwin` bound to one moldsim URL, working directory and state file."""

    def __init__(self, url: str, workdir: Path, state: Path | None = None) -> None:
        self.url = url
        self.workdir = workdir
        self.state = state or workdir / "state" / "mwin.state.json"
        self.env = {**os.environ, "MOLD_URL": url, "MOLD_API_KEY": API_KEY,
                    "MOLD_SECRET_KEY": SECRET_KEY, "NO_COLOR": "1"}

    def __call__(self, *args: str, timeout: float = 60, stdin: str | None = None) -> Run:
        argv = [sys.executable, "-m", "reconciler", *args]
        if args and args[0] in ("plan", "apply", "destroy", "import", "state"):
            argv += ["--state", str(self.state)]
        if args and args[0] in ("apply", "destroy"):  # fast waits, unless the test sets them
            for flag, value in (("--poll-interval", "20ms"), ("--recheck-delay", "10ms")):
                if flag not in args:
                    argv += [flag, value]
        proc = subprocess.run(argv, cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=timeout, input=stdin)
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def owner(self) -> str:
        """The owner recorded in this Mwin's state file (written by its first apply)."""
        return str(json.loads(self.state.read_text(encoding="utf-8"))["owner"])

    def plan_json(self, spec: str | Path, *extra: str) -> dict[str, Any]:
        run = self("plan", str(spec), "--json", *extra)
        assert run.code == 0, run.err
        return dict(run.json())

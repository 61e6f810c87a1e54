"""`make demo`, the README's first command, runs its main job to the end: the unattended
Windows 11 example from an empty moldsim to a template, and a last plan with no changes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_goes_from_an_empty_mold_to_a_template(tmp_path: Path) -> None:
    env = {**os.environ, "DEMO_JOB_SECONDS": "0.05", "DEMO_INSTALL_SECONDS": "0.5",
           "DEMO_DETECT_SECONDS": "0.1", "DEMO_WORK": str(tmp_path / "demo")}
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], env=env,
                         capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Apply complete! 8 action(s) done." in run.stdout
    assert run.stdout.rstrip().splitlines()[-1].startswith("moldsim stopped.")
    assert "No changes. Mold matches the spec." in run.stdout
    assert "template.win11-base" in run.stdout.split("mwin now manages:")[1]
    assert "Demo-only-P@ssw0rd" not in run.stdout + run.stderr

"""`make demo`: the main job on the built-in Mold emulator.

Starts moldsim on a free loopback port, runs `mwin validate`, `mwin plan` and
`mwin apply --auto-approve` on an example spec, re-plans to show that Mold now
matches, lists what mwin recorded, and stops moldsim. Set DEMO_SPEC to try
another spec and DEMO_JOB_SECONDS to make Mold's jobs slower or faster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = os.environ.get("DEMO_SPEC", "specs/quickstart.yaml")
JOB_SECONDS = os.environ.get("DEMO_JOB_SECONDS", "1")
BIN = Path(sys.executable).parent


def start_moldsim(data_dir: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(BIN / "moldsim"), "serve", "--port", "0", "--job-seconds", JOB_SECONDS,
         "--data", data_dir],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if "listening on " not in line:
        proc.terminate()
        raise SystemExit(f"moldsim did not start: {line!r}")
    return proc, line.split("listening on ", 1)[1]


def mwin(*args: str, env: dict[str, str], check: bool = True) -> int:
    print(f"\n$ mwin {' '.join(args)}", flush=True)
    code = subprocess.call([str(BIN / "mwin"), *args], env=env, cwd=ROOT)
    if check and code not in (0, 2):
        raise SystemExit(f"mwin {args[0]} failed with exit code {code}")
    return code


def main() -> None:
    work = ROOT / ".mwin-demo"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    state = str(work / "mwin.state.json")
    with tempfile.TemporaryDirectory() as data:
        proc, url = start_moldsim(data)
        print(f"moldsim (Mold emulator) is serving {url}")
        env = {**os.environ, "MOLD_URL": url, "MOLD_API_KEY": "moldsim-admin-key",
               "MOLD_SECRET_KEY": "moldsim-admin-secret"}
        try:
            mwin("validate", SPEC, env=env)
            mwin("plan", SPEC, "--state", state, "--detailed-exitcode", env=env)
            mwin("apply", SPEC, "--state", state, "--auto-approve", "--poll-interval", "200ms", env=env)
            mwin("plan", SPEC, "--state", state, "--detailed-exitcode", env=env)
            recorded = json.loads(Path(state).read_text())["resources"]
            print("\nmwin now manages:")
            for address, record in sorted(recorded.items()):
                print(f"  {address:32} {record['id']}")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print("\nmoldsim stopped. State of this demo: .mwin-demo/mwin.state.json")


if __name__ == "__main__":
    main()

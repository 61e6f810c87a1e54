"""`make demo`: the main job on the built-in Mold emulator.

Starts moldsim on a free loopback port and walks the guide's Windows 11 path: stage 01
(register the ISOs, create the network, deploy the UEFI/SECURE/TPM 2.0 VM), then — after
the "guest" ran sysprep and powered itself off (moldsim's control endpoint plays that part)
— stage 06 (empty the drive, stop, snapshot, make the template). Each stage is
`mwin plan` then `mwin apply --auto-approve`; a last plan shows Mold matches the spec.
DEMO_EXAMPLE=windows-server-2022 runs the other example; DEMO_JOB_SECONDS sets how long
Mold's jobs and downloads take.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = os.environ.get("DEMO_EXAMPLE", "windows-11")
FIRST = f"specs/{EXAMPLE}/01-deploy.yaml"
LAST = f"specs/{EXAMPLE}/06-template.yaml"
JOB_SECONDS = os.environ.get("DEMO_JOB_SECONDS", "1")
BIN = Path(sys.executable).parent


def start_moldsim(data_dir: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(BIN / "moldsim"), "serve", "--port", "0", "--job-seconds", JOB_SECONDS,
         "--data", data_dir, "--guest-poweroff-detect-seconds", "3"],
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


def _recorded(state: str) -> dict[str, dict[str, str]]:
    resources: dict[str, dict[str, str]] = json.loads(Path(state).read_text())["resources"]
    return resources


def _guest_poweroff(url: str, vm_id: str) -> None:
    control = url.replace("/client/api", "/moldsim/guest-poweroff")
    request = urllib.request.Request(control, data=json.dumps({"id": vm_id}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


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
            mwin("validate", LAST, env=env)
            mwin("plan", FIRST, "--state", state, "--detailed-exitcode", env=env)
            mwin("apply", FIRST, "--state", state, "--auto-approve", "--poll-interval", "200ms",
                 env=env)
            vm = next(r["id"] for a, r in _recorded(state).items() if a.startswith("vm."))
            print(f"\n(in the guest: install Windows, the VirtIO drivers and guest tools, then "
                  f"`sysprep /generalize /oobe /shutdown` — moldsim powers VM {vm} off for us)")
            _guest_poweroff(url, vm)
            mwin("plan", LAST, "--state", state, env=env)
            mwin("apply", LAST, "--state", state, "--auto-approve", "--poll-interval", "200ms",
                 "--wait-for-guest-shutdown", "1m", env=env)
            mwin("plan", LAST, "--state", state, "--detailed-exitcode", env=env)
            print("\nmwin now manages:")
            for address, record in sorted(_recorded(state).items()):
                print(f"  {address:32} {record['id']}")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print("\nmoldsim stopped. State of this demo: .mwin-demo/mwin.state.json")


if __name__ == "__main__":
    main()

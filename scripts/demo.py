"""`make demo`: the main job on the built-in Mold emulator.

Starts moldsim on a free loopback port and runs the unattended Windows 11 example
(specs/windows-11-unattended): one `mwin plan` and one `mwin apply --auto-approve` from an empty
Mold to a generalized template. mwin builds the unattended media, uploads them, deploys the
UEFI + Secure Boot + TPM 2.0 VM, presses the key at the installer's prompt through the console,
waits while moldsim's guest model plays Windows Setup from the uploaded media (it checks the
answer file, the drivers for the disk bus, the boot order, the Windows 11 requirements) until
the guest powers itself off, then snapshots, makes the template and deletes the media. No
Windows ISO is needed: small synthetic stand-ins with the real layout (the ones the tests use)
take the place of the Windows and VirtIO ISOs. A last plan shows Mold matches the spec.

DEMO_EXAMPLE picks another example: windows-server-2022-unattended (BIOS), or the guide's
staged paths windows-11 / windows-server-2022 (stage 01, then stage 06 after moldsim's control
endpoint plays the guest's power-off). DEMO_JOB_SECONDS sets how long Mold's jobs and
downloads take, DEMO_INSTALL_SECONDS how long Setup runs, DEMO_DETECT_SECONDS how long Mold
takes to notice the guest's power-off.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = os.environ.get("DEMO_EXAMPLE", "windows-11-unattended")
JOB_SECONDS = os.environ.get("DEMO_JOB_SECONDS", "1")
INSTALL_SECONDS = os.environ.get("DEMO_INSTALL_SECONDS", "8")
DETECT_SECONDS = os.environ.get("DEMO_DETECT_SECONDS", "3")  # Mold noticing a guest power-off
BIN = Path(sys.executable).parent
WORK = Path(os.environ.get("DEMO_WORK", ROOT / ".mwin-demo")).resolve()  # wiped at start
DEMO_PASSWORD = "Demo-only-P@ssw0rd"  # for the synthetic media; never in any output


def start_moldsim(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(BIN / "moldsim"), "serve", "--port", "0", "--job-seconds", JOB_SECONDS,
         "--data", str(data_dir), "--guest-poweroff-detect-seconds", DETECT_SECONDS,
         "--install-seconds", INSTALL_SECONDS],
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


def recorded(state: Path) -> dict[str, dict[str, str]]:
    resources: dict[str, dict[str, str]] = json.loads(state.read_text())["resources"]
    return resources


def unattended(env: dict[str, str], state: Path) -> None:
    """The example copied beside synthetic Windows and VirtIO ISOs, then plan and apply."""
    sys.path.insert(0, str(ROOT))
    from tests.unit.media import synthetic  # the tests' stand-ins, made with pycdlib

    spec = WORK / EXAMPLE
    shutil.copytree(ROOT / "specs" / EXAMPLE, spec)
    if "windows-11" in EXAMPLE:
        synthetic.windows_iso(spec / "Win11_24H2_Korean_x64.iso",
                              synthetic.write_wim(WORK / "install.wim"))
    else:
        synthetic.windows_iso(spec / "SERVER_EVAL_x64FRE_en-us.iso",
                              synthetic.write_wim(WORK / "install.wim", synthetic.SERVER_IMAGES),
                              label="SSS_X64FREE_EN")
    synthetic.virtio_iso(spec / "virtio-win.iso")
    print(f"Synthetic stand-ins for the Windows and VirtIO ISOs are in {shown(spec)}")
    target = shown(spec)
    env = {**env, "MWIN_ADMIN_PASSWORD": DEMO_PASSWORD, "MWIN_CACHE_DIR": str(WORK / "cache")}
    mwin("validate", target, env=env)
    mwin("plan", target, "--state", str(state), "--detailed-exitcode", env=env)
    mwin("apply", target, "--state", str(state), "--auto-approve", "--poll-interval", "200ms",
         env=env)
    mwin("plan", target, "--state", str(state), "--detailed-exitcode", env=env)


def staged(env: dict[str, str], state: Path, url: str) -> None:
    """The guide step by step: stage 01, the guest's power-off played by moldsim, stage 06."""
    first, last = f"specs/{EXAMPLE}/01-deploy.yaml", f"specs/{EXAMPLE}/06-template.yaml"
    mwin("validate", last, env=env)
    mwin("plan", first, "--state", str(state), "--detailed-exitcode", env=env)
    mwin("apply", first, "--state", str(state), "--auto-approve", "--poll-interval", "200ms",
         env=env)
    vm = next(r["id"] for a, r in recorded(state).items() if a.startswith("vm."))
    print(f"\n(in the guest: install Windows, the VirtIO drivers and guest tools, then "
          f"`sysprep /generalize /oobe /shutdown` — moldsim powers VM {vm} off for us)")
    control = url.replace("/client/api", "/moldsim/guest-poweroff")
    request = urllib.request.Request(control, data=json.dumps({"id": vm}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
    mwin("plan", last, "--state", str(state), env=env)
    mwin("apply", last, "--state", str(state), "--auto-approve", "--poll-interval", "200ms",
         "--wait-for-guest-shutdown", "1m", env=env)
    mwin("plan", last, "--state", str(state), "--detailed-exitcode", env=env)


def main() -> None:
    if not (ROOT / "specs" / EXAMPLE).is_dir():
        raise SystemExit(f"DEMO_EXAMPLE={EXAMPLE}: no such example in specs/")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    state = WORK / "mwin.state.json"
    proc, url = start_moldsim(WORK / "moldsim-data")
    print(f"moldsim (Mold emulator) is serving {url}")
    env = {**os.environ, "MOLD_URL": url, "MOLD_API_KEY": "moldsim-admin-key",
           "MOLD_SECRET_KEY": "moldsim-admin-secret"}
    try:
        if EXAMPLE.endswith("-unattended"):
            unattended(env, state)
        else:
            staged(env, state, url)
        print("\nmwin now manages:")
        for address, record in sorted(recorded(state).items()):
            print(f"  {address:32} {record['id']}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"\nmoldsim stopped. State of this demo: {shown(state)}")


def shown(path: Path) -> str:
    """``path`` relative to the repository where it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


if __name__ == "__main__":
    main()

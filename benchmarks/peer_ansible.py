"""mwin beside its closest peer, Ansible's ngine_io.cloudstack collection, on the same work:
N ISOs registered, then the same run again with nothing to change. Requests per command
(counted by moldsim) and wall time, for both tools, N = 40 and N = 400 by default.

Ansible is not a dependency of mwin or of its tests: `--install` puts `ansible==12.3.0`
(Python 3.11; it bundles ngine_io.cloudstack) and the `cs` library its modules use into a
virtualenv of its own under the cache directory (default ~/.cache/mwin-benchmarks, or
$XDG_CACHE_HOME/mwin-benchmarks; --cache DIR). Without it the script uses that virtualenv if
it is there and stops otherwise. Ansible's client signs requests with HMAC-SHA1, so moldsim
runs with `--signature sha1` for both tools (mwin with MOLD_SIGNATURE=sha1).

    .venv/bin/python benchmarks/peer_ansible.py --install           # once
    .venv/bin/python benchmarks/peer_ansible.py [--sizes 40 400] [--job-seconds 0.5]
Targets (issue 17): mwin's creation <= 0.75 x Ansible's requests for N = 40 and 400; the
no-change run >= 15 x fewer; both faster in wall time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import KEYS, Moldsim, machine, mwin

ANSIBLE = "ansible==12.3.0"
CREATE_RATIO, NOCHANGE_FACTOR = 0.75, 15.0


def cache_dir(given: str | None) -> Path:
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mwin-benchmarks"


def venv_of(cache: Path) -> Path:
    return cache / ANSIBLE.replace("==", "-")


def install(cache: Path) -> Path:
    """A virtualenv with Ansible and cs, made with this Python (3.11) if it is not there."""
    venv = venv_of(cache)
    if not (venv / "bin" / "ansible-playbook").exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", ANSIBLE, "cs>=3.2"],
                       check=True)
    return venv


def spec_text(n: int) -> str:
    lines = ["version: 1", "defaults: {zone: Zone1}", "isos:"]
    lines += [f"  win-{i}: {{url: https://images.example/win-{i}.iso, os_type: Windows PV}}"
              for i in range(n)]
    return "\n".join(lines) + "\n"


def playbook_text(n: int) -> str:
    """The same ISOs with ngine_io.cloudstack.cs_iso, one task looping over them."""
    return f"""\
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - name: register the ISOs
      ngine_io.cloudstack.cs_iso:
        name: "win-{{{{ item }}}}"
        url: "https://images.example/win-{{{{ item }}}}.iso"
        os_type: Windows PV
        zone: Zone1
        bootable: true
      loop: "{{{{ range({n}) | list }}}}"
"""


def run_ansible(venv: Path, url: str, work: Path) -> tuple[int, float, str]:
    env = {**os.environ, "CLOUDSTACK_ENDPOINT": url, "CLOUDSTACK_KEY": KEYS["MOLD_API_KEY"],
           "CLOUDSTACK_SECRET": KEYS["MOLD_SECRET_KEY"], "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
           "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}"}
    started = time.perf_counter()
    done = subprocess.run([str(venv / "bin" / "ansible-playbook"), "-i", "localhost,",
                           "isos.yml"], cwd=work, env=env, capture_output=True, text=True)
    return done.returncode, time.perf_counter() - started, done.stdout[-3000:] + done.stderr[-3000:]


def measure(n: int, venv: Path, job_seconds: float) -> dict[str, Any]:
    """Both tools, each on a fresh moldsim: creation, then the run with nothing to change."""
    return {**measure_tool("ansible", n, job_seconds, venv), **measure_tool("mwin", n, job_seconds)}


def measure_tool(tool: str, n: int, job_seconds: float, venv: Path | None = None
                 ) -> dict[str, Any]:
    """One tool on a fresh moldsim: ``<tool>_create`` and ``<tool>_nochange`` figures."""
    out: dict[str, Any] = {}
    sim = Moldsim("--signature", "sha1", "--job-seconds", str(job_seconds))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "isos.yml").write_text(playbook_text(n))
            (work / "spec.yaml").write_text(spec_text(n))
            for phase in ("create", "nochange"):
                sim.control("/moldsim/stats/reset", {})
                if tool == "ansible":
                    assert venv is not None
                    code, seconds, log = run_ansible(venv, sim.url, work)
                else:
                    run = mwin(sim.url, "apply", "spec.yaml", "--auto-approve", cwd=work,
                               env={"MOLD_SIGNATURE": "sha1"})
                    code, seconds, log = run.code, run.seconds, run.err[-3000:]
                if code != 0:
                    raise SystemExit(f"{tool} {phase} (N={n}) failed:\n{log}")
                stats = sim.control("/moldsim/stats")
                out[f"{tool}_{phase}"] = {"requests": stats["api_requests"], "seconds": seconds,
                                          "by_command": stats["by_command"]}
            if stats["objects"]["isos"] != n:
                raise SystemExit(f"{tool} left {stats['objects']['isos']} ISOs, not {n}")
    finally:
        sim.stop()
    return out


def verdict(n: int, row: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, figure, holds) for one N."""
    a_c, m_c = row["ansible_create"], row["mwin_create"]
    a_n, m_n = row["ansible_nochange"], row["mwin_nochange"]
    ratio = m_c["requests"] / a_c["requests"]
    fewer = a_n["requests"] / max(m_n["requests"], 1)
    return [
        (f"N={n} creation requests <= {CREATE_RATIO} x Ansible's",
         f"{m_c['requests']} vs {a_c['requests']} (x{ratio:.2f})", ratio <= CREATE_RATIO),
        (f"N={n} no-change requests >= {NOCHANGE_FACTOR:.0f} x fewer than Ansible's",
         f"{m_n['requests']} vs {a_n['requests']} ({fewer:.1f}x fewer)", fewer >= NOCHANGE_FACTOR),
        (f"N={n} creation faster than Ansible", f"{m_c['seconds']:.1f} s vs "
         f"{a_c['seconds']:.1f} s", m_c["seconds"] < a_c["seconds"]),
        (f"N={n} no-change faster than Ansible", f"{m_n['seconds']:.1f} s vs "
         f"{a_n['seconds']:.1f} s", m_n["seconds"] < a_n["seconds"])]


def report(n: int, row: dict[str, Any]) -> None:
    for key in ("ansible_create", "mwin_create", "ansible_nochange", "mwin_nochange"):
        tool, phase = key.split("_")
        figures = row[key]
        commands = ", ".join(f"{c} {k}" for c, k in sorted(figures["by_command"].items()))
        print(f"N={n} {tool:7} {phase:8} requests={figures['requests']} "
              f"wall={figures['seconds']:.1f}s ({commands})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--install", action="store_true",
                        help=f"install {ANSIBLE} into its own virtualenv first")
    parser.add_argument("--cache", help="where that virtualenv lives")
    parser.add_argument("--sizes", type=int, nargs="+", default=[40, 400])
    parser.add_argument("--job-seconds", type=float, default=0.5,
                        help="moldsim's job and download time (default 0.5)")
    args = parser.parse_args()
    cache = cache_dir(args.cache)
    venv = install(cache) if args.install else venv_of(cache)
    if not (venv / "bin" / "ansible-playbook").exists():
        raise SystemExit(f"no Ansible in {venv}: run with --install first")
    print(f"machine: {machine()}")
    print(f"peer: {ANSIBLE} (ngine_io.cloudstack cs_iso) from {venv}")
    for n in args.sizes:
        row = measure(n, venv, args.job_seconds)
        report(n, row)
        for target, figure, holds in verdict(n, row):
            print(f"target: {target}: {figure}: {'holds' if holds else 'DOES NOT HOLD'}")


if __name__ == "__main__":
    main()

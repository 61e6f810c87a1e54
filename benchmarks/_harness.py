"""Shared pieces of the benchmark scripts: a moldsim subprocess, the mwin CLI with
resource usage, and spec generation. Plain Python; run from the repository root with the
project's virtualenv (`.venv/bin/python benchmarks/<script>.py`)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
KEYS = {"MOLD_API_KEY": "moldsim-admin-key", "MOLD_SECRET_KEY": "moldsim-admin-secret"}


class Moldsim:
    """`moldsim serve` on a free loopback port, with its control endpoints."""

    def __init__(self, *flags: str) -> None:
        self.proc = subprocess.Popen([str(BIN / "moldsim"), "serve", "--port", "0", *flags],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.url = line.split("listening on ", 1)[1].strip()
        self.base = self.url.replace("/client/api", "")

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method="POST" if data
                                         is not None else "GET",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def admin(url: str) -> Any:
    """A MoldClient with moldsim's admin keys (for set-up calls the benchmarks make)."""
    from reconciler.mold import MoldClient
    from reconciler.settings import Settings

    return MoldClient(Settings(url=url, api_key=KEYS["MOLD_API_KEY"],
                               secret_key=KEYS["MOLD_SECRET_KEY"]))


def user_keys(url: str, name: str = "bench") -> dict[str, str]:
    """A new account of type User (Mold throttles every account but root admins), through
    Mold's createAccount and registerUserKeys; its MOLD_API_KEY/MOLD_SECRET_KEY."""
    with admin(url) as client:
        account = client.call("createAccount", {
            "username": name, "email": f"{name}@example.test", "firstname": name,
            "lastname": "Bench", "password": "not-used", "accounttype": 0})["account"]
        keys = client.call("registerUserKeys", {"id": account["user"][0]["id"]})["userkeys"]
    return {"MOLD_API_KEY": keys["apikey"], "MOLD_SECRET_KEY": keys["secretkey"]}


def machine() -> str:
    """CPUs, CPU model and memory of this machine, for the reports."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
        memory = f"{mem / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration, ValueError):
        memory = "RAM unknown"
    return f"{os.cpu_count()} CPUs ({model}), {memory}, Python {platform.python_version()}"


@dataclass
class Run:
    code: int
    seconds: float
    max_rss_mb: float
    out: str
    err: str


def mwin(url: str, *args: str, cwd: Path, keys: dict[str, str] | None = None,
         env: dict[str, str] | None = None) -> Run:
    """Run the real CLI; measure its wall time and peak RSS (wait4 on that one child).
    ``keys`` (MOLD_API_KEY/MOLD_SECRET_KEY) default to moldsim's admin."""
    env = {**os.environ, "MOLD_URL": url, **(keys or KEYS), "NO_COLOR": "1", **(env or {})}
    out_path, err_path = cwd / ".out", cwd / ".err"
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([str(BIN / "mwin"), *args], cwd=cwd, env=env, stdout=out,
                                stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(proc.returncode, seconds, usage.ru_maxrss / 1024, out_path.read_text(),
               err_path.read_text())


def spec_text(isos: int, networks: int, vms: int, templates: int) -> str:
    """A spec of independent resources: VM i installs from ISO i % isos into network
    i % networks; template j is made from VM j (those VMs are declared stopped)."""
    lines = ["version: 1", "defaults: {zone: Zone1}", "isos:"]
    lines += [f"  iso-{i}: {{url: https://images.example/win-{i}.iso, os_type: Windows PV}}"
              for i in range(isos)]
    lines.append("networks:")
    lines += [f"  net-{i}: {{display_text: network {i}}}" for i in range(networks)]
    lines.append("vms:")
    for i in range(vms):
        state = "stopped" if i < templates else "running"
        lines.append(f"  vm-{i}: {{install_iso: iso-{i % isos}, compute_offering: 2vCore-4GB, "
                     f"disk_offering: 50GB, networks: [net-{i % networks}], state: {state}}}")
    if templates:
        lines.append("templates:")
        lines += [f"  tpl-{j}: {{from_vm: vm-{j}, os_type: Windows PV}}" for j in range(templates)]
    return "\n".join(lines) + "\n"

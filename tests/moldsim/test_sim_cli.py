"""`moldsim serve` as a subprocess: the start-up line, a signed call, clean SIGTERM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from simclient import Client


def test_serve_prints_one_line_and_answers(tmp_path: Path) -> None:
    env = dict(os.environ, MOLDSIM_API_KEY="k-env", MOLDSIM_SECRET_KEY="s-env")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moldsim", "serve", "--port", "0", "--job-seconds", "0",
         "--data", str(tmp_path / "d")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().rstrip("\n")
        prefix = "moldsim listening on http://127.0.0.1:"
        assert line.startswith(prefix) and line.endswith("/client/api")
        url = line.split(" ")[-1]
        with Client(url, key="k-env", secret="s-env") as c:
            assert c.ok("listZones")["zone"][0]["name"] == "Zone1"
        with Client(url) as c:  # the default keys are replaced by the environment's
            assert c.call("listZones")[0] == 401
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out == ""
    assert (tmp_path / "d" / "moldsim.json").exists()
